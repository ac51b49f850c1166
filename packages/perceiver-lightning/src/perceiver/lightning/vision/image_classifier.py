"""Lightning wrapper of the Perceiver IO image classifier.

Batches are dicts ``{"image": (b, c, h, w) or (b, h, w, c), "label": (b,)}`` (perceiver-data's
vision data modules); channels-last images are permuted to the model's (c, h, w).
"""

from __future__ import annotations

from typing import Any

import torch

from perceiver.lightning._base import as_config
from perceiver.lightning._io import LitClassifier
from perceiver.model.core import ClassificationDecoderConfig
from perceiver.model.vision.image_classifier import ImageClassifier, ImageClassifierConfig, ImageEncoderConfig

__all__ = [
    "ClassificationDecoderConfig",
    "ImageClassifier",
    "ImageClassifierConfig",
    "ImageEncoderConfig",
    "LitImageClassifier",
    "channels_first",
]


def channels_first(shape: Any) -> tuple[int, int, int]:
    """(h, w, c) -> (c, h, w) for channels-last image shapes (c in 1, 3, 4); others unchanged."""
    shape = tuple(shape)
    if len(shape) == 3 and shape[-1] in (1, 3, 4) and shape[0] not in (1, 3, 4):
        return (shape[2], shape[0], shape[1])
    return shape


class LitImageClassifier(LitClassifier):
    """Args are the fields of ``ImageClassifierConfig`` plus ``params`` (initial weights).

    ``optimizer`` and ``lr_scheduler`` configure ``configure_optimizers`` (see
    :mod:`perceiver.lightning.optim`; ``lr_scheduler=None``: a constant learning rate).
    """

    task = "vision.image_classifier"
    config_class = ImageClassifierConfig
    model_class = ImageClassifier

    def __init__(
        self,
        encoder: ImageEncoderConfig,
        decoder: ClassificationDecoderConfig,
        num_latents: int = 512,
        num_latent_channels: int = 1024,
        activation_checkpointing: bool = False,
        params: str | None = None,
        optimizer: str | dict[str, Any] | None = "AdamW",
        lr_scheduler: str | dict[str, Any] | None = "ConstantWithWarmupLR",
    ) -> None:
        super().__init__()
        config = ImageClassifierConfig(
            encoder=as_config(ImageEncoderConfig, encoder, "encoder"),
            decoder=as_config(ClassificationDecoderConfig, decoder, "decoder"),
            num_latents=num_latents,
            num_latent_channels=num_latent_channels,
            activation_checkpointing=activation_checkpointing,
        )
        self.save_config_hyperparameters(
            config, params=params, optimizer=optimizer, lr_scheduler=lr_scheduler
        )
        self.backend_model = ImageClassifier(config)
        self.add_metrics(config.decoder.num_classes)
        if params is not None:
            self.load_params(params)

    def check_data(self, datamodule: Any) -> None:
        shape = getattr(datamodule, "image_shape", None)
        expected = tuple(self.hparams.encoder["image_shape"])
        if shape is not None and channels_first(shape) != expected:
            shape = tuple(shape)
            data = (
                f"{shape}"
                if channels_first(shape) == shape
                else f"{shape} (channels-first {channels_first(shape)})"
            )
            raise ValueError(
                f"the data's image_shape {data} does not fit the model's encoder.image_shape {expected} "
                "(channels, height, width)"
            )
        self.check_num_classes(datamodule)

    def labels_of(self, batch: Any) -> torch.Tensor:
        return batch["label"]

    def check_batch(self, batch: Any, where: str) -> None:
        super().check_batch(batch, where)
        images = batch["image"]
        if not images.is_floating_point():
            raise ValueError(
                f"{where}: batch['image'] is a {images.dtype} tensor; the model takes normalized float images "
                "(perceiver-data's image preprocessing), not raw pixel values"
            )

    def unpack(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, None]:
        images = batch["image"]
        expected = tuple(self.hparams.encoder["image_shape"])
        if tuple(images.shape[1:]) != expected and tuple(images.shape[1:]) == (*expected[1:], expected[0]):
            images = images.permute(0, 3, 1, 2)  # (b, h, w, c) -> (b, c, h, w)
        if images.dtype != self.dtype and images.is_floating_point():
            images = images.to(self.dtype)  # float64 arrays are common: the model's dtype
        return batch["label"], images, None
