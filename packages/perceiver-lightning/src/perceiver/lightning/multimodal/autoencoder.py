"""Lightning wrapper of the multimodal (video + audio + label) Perceiver IO autoencoder.

Batches are dicts ``{"image": (b, t, c, h, w), "audio": (b, s) or (b, s, 1), "label": (b,) class
ids or (b, k) one-hot}``. The loss is the core ``reconstruction_loss`` (video and audio MSE,
label cross-entropy); in training ``num_image_output_points`` random pixels (all when None) are
reconstructed, as in the paper's subsampled decoding.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from perceiver.lightning._base import as_config
from perceiver.lightning._batch_checks import check_class_labels
from perceiver.lightning._io import LitPerceiverIO
from perceiver.model.multimodal import (
    MultimodalAutoencoder,
    MultimodalAutoencoderConfig,
    MultimodalDecoderConfig,
    MultimodalEncoderConfig,
    reconstruction_loss,
)

__all__ = [
    "LitMultimodalAutoencoder",
    "MultimodalAutoencoderConfig",
    "MultimodalDecoderConfig",
    "MultimodalEncoderConfig",
]


LOSS_TERMS = ("image", "audio", "label")


def _check_training_args(num_image_output_points: Any, loss_weights: Any) -> None:
    n = num_image_output_points
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"num_image_output_points must be an integer >= 1 (or None: all pixels), got {n!r}")
    for name, weight in (loss_weights or {}).items():
        if name not in LOSS_TERMS:
            raise ValueError(f"loss_weights has the key {name!r}; the loss terms are {LOSS_TERMS}")
        if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"loss_weights[{name!r}] must be a finite number >= 0, got {weight!r}")


class LitMultimodalAutoencoder(LitPerceiverIO):
    """Args are the fields of ``MultimodalAutoencoderConfig``, plus:

    Args:
        num_image_output_points: random pixels decoded per training step (None: all of them),
            as in the paper's subsampled decoding.
        loss_weights: weight of each loss term (keys: the terms of the core
            ``reconstruction_loss``: "audio", "image", "label"); missing terms weigh 1.
    """

    task = "multimodal.autoencoder"
    config_class = MultimodalAutoencoderConfig
    model_class = MultimodalAutoencoder

    def __init__(
        self,
        encoder: MultimodalEncoderConfig,
        decoder: MultimodalDecoderConfig,
        num_latents: int = 784,
        num_latent_channels: int = 512,
        activation_checkpointing: bool = False,
        params: str | None = None,
        num_image_output_points: int | None = None,
        loss_weights: dict[str, float] | None = None,
        optimizer: str | dict[str, Any] | None = "AdamW",
        lr_scheduler: str | dict[str, Any] | None = "CosineWithWarmupLR",
    ) -> None:
        _check_training_args(num_image_output_points, loss_weights)
        super().__init__()
        config = MultimodalAutoencoderConfig(
            encoder=as_config(MultimodalEncoderConfig, encoder, "encoder"),
            decoder=as_config(MultimodalDecoderConfig, decoder, "decoder"),
            num_latents=num_latents,
            num_latent_channels=num_latent_channels,
            activation_checkpointing=activation_checkpointing,
        )
        self.save_config_hyperparameters(
            config,
            params=params,
            num_image_output_points=num_image_output_points,
            loss_weights=loss_weights,
            optimizer=optimizer,
            lr_scheduler=lr_scheduler,
        )
        self.backend_model = MultimodalAutoencoder(config)
        self.val_loss = MeanMetric()
        self.val_acc = MulticlassAccuracy(config.encoder.num_classes, average="micro")
        if params is not None:
            self.load_params(params)

    def check_batch(self, batch: dict[str, torch.Tensor], where: str) -> None:
        super().check_batch(batch, where)  # video, audio (and one-hot labels) are finite
        label, num_classes = batch["label"], self.hparams.encoder["num_classes"]
        if label.dim() == 1:
            check_class_labels(label, num_classes, where, name="batch['label']")
        elif label.dim() != 2 or label.shape[1] != num_classes:
            raise ValueError(
                f"{where}: batch['label'] must be class indices (b,) or one-hot (b, {num_classes}), "
                f"got shape {tuple(label.shape)}"
            )

    def _inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        label = batch["label"]
        if label.dim() == 1:
            label = F.one_hot(label.long(), self.hparams.encoder["num_classes"]).float()
        return {"image": batch["image"], "audio": batch["audio"], "label": label}

    def step(self, batch: dict[str, torch.Tensor], subsample: bool) -> tuple[dict[str, torch.Tensor], ...]:
        inputs = self._inputs(batch)
        points = None
        n = self.hparams.num_image_output_points
        if subsample and n is not None:
            num_pixels = inputs["image"].shape[1] * inputs["image"].shape[3] * inputs["image"].shape[4]
            points = {"image": torch.randperm(num_pixels, device=self.device)[:n], "audio": None}
        outputs = self.backend_model(inputs, points)
        loss = reconstruction_loss(outputs, inputs, points, self.hparams.loss_weights)
        return inputs, outputs, loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        _, _, loss = self.step(batch, subsample=True)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, outputs, loss = self.step(batch, subsample=False)
        self.val_loss.update(loss, weight=inputs["image"].shape[0])
        self.val_acc.update(outputs["label"].argmax(dim=-1), inputs["label"].argmax(dim=-1))
        return loss

    def compute_epoch_metrics(self) -> dict[str, torch.Tensor]:
        metrics = {"loss": self.val_loss.compute(), "acc": self.val_acc.compute()}
        self.val_loss.reset()
        self.val_acc.reset()
        return metrics

    def predict_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, torch.Tensor]:
        """The reconstructed ``image``, ``audio`` and ``label`` (logits) of a batch."""
        _, outputs, _ = self.step(batch, subsample=False)
        return outputs

    def check_data(self, datamodule: Any) -> None:
        num_classes = getattr(datamodule, "num_classes", None)
        if isinstance(num_classes, int) and num_classes > self.hparams.encoder["num_classes"]:
            raise ValueError(
                f"the data has {num_classes} classes, more than the model's encoder.num_classes "
                f"({self.hparams.encoder['num_classes']})"
            )
