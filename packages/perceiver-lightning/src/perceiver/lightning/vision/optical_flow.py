"""Lightning wrapper of the Perceiver IO optical flow model.

Batches are dicts ``{"patches": (b, 2, 27, H, W), "flow": (b, H, W, 2), "valid": (b, H, W)}``
(perceiver-data's ``OpticalFlowDataModule``). Frames larger than the model's ``image_shape`` are
cropped: at a random position in training, in the centre in validation. The loss and the
validation metric are the end-point error (EPE) over valid pixels.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import MeanMetric

from perceiver.lightning._io import LitPerceiverIO
from perceiver.model.vision.optical_flow import (
    OpticalFlow,
    OpticalFlowConfig,
    OpticalFlowDecoderConfig,
    OpticalFlowEncoderConfig,
    end_point_error,
)

__all__ = ["LitOpticalFlow", "OpticalFlowConfig", "OpticalFlowDecoderConfig", "OpticalFlowEncoderConfig"]


class LitOpticalFlow(LitPerceiverIO):
    """Args are the fields of ``OpticalFlowConfig`` plus ``params`` (initial weights)."""

    task = "vision.optical_flow"
    config_class = OpticalFlowConfig
    model_class = OpticalFlow

    def __init__(
        self,
        encoder: OpticalFlowEncoderConfig,
        decoder: OpticalFlowDecoderConfig,
        num_latents: int = 2048,
        num_latent_channels: int = 512,
        activation_checkpointing: bool = False,
        params: str | None = None,
    ) -> None:
        super().__init__()
        self._build(locals())
        self.val_epe = MeanMetric()

    def crop(
        self, batch: dict[str, Any], random: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        patches, flow, valid = batch["patches"], batch["flow"], batch.get("valid")
        h, w = self.hparams.encoder["image_shape"]
        height, width = patches.shape[-2:]
        if height < h or width < w:
            raise ValueError(f"frames of {height}x{width} are smaller than the model's image_shape {h}x{w}")
        if random:
            top = int(torch.randint(0, height - h + 1, ()))
            left = int(torch.randint(0, width - w + 1, ()))
        else:
            top, left = (height - h) // 2, (width - w) // 2
        patches = patches[..., top : top + h, left : left + w]
        flow = flow[:, top : top + h, left : left + w]
        valid = valid[:, top : top + h, left : left + w] if valid is not None else None
        return patches, flow, valid

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        patches, flow, valid = self.crop(batch, random=True)
        loss = end_point_error(self.backend_model(patches), flow, valid)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        patches, flow, valid = self.crop(batch, random=False)
        epe = end_point_error(self.backend_model(patches), flow, valid)
        self.val_epe.update(epe, weight=patches.shape[0])
        return epe

    def on_validation_epoch_end(self) -> None:
        epe = self.val_epe.compute()
        self.log_dict({"val_loss": epe, "val_epe": epe}, prog_bar=True, sync_dist=True)
        self.val_epe.reset()
