"""Training and validation of causal (Perceiver AR) sequence models, shared by text and MIDI.

Batches are ``(labels, input_ids, pad_mask)`` with left-padded inputs of n tokens and labels
shifted by one (perceiver-data's ``CausalCollator``); the loss is taken on the last
``min(n, max_latents)`` positions, the latents. Shapes: b batch, n tokens, l latents, v vocabulary.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pytorch_lightning.strategies import FSDPStrategy
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from perceiver.lightning._base import LitModel
from perceiver.lightning._batch_checks import check_token_ids
from perceiver.model.core.masks import effective_pad_mask

logger = logging.getLogger(__name__)

__all__ = ["LitCausalSequenceModel", "check_sample_args"]

IGNORE_INDEX = -100


class LitCausalSequenceModel(LitModel):
    """Base of the Perceiver AR wrappers: loss, perplexity, bits per token, token accuracy.

    Subclasses call :meth:`add_metrics` after building the model.

    Args:
        num_latents: older name of ``max_latents`` (overrides it when given).
        validation_sample_prompt: prompt continued at each validation (None: no sample).
        validation_sample_num_tokens: tokens generated for the sample.
        validation_sample_top_k: top-k sampling of the sample (fixed seed).
    """

    legacy_hparams = ("validation_sample_prompt",)

    def add_metrics(self, vocab_size: int) -> None:
        self.val_loss = MeanMetric()
        self.val_acc = MulticlassAccuracy(vocab_size, average="micro", ignore_index=IGNORE_INDEX)
        self.last_validation_sample: Any = None

    def data_limits(self) -> dict[str, int]:
        return {"max_seq_len": self.hparams.max_seq_len, "vocab_size": self.hparams.vocab_size}

    def check_batch(self, batch: Any, where: str) -> None:
        super().check_batch(batch, where)
        labels, input_ids, _ = batch
        check_token_ids(input_ids, self.hparams.vocab_size, where)
        check_token_ids(labels, self.hparams.vocab_size, where, name="labels", ignore_index=IGNORE_INDEX)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Logits (b, l, v), labels (b, l) and the mean loss over the labelled latent positions."""
        labels, input_ids, pad_mask = batch
        pad_mask = effective_pad_mask(pad_mask, read_device=True)
        n = input_ids.shape[1]
        num_latents = min(n, self.hparams.max_latents)
        logits = self.backend_model(input_ids, prefix_len=n - num_latents, pad_mask=pad_mask)
        labels = labels[:, -num_latents:]
        loss = F.cross_entropy(logits.permute(0, 2, 1), labels, ignore_index=IGNORE_INDEX)
        return logits, labels, loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        _, _, loss = self.step(batch)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        logits, labels, loss = self.step(batch)
        num_labels = (labels != IGNORE_INDEX).sum()
        self.val_loss.update(loss, weight=num_labels)
        self.val_acc.update(logits.argmax(dim=-1), labels)
        return loss

    def compute_epoch_metrics(self) -> dict[str, torch.Tensor]:
        loss = self.val_loss.compute()
        metrics = {
            "loss": loss,
            "ppl": torch.exp(loss),
            "bpb": loss / math.log(2),  # bits per token: bits per byte with the UTF-8 bytes tokenizer
            "acc": self.val_acc.compute(),
        }
        self.val_loss.reset()
        self.val_acc.reset()
        return metrics

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """Logits (b, l, v) of the latent positions of a batch."""
        logits, _, _ = self.step(batch)
        return logits

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        if self.hparams.validation_sample_prompt is not None and not self.trainer.sanity_checking:
            self.last_validation_sample = self.generate_validation_sample()

    # ------------------------------------------------------------------ samples

    def sample(self, prompt: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Top-k continuation of ``prompt`` (b, n) with a fixed seed: reproducible, and it leaves the
        global random state (and so the training run) untouched."""
        generator = torch.Generator(device=prompt.device).manual_seed(0)
        with _full_params(self):
            return self.backend_model.generate(
                prompt=prompt,
                pad_mask=pad_mask,
                num_tokens=self.hparams.validation_sample_num_tokens,
                num_latents=min(prompt.shape[1], self.hparams.max_latents),
                top_k=self.hparams.validation_sample_top_k,
                generator=generator,
            )

    def generate_validation_sample(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def sample_path(self, suffix: str) -> Path:
        """``<log dir>/samples/step-<global step><suffix>``: where a validation sample is written, so
        that it is visible whatever the logger (the logger's folder, else ``default_root_dir``)."""
        return log_dir(self.trainer) / "samples" / f"step-{self.global_step}{suffix}"


def log_dir(trainer: Any) -> Path:
    """The run's log folder, as ``Trainer.log_dir`` computes it but without its collective
    broadcast (samples are written on rank 0 only)."""
    loggers = trainer.loggers
    if loggers:
        first = loggers[0]
        folder = getattr(first, "log_dir", None) or getattr(first, "save_dir", None)
        if folder is not None:
            return Path(folder)
    return Path(trainer.default_root_dir)


def check_sample_args(prompt: Any, num_tokens: Any, top_k: Any) -> None:
    """Refuse bad validation sample arguments at construction, not after the first epoch."""
    for name, value in (("validation_sample_num_tokens", num_tokens), ("validation_sample_top_k", top_k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if prompt is not None and not isinstance(prompt, str):
        raise TypeError(
            f"validation_sample_prompt must be a str (or None), got {type(prompt).__name__}: {prompt!r}"
        )


class _full_params:
    """Gather FSDP-sharded parameters around generation (a no-op under other strategies)."""

    def __init__(self, module: LitModel) -> None:
        self.context: Any = None
        strategy = module.trainer.strategy if module._trainer is not None else None
        if isinstance(strategy, FSDPStrategy):  # perceiver.lightning.strategies.CPUFSDPStrategy too
            from torch.distributed.fsdp import FullyShardedDataParallel

            self.context = FullyShardedDataParallel.summon_full_params(
                strategy.model, writeback=False, recurse=True
            )

    def __enter__(self) -> None:
        if self.context is not None:
            self.context.__enter__()

    def __exit__(self, *exc: Any) -> None:
        if self.context is not None:
            self.context.__exit__(*exc)
