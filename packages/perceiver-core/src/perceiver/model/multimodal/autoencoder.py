"""Multimodal Perceiver IO autoencoder (DeepMind's multimodal-perceiver, Kinetics-700).

Inputs: a dict {"image": video (b, t, c, h, w), "audio": (b, s) or (b, s, 1) with
s = t * audio_samples_per_frame, "label": (b, k)} (k = num_classes; the official model always
masks the label, so it classifies the video at inference). Outputs: a dict {"image": (b, n_image, c)
pixels, "audio": (b, n_audio * audio_samples_per_patch) samples, "label": (b, k) logits}, where
n_image / n_audio are the decoded video pixels / audio patches: all of them, or the flat indices in
``subsampled_output_points`` (decoding a whole video at once is expensive; decode it in chunks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from perceiver.model.core import (
    DecoderConfig,
    EncoderConfig,
    OutputAdapter,
    PerceiverIOConfig,
    init_parameters,
)
from perceiver.model.core._validation import (
    ArgumentTypeError,
    check_batch,
    float_input,
    module_dtype,
)
from perceiver.model.core.builders import build_decoder, build_encoder
from perceiver.model.multimodal._adapters import MODALITIES, MultimodalInputAdapter, MultimodalQueryProvider

__all__ = [
    "MultimodalAutoencoder",
    "MultimodalAutoencoderConfig",
    "MultimodalDecoderConfig",
    "MultimodalEncoderConfig",
    "reconstruction_loss",
]


@dataclass
class MultimodalEncoderConfig(EncoderConfig):
    """Encoder of the multimodal autoencoder: video patches, audio patches and a label, each
    with its Fourier features, padded to one channel count.

    Args:
        num_frames: video frames per clip.
        image_shape: (channels, height, width) of each frame.
        image_patch_size: side of the square space patches of the frames (must divide height
            and width).
        image_num_frequency_bands: Fourier frequency bands per dimension of the video.
        audio_samples_per_frame: audio samples per video frame.
        audio_samples_per_patch: audio samples per audio patch (must divide num_frames *
            audio_samples_per_frame).
        audio_num_frequency_bands: Fourier frequency bands of the audio.
        num_classes: classes of the label input.
        min_padding_size: learned padding channels added to the largest modality's channels.
        mask_probs: probability per modality ("audio", "image", "label") that it is replaced by
            a learned mask token.
    """

    # video
    num_frames: int = 16
    image_shape: tuple[int, int, int] = (3, 224, 224)  # (channels, height, width)
    image_patch_size: int = 4
    image_num_frequency_bands: int = 32
    # audio
    audio_samples_per_frame: int = 1920
    audio_samples_per_patch: int = 16
    audio_num_frequency_bands: int = 192
    # label and modality padding / masking
    num_classes: int = 700
    min_padding_size: int = 4
    mask_probs: dict[str, float] = field(default_factory=lambda: {"audio": 0.0, "image": 0.0, "label": 1.0})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.image_shape = tuple(self.image_shape)
        if len(self.image_shape) != 3 or any(s <= 0 for s in self.image_shape):
            raise ValueError(
                f"image_shape must be three positive sizes (channels, height, width), got {self.image_shape}"
            )
        for name in (
            "num_frames",
            "image_patch_size",
            "image_num_frequency_bands",
            "audio_samples_per_frame",
            "audio_samples_per_patch",
            "audio_num_frequency_bands",
            "num_classes",
        ):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.min_padding_size < 0:
            raise ValueError(f"min_padding_size must be non-negative, got {self.min_padding_size}")
        for size in self.image_shape[1:]:
            if size % self.image_patch_size:
                raise ValueError(
                    f"image_patch_size ({self.image_patch_size}) must divide image_shape {self.image_shape}"
                )
        num_samples = self.num_frames * self.audio_samples_per_frame
        if num_samples % self.audio_samples_per_patch:
            raise ValueError(
                f"audio_samples_per_patch ({self.audio_samples_per_patch}) must divide "
                f"num_frames * audio_samples_per_frame ({num_samples})"
            )
        for modality, p in self.mask_probs.items():
            if modality not in MODALITIES or not 0.0 <= p <= 1.0:
                raise ValueError(
                    f"mask_probs must map {MODALITIES} to probabilities in [0, 1], got {self.mask_probs}"
                )


@dataclass
class MultimodalDecoderConfig(DecoderConfig):
    """Decoder of the multimodal autoencoder: queries for every video and audio patch and the
    label.

    Args:
        num_label_query_channels: channels of the learned label query.
        min_padding_size: learned padding channels added to the largest query's channels.
        num_output_channels: channels that the decoder output is projected to, before the
            per-modality output heads.
        output_chunk_size: decode at most this many queries at a time, to bound memory (None:
            all at once); results are identical either way.
    """

    cross_attention_residual: bool = False
    num_label_query_channels: int = 1024
    min_padding_size: int = 2
    num_output_channels: int = 512
    output_chunk_size: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_label_query_channels", "num_output_channels"):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.min_padding_size < 0:
            raise ValueError(f"min_padding_size must be non-negative, got {self.min_padding_size}")
        if self.output_chunk_size is not None and self.output_chunk_size <= 0:
            raise ValueError(f"output_chunk_size must be positive, got {self.output_chunk_size}")


@dataclass
class MultimodalAutoencoderConfig(PerceiverIOConfig[MultimodalEncoderConfig, MultimodalDecoderConfig]):
    cross_attention_qk_channels_default: ClassVar[str] = "keys"

    @classmethod
    def multimodal_perceiver(cls) -> MultimodalAutoencoderConfig:
        """deepmind/multimodal-perceiver (19,858,855 parameters)."""
        return cls(
            encoder=MultimodalEncoderConfig(
                num_cross_attention_heads=1,
                num_self_attention_heads=8,
                num_self_attention_layers_per_block=8,
                num_self_attention_blocks=1,
            ),
            decoder=MultimodalDecoderConfig(num_cross_attention_heads=1),
            num_latents=784,
            num_latent_channels=512,
        )


class _Projection(OutputAdapter):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class MultimodalAutoencoder(nn.Module):
    """Perceiver IO that reconstructs video, audio and label from a shared latent array."""

    def __init__(self, config: MultimodalAutoencoderConfig) -> None:
        super().__init__()
        enc, dec = config.encoder, config.decoder
        self.config = config
        input_adapter = MultimodalInputAdapter(
            num_frames=enc.num_frames,
            image_shape=enc.image_shape,
            image_patch_size=enc.image_patch_size,
            image_num_frequency_bands=enc.image_num_frequency_bands,
            audio_samples_per_frame=enc.audio_samples_per_frame,
            audio_samples_per_patch=enc.audio_samples_per_patch,
            audio_num_frequency_bands=enc.audio_num_frequency_bands,
            num_classes=enc.num_classes,
            min_padding_size=enc.min_padding_size,
            mask_probs=enc.mask_probs,
        )
        query_provider = MultimodalQueryProvider(
            num_frames=enc.num_frames,
            image_shape=enc.image_shape,
            image_num_frequency_bands=enc.image_num_frequency_bands,
            num_audio_samples=input_adapter.num_audio_samples,
            audio_samples_per_patch=enc.audio_samples_per_patch,
            audio_num_frequency_bands=enc.audio_num_frequency_bands,
            num_label_query_channels=dec.num_label_query_channels,
            min_padding_size=dec.min_padding_size,
        )
        self.encoder = build_encoder(
            enc,
            input_adapter=input_adapter,
            num_latents=config.num_latents,
            num_latent_channels=config.num_latent_channels,
            activation_checkpointing=config.activation_checkpointing,
            qk_channels_default=config.cross_attention_qk_channels_default,
        )
        self.decoder = build_decoder(
            dec,
            output_adapter=_Projection(query_provider.num_query_channels, dec.num_output_channels),
            output_query_provider=query_provider,
            num_latent_channels=config.num_latent_channels,
            activation_checkpointing=config.activation_checkpointing,
            qk_channels_default=config.cross_attention_qk_channels_default,
            output_chunk_size=dec.output_chunk_size,
        )
        self.postprocessors = nn.ModuleDict(
            {
                "audio": nn.Linear(dec.num_output_channels, enc.audio_samples_per_patch),
                "image": nn.Linear(dec.num_output_channels, enc.image_shape[0]),
                "label": nn.Linear(dec.num_output_channels, enc.num_classes),
            }
        )
        init_parameters(self, enc.init_scale)

    def _check_inputs(self, inputs: dict[str, torch.Tensor]) -> tuple[int, dict[str, torch.Tensor]]:
        """The batch size and the inputs in the model's dtype; integer video (raw uint8 frames)
        and integer audio (raw PCM samples) are refused, a one-hot integer label is cast."""
        enc = self.config.encoder
        if not isinstance(inputs, dict):
            raise ArgumentTypeError(
                f"inputs must be a dict with keys {list(MODALITIES)}, got {type(inputs).__name__}"
            )
        missing = [m for m in MODALITIES if m not in inputs]
        if missing:
            raise ValueError(f"inputs is missing modalities {missing}, expected keys {list(MODALITIES)}")
        dtype = module_dtype(self)
        label = inputs["label"]
        if isinstance(label, torch.Tensor) and not label.is_floating_point():
            label = label.to(dtype)  # a one-hot label given as integers or bools
        inputs = {
            **inputs,
            "image": float_input(
                "inputs['image']",
                inputs["image"],
                dtype,
                "normalized video frames (preprocess raw frames with the image processor)",
            ),
            "audio": float_input(
                "inputs['audio']", inputs["audio"], dtype, "audio samples in [-1, 1] (int16 samples / 32768)"
            ),
            "label": float_input("inputs['label']", label, dtype, "one-hot labels"),
        }
        check_batch("inputs['image']", inputs["image"])
        b = inputs["image"].shape[0]
        num_samples = enc.num_frames * enc.audio_samples_per_frame
        expected = {
            "image": [(b, enc.num_frames, *enc.image_shape)],
            "audio": [(b, num_samples), (b, num_samples, 1)],
            "label": [(b, enc.num_classes)],
        }
        for modality, shapes in expected.items():
            shape = tuple(inputs[modality].shape)
            if shape not in shapes:
                raise ValueError(
                    f"inputs['{modality}'] must have shape {' or '.join(map(str, shapes))}, got {shape}"
                )
        return b, inputs

    def forward(
        self,
        inputs: dict[str, torch.Tensor],
        subsampled_output_points: dict[str, torch.Tensor | None] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Reconstructions of (a subset of) the inputs, see the module docstring for shapes.

        Args:
            subsampled_output_points: flat indices (n,) into the video's (t, h, w) pixels under
                "image" and into the audio patches under "audio"; a missing or None entry means all.
        """
        b, inputs = self._check_inputs(inputs)
        provider = self.decoder.output_query_provider
        points = provider.points(subsampled_output_points)
        for modality, idx in points.items():
            limit = provider.num_points[modality]
            if idx.dim() != 1 or idx.dtype not in (torch.int64, torch.int32):
                raise ValueError(f"subsampled_output_points['{modality}'] must be a 1-d integer tensor")
            if idx.numel() == 0 or torch.compiler.is_exporting():  # an exported graph has no values to read
                continue
            if int(idx.min()) < 0 or int(idx.max()) >= limit:
                raise ValueError(f"subsampled_output_points['{modality}'] holds indices outside [0, {limit})")
        x_latent = self.encoder(inputs)  # (b, n_lat, c_lat)
        queries = provider.queries(points)  # (1, n, C_q)
        x = self.decoder.decode(x_latent, queries)  # (b, n, num_output_channels)
        audio, image, label = x.split([points["audio"].numel(), points["image"].numel(), 1], dim=1)
        return {
            "audio": self.postprocessors["audio"](audio).reshape(b, -1),  # (b, n_audio * samples_per_patch)
            "image": self.postprocessors["image"](image),  # (b, n_image, c)
            "label": self.postprocessors["label"](label)[:, 0],  # (b, k)
        }


def reconstruction_loss(
    outputs: dict[str, torch.Tensor],
    inputs: dict[str, torch.Tensor],
    subsampled_output_points: dict[str, torch.Tensor | None] | None = None,
    weights: dict[str, float] | None = None,
) -> torch.Tensor:
    """Weighted sum of video and audio MSE and label cross-entropy against the inputs.

    ``subsampled_output_points`` must be the one passed to the model; ``inputs["label"]`` holds
    one-hot (or soft) targets. Weights default to 1 per modality.
    """
    weights = {"audio": 1.0, "image": 1.0, "label": 1.0, **(weights or {})}
    points = subsampled_output_points or {}
    video = inputs["image"]
    b, _, c = video.shape[:3]
    pixels = video.permute(0, 1, 3, 4, 2).reshape(b, -1, c)  # (b, t * h * w, c)
    audio = inputs["audio"].reshape(b, -1)  # (b, s)
    image_idx, audio_idx = points.get("image"), points.get("audio")
    if image_idx is not None:
        pixels = pixels[:, image_idx]
    if audio_idx is not None:
        samples_per_patch = outputs["audio"].shape[1] // max(audio_idx.numel(), 1)
        audio = audio.reshape(b, -1, samples_per_patch)[:, audio_idx].reshape(b, -1)  # (b, n_audio * p)
    if outputs["image"].shape != pixels.shape or outputs["audio"].shape != audio.shape:
        raise ValueError("outputs do not match inputs: pass the subsampled_output_points given to the model")
    loss = weights["image"] * F.mse_loss(outputs["image"], pixels)
    loss = loss + weights["audio"] * F.mse_loss(outputs["audio"], audio)
    return loss + weights["label"] * F.cross_entropy(outputs["label"], inputs["label"])
