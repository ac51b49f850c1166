"""Perceiver IO optical flow (DeepMind's optical-flow-perceiver).

Input: 3x3 patches of a frame pair x (b, 2, 27, h, w), as transformers' PerceiverForOpticalFlow
takes them (:func:`extract_patches` makes them from two frames (b, 3, h, w)); (h, w) must equal
``OpticalFlowEncoderConfig.image_shape``. Output: flow (b, h, w, 2) in pixels (x, y order as in
the training data).

Every pixel's adapted input (patch features + Fourier features) is also its decoder query, so
the decoder has h * w queries; ``OpticalFlowDecoderConfig.output_chunk_size`` decodes them in
chunks. :meth:`OpticalFlow.forward_tiled` runs larger inputs as overlapping tiles of
``image_shape``. :func:`end_point_error` is the training loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NoReturn

import torch
import torch.nn.functional as F

from perceiver.model._moved import moved_name
from perceiver.model.core import DecoderConfig, EncoderConfig, PerceiverIO, PerceiverIOConfig, init_parameters
from perceiver.model.core._validation import (
    PIXELS,
    check_batch,
    check_bool,
    check_int,
    float_input,
    module_dtype,
)
from perceiver.model.core.builders import build_decoder, build_encoder
from perceiver.model.core.config import DerivedChannels
from perceiver.model.vision._flow_adapters import FlowInputAdapter, FlowOutputAdapter, InputQueryProvider

__all__ = [
    "OpticalFlow",
    "OpticalFlowConfig",
    "OpticalFlowDecoderConfig",
    "OpticalFlowEncoderConfig",
    "end_point_error",
    "extract_patches",
]

NUM_FRAMES = 2


@dataclass
class OpticalFlowEncoderConfig(EncoderConfig):
    """Encoder of the optical-flow model: 3x3 patches of a frame pair, projected, plus Fourier
    features (the adapted input has ``num_patch_hidden_channels + 2 * (2 *
    num_frequency_bands + 1)`` channels).

    Args:
        image_shape: (height, width) of the frames, also the Fourier features' max resolution.
        num_patch_input_channels: channels of each frame's patch (27: 3x3 pixels of 3 channels).
        num_patch_hidden_channels: channels that the two frames' patches are projected to.
        num_frequency_bands: Fourier frequency bands per spatial dimension.
    """

    # input: patches (b, 2, num_patch_input_channels, *image_shape)
    image_shape: tuple[int, int] = (368, 496)  # (height, width), also the Fourier max resolution
    num_patch_input_channels: int = 27
    num_patch_hidden_channels: int = 64
    num_frequency_bands: int = 64
    num_cross_attention_heads: int = 1  # as DeepMind's model; 8 does not divide the 322 qk channels

    def __post_init__(self) -> None:
        super().__post_init__()
        self.image_shape = tuple(self.image_shape)
        if len(self.image_shape) != 2 or any(s <= 0 for s in self.image_shape):
            raise ValueError(
                f"image_shape must be two positive sizes (height, width), got {self.image_shape}"
            )
        for name in ("num_patch_input_channels", "num_patch_hidden_channels", "num_frequency_bands"):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")


@dataclass
class OpticalFlowDecoderConfig(DecoderConfig):
    """Decoder of the optical-flow model: one query per pixel (the adapted input).

    Args:
        rescale_factor: the decoded flow is divided by it (the official models' scale).
        output_chunk_size: decode at most this many pixels at a time, to bound memory (None:
            all at once); results are identical either way.
    """

    cross_attention_residual: bool = False
    rescale_factor: float = 100.0
    output_chunk_size: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rescale_factor <= 0:
            raise ValueError(f"rescale_factor must be positive, got {self.rescale_factor}")
        if self.output_chunk_size is not None and self.output_chunk_size <= 0:
            raise ValueError(f"output_chunk_size must be positive, got {self.output_chunk_size}")


@dataclass
class OpticalFlowConfig(PerceiverIOConfig[OpticalFlowEncoderConfig, OpticalFlowDecoderConfig]):
    cross_attention_qk_channels_default: ClassVar[str] = "keys"

    def encoder_input_channels(self) -> DerivedChannels:
        enc = self.encoder
        bands = enc.num_frequency_bands
        value = enc.num_patch_hidden_channels + 2 * (2 * bands + 1)
        how = (
            f"encoder.num_patch_hidden_channels ({enc.num_patch_hidden_channels}) + "
            f"2 x (2 x encoder.num_frequency_bands ({bands}) + 1)"
        )
        return DerivedChannels(
            value, how, ("encoder.num_patch_hidden_channels", "encoder.num_frequency_bands")
        )

    def decoder_query_channels(self) -> DerivedChannels:
        return self.encoder_input_channels()  # the queries are the adapted input

    @classmethod
    def optical_flow_perceiver(cls, output_chunk_size: int | None = None) -> OpticalFlowConfig:
        """deepmind/optical-flow-perceiver (41,057,134 parameters)."""
        return cls(
            encoder=OpticalFlowEncoderConfig(
                image_shape=(368, 496),
                num_patch_input_channels=27,
                num_patch_hidden_channels=64,
                num_frequency_bands=64,
                num_cross_attention_heads=1,
                num_self_attention_heads=16,
                num_self_attention_layers_per_block=24,
                num_self_attention_blocks=1,
            ),
            decoder=OpticalFlowDecoderConfig(
                num_cross_attention_heads=1,
                cross_attention_residual=False,
                rescale_factor=100.0,
                output_chunk_size=output_chunk_size,
            ),
            num_latents=2048,
            num_latent_channels=512,
        )


class OpticalFlow(PerceiverIO):
    """Perceiver IO optical flow; ``forward(x)`` maps patches (b, 2, 27, h, w) to flow (b, h, w, 2)."""

    def __init__(self, config: OpticalFlowConfig) -> None:
        enc, dec = config.encoder, config.decoder
        input_adapter = FlowInputAdapter(
            image_shape=enc.image_shape,
            num_patch_input_channels=enc.num_patch_input_channels,
            num_patch_hidden_channels=enc.num_patch_hidden_channels,
            num_frequency_bands=enc.num_frequency_bands,
            num_frames=NUM_FRAMES,
        )
        encoder = build_encoder(
            enc,
            input_adapter=input_adapter,
            num_latents=config.num_latents,
            num_latent_channels=config.num_latent_channels,
            activation_checkpointing=config.activation_checkpointing,
            qk_channels_default=config.cross_attention_qk_channels_default,
        )
        decoder = build_decoder(
            dec,
            output_adapter=FlowOutputAdapter(input_adapter.num_input_channels, dec.rescale_factor),
            output_query_provider=InputQueryProvider(input_adapter.num_input_channels),
            num_latent_channels=config.num_latent_channels,
            activation_checkpointing=config.activation_checkpointing,
            qk_channels_default=config.cross_attention_qk_channels_default,
            output_chunk_size=dec.output_chunk_size,
        )
        super().__init__(encoder, decoder)
        self.config = config
        init_parameters(self.encoder, enc.init_scale)
        init_parameters(self.decoder, dec.init_scale)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """Shape of one input example: (2, patch channels, height, width)."""
        enc = self.config.encoder
        return (NUM_FRAMES, enc.num_patch_input_channels, *enc.image_shape)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Flow (b, h, w, 2) of frame-pair patches x (b, 2, p, h, w) (float patches of normalized
        frames, see :func:`extract_patches`)."""
        check_batch("x", x)
        x = float_input("x", x, module_dtype(self), PATCHES)
        _check_shape("x", x, self.input_shape)
        flow = super().forward(x, pad_mask)  # (b, h * w, 2)
        return flow.unflatten(1, self.config.encoder.image_shape)  # (b, h, w, 2)

    @torch.no_grad()
    def forward_tiled(
        self, x: torch.Tensor, overlap: int | tuple[int, int] = 0, weighted: bool = True
    ) -> torch.Tensor:
        """Flow (b, H, W, 2) of patches x (b, 2, p, H, W) at least as large as ``image_shape``.

        The input is split into tiles of ``image_shape`` that overlap by at least ``overlap``
        pixels (the last tile in each direction is aligned to the border), each tile is run
        through the model, and overlapping predictions are averaged, weighted by a tent that
        falls towards each tile's border (``weighted``) or uniformly.
        """
        tile_h, tile_w = self.config.encoder.image_shape
        check_bool("weighted", weighted)
        check_batch("x", x)
        x = float_input("x", x, module_dtype(self), PATCHES)
        if isinstance(overlap, tuple | list) and len(overlap) == 2:
            overlap_h, overlap_w = overlap
        else:
            overlap_h = overlap_w = overlap
        check_int("overlap[0]" if overlap_h is not overlap_w else "overlap", overlap_h)
        check_int("overlap[1]" if overlap_h is not overlap_w else "overlap", overlap_w)
        for name, value, size in (("overlap[0]", overlap_h, tile_h), ("overlap[1]", overlap_w, tile_w)):
            if not 0 <= value < size:
                raise ValueError(f"{name} must be in [0, {size}) for tiles of {tile_h}x{tile_w}, got {value}")
        if x.dim() != 5 or tuple(x.shape[1:3]) != self.input_shape[:2]:
            raise ValueError(
                f"x must have shape (batch, 2, {self.input_shape[1]}, H, W), got {tuple(x.shape)}"
            )
        b, _, _, height, width = x.shape
        if height < tile_h or width < tile_w:
            raise ValueError(
                f"x's image size {height}x{width} is smaller than the tile size {tile_h}x{tile_w}"
            )

        weight = _tile_weight(tile_h, tile_w, weighted, x.device, x.dtype)  # (tile_h, tile_w, 1)
        flow = x.new_zeros(b, height, width, 2)
        total = x.new_zeros(1, height, width, 1)
        for top in _tile_starts(height, tile_h, tile_h - overlap_h):
            for left in _tile_starts(width, tile_w, tile_w - overlap_w):
                tile = x[..., top : top + tile_h, left : left + tile_w]
                flow[:, top : top + tile_h, left : left + tile_w] += self(tile) * weight
                total[:, top : top + tile_h, left : left + tile_w] += weight
        return flow / total


def _tile_starts(size: int, tile: int, stride: int) -> list[int]:
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] != size - tile:
        starts.append(size - tile)
    return starts


def _tile_weight(height: int, width: int, weighted: bool, device, dtype) -> torch.Tensor:
    if not weighted:
        return torch.ones(height, width, 1, device=device, dtype=dtype)

    def tent(n: int) -> torch.Tensor:
        i = torch.arange(n, device=device, dtype=dtype)
        return torch.minimum(i + 1, n - i)

    return (tent(height)[:, None] * tent(width)[None, :])[..., None]  # (h, w, 1)


PATCHES = "frame-pair patches of normalized frames (see extract_patches)"


def _check_shape(name: str, x: torch.Tensor, shape: tuple[int, ...]) -> None:
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != tuple(shape):
        expected = ", ".join(str(s) for s in ("batch", *shape))
        raise ValueError(f"{name} must have shape ({expected}), got {tuple(x.shape)}")


def extract_patches(frame1: torch.Tensor, frame2: torch.Tensor, kernel_size: int = 3) -> torch.Tensor:
    """Patches of a frame pair, the input of :class:`OpticalFlow`.

    Args:
        frame1, frame2: frames (b, c, h, w) of the same shape.

    Returns:
        (b, 2, k * k * c, h, w): each pixel's zero-padded k x k neighbourhood, ordered
        (row, column, channel) like TensorFlow's ``extract_patches`` used by the official model.
    """
    for name, frame in (("frame1", frame1), ("frame2", frame2)):
        if not isinstance(frame, torch.Tensor) or not frame.is_floating_point():
            found = frame.dtype if isinstance(frame, torch.Tensor) else type(frame).__name__
            raise ValueError(f"{name} must be a floating-point tensor of {PIXELS}, got {found}")
    if frame1.dim() != 4:
        raise ValueError(
            f"frame1 must have shape (batch, channels, height, width), got {tuple(frame1.shape)}"
        )
    if frame2.shape != frame1.shape:
        raise ValueError(
            f"frame2 has shape {tuple(frame2.shape)}, expected frame1's shape {tuple(frame1.shape)}"
        )
    check_int("kernel_size", kernel_size)
    if kernel_size <= 0 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")

    frames = torch.stack([frame1, frame2], dim=1).flatten(0, 1)  # (2b, c, h, w)
    n, c, h, w = frames.shape
    pad = kernel_size // 2
    patches = F.unfold(frames, kernel_size, padding=pad)  # (2b, c * k * k, h * w), channel-major
    patches = patches.view(n, c, kernel_size * kernel_size, h, w).transpose(1, 2)  # (2b, k * k, c, h, w)
    return patches.reshape(n // 2, 2, kernel_size * kernel_size * c, h, w)


def end_point_error(
    pred: torch.Tensor, target: torch.Tensor, valid_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean Euclidean distance between predicted and target flow vectors.

    Args:
        pred, target: flow (b, h, w, 2).
        valid_mask: (b, h, w) bool, True where the target is valid; other pixels are ignored.
    """
    if pred.shape != target.shape or pred.shape[-1] != 2:
        raise ValueError(
            f"target has shape {tuple(target.shape)}, expected pred's shape {tuple(pred.shape)} (..., 2)"
        )
    epe = torch.linalg.vector_norm(pred - target, dim=-1)  # (b, h, w)
    if valid_mask is None:
        return epe.mean()
    if valid_mask.shape != epe.shape or valid_mask.dtype != torch.bool:
        raise ValueError(
            f"valid_mask must be a bool tensor of shape {tuple(epe.shape)}, got {valid_mask.dtype} {tuple(valid_mask.shape)}"
        )
    return (epe * valid_mask).sum() / valid_mask.sum().clamp(min=1)


# perceiver-io 0.11's submodules of this module (.backend, .lightning, .huggingface) are looked up
# here and answered by perceiver.model._moved with where their contents went
__path__: list[str] = []


def __getattr__(name: str) -> NoReturn:
    moved_name(__name__, name)
