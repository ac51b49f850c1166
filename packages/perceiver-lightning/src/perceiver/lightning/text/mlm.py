"""Lightning wrapper of the Perceiver IO masked language model.

Batches are ``(labels, input_ids, pad_mask)`` with labels -100 except at masked positions
(perceiver-data's masking collators, ``task=mlm``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from perceiver.lightning._base import as_config
from perceiver.lightning._batch_checks import check_token_ids
from perceiver.lightning._io import LitPerceiverIO
from perceiver.model.core.masks import effective_pad_mask
from perceiver.model.text.mlm import (
    MaskedLanguageModel,
    MaskedLanguageModelConfig,
    TextDecoderConfig,
    TextEncoderConfig,
)

__all__ = [
    "LitMaskedLanguageModel",
    "MaskedLanguageModel",
    "MaskedLanguageModelConfig",
    "TextDecoderConfig",
    "TextEncoderConfig",
]

IGNORE_INDEX = -100


class LitMaskedLanguageModel(LitPerceiverIO):
    """Args are the fields of ``MaskedLanguageModelConfig``, plus:

    Args:
        params: initial weights (a checkpoint of this task, a 🤗 directory or a Hub id).
        optimizer: the optimizer of ``configure_optimizers`` (see :mod:`perceiver.lightning.optim`).
        lr_scheduler: its learning rate schedule (None: constant).
    """

    task = "text.mlm"
    config_class = MaskedLanguageModelConfig
    model_class = MaskedLanguageModel

    def __init__(
        self,
        encoder: TextEncoderConfig,
        decoder: TextDecoderConfig,
        num_latents: int = 256,
        num_latent_channels: int = 1280,
        activation_checkpointing: bool = False,
        params: str | None = None,
        optimizer: str | dict[str, Any] | None = "AdamW",
        lr_scheduler: str | dict[str, Any] | None = "ConstantWithWarmupLR",
    ) -> None:
        super().__init__()
        config = MaskedLanguageModelConfig(
            encoder=as_config(TextEncoderConfig, encoder, "encoder"),
            decoder=as_config(TextDecoderConfig, decoder, "decoder"),
            num_latents=num_latents,
            num_latent_channels=num_latent_channels,
            activation_checkpointing=activation_checkpointing,
        )
        self.save_config_hyperparameters(
            config, params=params, optimizer=optimizer, lr_scheduler=lr_scheduler
        )
        self.backend_model = MaskedLanguageModel(config)
        self.val_loss = MeanMetric()
        self.val_acc = MulticlassAccuracy(
            config.encoder.vocab_size, average="micro", ignore_index=IGNORE_INDEX
        )
        if params is not None:
            self.load_params(params)

    def data_limits(self) -> dict[str, int]:
        enc = self.hparams.encoder
        return {"max_seq_len": enc["max_seq_len"], "vocab_size": enc["vocab_size"]}

    def check_batch(self, batch, where: str) -> None:
        super().check_batch(batch, where)
        labels, input_ids, _ = batch
        vocab_size = self.hparams.encoder["vocab_size"]
        check_token_ids(input_ids, vocab_size, where)
        check_token_ids(labels, vocab_size, where, name="labels", ignore_index=IGNORE_INDEX)

    def step(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        labels, input_ids, pad_mask = batch
        pad_mask = effective_pad_mask(pad_mask, read_device=True)
        logits = self.backend_model(input_ids, pad_mask=pad_mask)  # (b, n, v)
        loss = F.cross_entropy(logits.permute(0, 2, 1), labels, ignore_index=IGNORE_INDEX)
        return logits, labels, loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        _, _, loss = self.step(batch)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
        logits, labels, loss = self.step(batch)
        self.val_loss.update(loss, weight=(labels != IGNORE_INDEX).sum())
        self.val_acc.update(logits.argmax(dim=-1), labels)
        return loss

    def compute_epoch_metrics(self) -> dict[str, torch.Tensor]:
        loss = self.val_loss.compute()
        metrics = {
            "loss": loss,
            "ppl": torch.exp(loss),
            "bpb": loss / math.log(2),
            "acc": self.val_acc.compute(),
        }
        self.val_loss.reset()
        self.val_acc.reset()
        return metrics

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """Token logits (b, n, v) of a batch."""
        logits, _, _ = self.step(batch)
        return logits
