"""Lightning wrapper of the Perceiver IO optical flow model.

Batches are dicts ``{"patches": (b, 2, 27, H, W), "flow": (b, H, W, 2), "valid": (b, H, W)}``
(perceiver-data's ``OpticalFlowDataModule``). Frames larger than the model's ``image_shape`` are
cropped: at a random position in training, in the centre in validation. The loss and the
validation metric are the end-point error (EPE) over valid pixels: those that ``valid`` marks (all
when the batch has none) and whose ground truth is known. As in the Sintel and KITTI tools,
ground truth that is not finite or whose magnitude exceeds 1e9 (the ``.flo`` "unknown" value is
1e10) is unknown. A batch without a valid pixel has a loss of zero (no gradient), not NaN; the
validation EPE is the mean over all valid pixels of the validation set.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import MeanMetric

from perceiver.lightning._base import as_config
from perceiver.lightning._batch_checks import check_finite
from perceiver.lightning._io import LitPerceiverIO
from perceiver.model.vision.optical_flow import (
    OpticalFlow,
    OpticalFlowConfig,
    OpticalFlowDecoderConfig,
    OpticalFlowEncoderConfig,
    end_point_error,
)

__all__ = [
    "UNKNOWN_FLOW_THRESHOLD",
    "LitOpticalFlow",
    "OpticalFlowConfig",
    "OpticalFlowDecoderConfig",
    "OpticalFlowEncoderConfig",
    "known_flow",
]

# flow components above this magnitude are "unknown" (Sintel / Middlebury .flo files store 1e10)
UNKNOWN_FLOW_THRESHOLD = 1e9


def known_flow(flow: torch.Tensor, valid: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Ground truth flow (b, h, w, 2) with unknown pixels set to 0, and the mask (b, h, w) of the
    pixels to score: marked ``valid`` (when given) and finite with magnitude <= 1e9."""
    known = (torch.isfinite(flow) & (flow.abs() <= UNKNOWN_FLOW_THRESHOLD)).all(dim=-1)
    valid = known if valid is None else valid.to(torch.bool) & known
    # NaN * 0 is NaN: zero the unknown targets so that they drop out of the masked mean
    flow = torch.where(valid.unsqueeze(-1), flow, torch.zeros((), dtype=flow.dtype, device=flow.device))
    return flow, valid


class LitOpticalFlow(LitPerceiverIO):
    """Args are the fields of ``OpticalFlowConfig`` plus ``params`` (initial weights).

    ``optimizer`` and ``lr_scheduler`` configure ``configure_optimizers`` (see
    :mod:`perceiver.lightning.optim`; ``lr_scheduler=None``: a constant learning rate).
    """

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
        optimizer: str | dict[str, Any] | None = "AdamW",
        lr_scheduler: str | dict[str, Any] | None = "CosineWithWarmupLR",
    ) -> None:
        super().__init__()
        config = OpticalFlowConfig(
            encoder=as_config(OpticalFlowEncoderConfig, encoder, "encoder"),
            decoder=as_config(OpticalFlowDecoderConfig, decoder, "decoder"),
            num_latents=num_latents,
            num_latent_channels=num_latent_channels,
            activation_checkpointing=activation_checkpointing,
        )
        self.save_config_hyperparameters(
            config, params=params, optimizer=optimizer, lr_scheduler=lr_scheduler
        )
        self.backend_model = OpticalFlow(config)
        self.val_epe = MeanMetric()
        if params is not None:
            self.load_params(params)

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

    def check_batch(self, batch: dict[str, Any], where: str) -> None:
        # the ground truth may hold NaN / inf where it is unknown: only the frames must be finite
        patches, flow, valid = batch["patches"], batch["flow"], batch.get("valid")
        check_finite({"batch['patches']": patches}, where)
        b, h, w = patches.shape[0], *patches.shape[-2:]
        if patches.dim() != 5 or tuple(flow.shape) != (b, h, w, 2):
            raise ValueError(
                f"{where}: batch['patches'] must be (b, 2, 27, H, W) and batch['flow'] (b, H, W, 2), got "
                f"{tuple(patches.shape)} and {tuple(flow.shape)}"
            )
        if valid is not None and tuple(valid.shape) != (b, h, w):
            raise ValueError(f"{where}: batch['valid'] must have shape {(b, h, w)}, got {tuple(valid.shape)}")
        if valid is not None and (valid.is_floating_point() or valid.is_complex()):
            raise ValueError(
                f"{where}: batch['valid'] must be a bool (or 0/1 integer) mask, got {valid.dtype}"
            )

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        patches, flow, valid = self.crop(batch, random=True)
        flow, valid = known_flow(flow, valid)
        loss = end_point_error(self.backend_model(patches), flow, valid)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        patches, flow, valid = self.crop(batch, random=False)
        flow, valid = known_flow(flow, valid)
        epe = end_point_error(self.backend_model(patches), flow, valid)
        # weighted by valid pixels: the metric is the mean EPE over all valid pixels
        self.val_epe.update(epe, weight=valid.sum())
        return epe

    def compute_epoch_metrics(self) -> dict[str, torch.Tensor]:
        epe = self.val_epe.compute()
        self.val_epe.reset()
        return {"loss": epe, "epe": epe}

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """Flow (b, h, w, 2) of a batch's frames (their centre crop of the model's ``image_shape``)."""
        patches, _, _ = self.crop(batch, random=False)
        return self.backend_model(patches)
