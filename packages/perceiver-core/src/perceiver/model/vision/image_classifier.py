"""Perceiver IO image classifier (DeepMind's vision-perceiver-fourier / -learned / -conv).

Input: images x (b, c, h, w), channels first as in torchvision and transformers, where c must
equal the channels of ``ImageEncoderConfig.image_shape``, and (h, w) its size for the "learned"
position encoding; the "fourier" and "conv" variants take any size (as DeepMind's models do),
``image_shape`` being the size they are trained and preprocessed for. Output: logits (b, num_classes).

The encoder cross-attends from the latents (n_lat, c_lat) to the adapted image (b, m, c_in), see
:mod:`perceiver.model.vision._image_adapters` for the three official stems; a single learned
query decodes the class logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, NoReturn

import torch

from perceiver.model._moved import moved_name
from perceiver.model.core import (
    ClassificationDecoderConfig,
    ClassificationOutputAdapter,
    EncoderConfig,
    InputAdapter,
    PerceiverIO,
    PerceiverIOConfig,
    TrainableQueryProvider,
    init_parameters,
)
from perceiver.model.core._validation import PIXELS, check_batch, float_input, module_dtype
from perceiver.model.core.builders import build_decoder, build_encoder
from perceiver.model.core.config import DerivedChannels
from perceiver.model.vision._image_adapters import (
    ConvImageInputAdapter,
    FourierImageInputAdapter,
    LearnedImageInputAdapter,
)

__all__ = ["ImageClassifier", "ImageClassifierConfig", "ImageEncoderConfig"]

PositionEncodingKind = Literal["fourier", "learned", "conv"]
_KINDS = ("fourier", "learned", "conv")


_IMAGE_CHANNELS = (1, 3, 4)  # grayscale, RGB, RGBA


def looks_channels_last(shape: tuple[int, ...]) -> bool:
    """Whether a 3-d image shape reads as (height, width, channels) rather than (channels,
    height, width): it ends in an image's channel count (1, 3 or 4) and the dimensions before it
    are larger than any (a "channels-first" reading would be a 1 to 4 pixel wide image with more
    than 4 channels)."""
    return (
        len(shape) == 3
        and shape[2] in _IMAGE_CHANNELS
        and shape[0] > max(_IMAGE_CHANNELS)
        and shape[1] > max(_IMAGE_CHANNELS)
    )


def _fourier_channels(num_dims: int, bands_field: str, num_bands: int) -> tuple[int, str]:
    """Channels of a Fourier position encoding of a ``num_dims``-dimensional grid, and how."""
    return num_dims * (2 * num_bands + 1), f"{num_dims} x (2 x {bands_field} ({num_bands}) + 1)"


@dataclass
class ImageEncoderConfig(EncoderConfig):
    """Encoder of an image classifier.

    ``num_cross_attention_qk_channels`` None means the adapted input's channel count, as in the
    official models. ``position_encoding`` selects the official variant:

    - "fourier": pixels + Fourier features (``num_frequency_bands``, ``max_resolution``).
    - "learned": 1x1 conv to ``num_conv_channels`` + projected learned positions
      (``num_position_channels``).
    - "conv": conv stem to ``num_conv_channels`` (4x downsampling) + Fourier features.

    The adapted input has ``image_shape[0] + 2 * (2 * num_frequency_bands + 1)`` channels
    ("fourier"), ``num_conv_channels + num_position_channels`` ("learned") or
    ``num_conv_channels + 2 * (2 * num_frequency_bands + 1)`` ("conv").

    Args:
        image_shape: (channels, height, width) of the input images.
        position_encoding: the input adapter: "fourier", "learned" or "conv" (see above).
        num_frequency_bands: Fourier frequency bands per spatial dimension ("fourier", "conv").
        max_resolution: (height, width) that sets the highest Fourier frequency (None: the
            encoded grid's shape).
        num_conv_channels: output channels of the 1x1 conv ("learned") or of the conv stem
            ("conv").
        num_position_channels: channels of the learned position encoding ("learned").

    ``init_scale`` defaults to None here: each layer's weights scaled to its fan-in, as in
    DeepMind's Perceiver (see :func:`~perceiver.model.core.init_std`), which trains at any width;
    a fixed 0.02 leaves the cross-attention of a narrow model uniform at the start (training stalls).
    """

    # initialization: None scales each layer's weights to its fan-in
    init_scale: float | None = None

    # image
    image_shape: tuple[int, int, int] = (3, 224, 224)  # (channels, height, width)
    position_encoding: PositionEncodingKind = "fourier"
    # Fourier features ("fourier", "conv"); max_resolution None: the encoded grid's shape
    num_frequency_bands: int = 64
    max_resolution: tuple[int, int] | None = None
    # stems ("learned", "conv") and learned positions ("learned")
    num_conv_channels: int = 64
    num_position_channels: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        self.image_shape = tuple(self.image_shape)
        if len(self.image_shape) != 3 or any(int(s) <= 0 for s in self.image_shape):
            raise ValueError(
                f"image_shape must be three positive sizes (channels, height, width), got {self.image_shape}"
            )
        if looks_channels_last(self.image_shape):
            h, w, c = self.image_shape
            raise ValueError(
                f"image_shape {self.image_shape} looks channels-last (height, width, channels), the "
                f"layout of krasserm/perceiver-io 0.11 and of MNISTDataModule(channels_last=True).image_shape; "
                f"ImageEncoderConfig takes (channels, height, width): image_shape=({c}, {h}, {w})"
            )
        if self.position_encoding not in _KINDS:
            raise ValueError(f"position_encoding must be one of {_KINDS}, got {self.position_encoding!r}")
        if self.max_resolution is not None:
            self.max_resolution = tuple(self.max_resolution)
            if len(self.max_resolution) != 2 or any(r <= 0 for r in self.max_resolution):
                raise ValueError(
                    f"max_resolution must be two positive sizes (height, width), got {self.max_resolution}"
                )
        for name in ("num_frequency_bands", "num_conv_channels", "num_position_channels"):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.position_encoding == "conv" and min(self.image_shape[1:]) < 7:
            raise ValueError(f"image_shape {self.image_shape} is too small for the conv stem (7x7 at least)")


@dataclass
class ImageClassifierConfig(PerceiverIOConfig[ImageEncoderConfig, ClassificationDecoderConfig]):
    """Image classifier: image encoder + classification decoder.

    Presets with the official numbers: :meth:`vision_perceiver_fourier`,
    :meth:`vision_perceiver_learned`, :meth:`vision_perceiver_conv`.
    """

    cross_attention_qk_channels_default: ClassVar[str] = "keys"

    def encoder_input_channels(self) -> DerivedChannels:
        enc = self.encoder
        if enc.position_encoding == "learned":
            value = enc.num_conv_channels + enc.num_position_channels
            how = f"encoder.num_conv_channels ({enc.num_conv_channels}) + encoder.num_position_channels ({enc.num_position_channels})"
            return DerivedChannels(value, how, ("encoder.num_conv_channels", "encoder.num_position_channels"))
        pos, pos_how = _fourier_channels(2, "encoder.num_frequency_bands", enc.num_frequency_bands)
        if enc.position_encoding == "conv":
            base, base_field = enc.num_conv_channels, "encoder.num_conv_channels"
        else:
            base, base_field = enc.image_shape[0], "encoder.image_shape[0]"
        return DerivedChannels(
            base + pos, f"{base_field} ({base}) + {pos_how}", (base_field, "encoder.num_frequency_bands")
        )

    def decoder_query_channels(self) -> DerivedChannels:
        n = self.decoder.num_output_query_channels
        return DerivedChannels(
            n, f"decoder.num_output_query_channels ({n})", ("decoder.num_output_query_channels",)
        )

    @classmethod
    def _official(cls, encoder: ImageEncoderConfig, num_classes: int) -> ImageClassifierConfig:
        return cls(
            encoder=encoder,
            decoder=ClassificationDecoderConfig(
                num_cross_attention_heads=1,
                num_output_queries=1,
                num_output_query_channels=1024,
                num_classes=num_classes,
            ),
            num_latents=512,
            num_latent_channels=1024,
        )

    @staticmethod
    def _official_encoder(**kwargs) -> ImageEncoderConfig:
        return ImageEncoderConfig(
            num_cross_attention_heads=1,
            num_self_attention_heads=8,
            num_self_attention_layers_per_block=6,
            num_self_attention_blocks=8,
            first_self_attention_block_shared=True,
            **kwargs,
        )

    @classmethod
    def vision_perceiver_fourier(cls, num_classes: int = 1000) -> ImageClassifierConfig:
        """deepmind/vision-perceiver-fourier (48,440,627 parameters)."""
        encoder = cls._official_encoder(
            image_shape=(3, 224, 224),
            position_encoding="fourier",
            num_frequency_bands=64,
            max_resolution=(224, 224),
        )
        return cls._official(encoder, num_classes)

    @classmethod
    def vision_perceiver_learned(cls, num_classes: int = 1000) -> ImageClassifierConfig:
        """deepmind/vision-perceiver-learned (62,255,848 parameters)."""
        encoder = cls._official_encoder(
            image_shape=(3, 224, 224),
            position_encoding="learned",
            num_conv_channels=256,
            num_position_channels=256,
        )
        return cls._official(encoder, num_classes)

    @classmethod
    def vision_perceiver_conv(cls, num_classes: int = 1000) -> ImageClassifierConfig:
        """deepmind/vision-perceiver-conv (48,646,522 parameters)."""
        encoder = cls._official_encoder(
            image_shape=(3, 224, 224),
            position_encoding="conv",
            num_conv_channels=64,
            num_frequency_bands=64,
            max_resolution=(56, 56),
        )
        return cls._official(encoder, num_classes)


def _image_input_adapter(config: ImageEncoderConfig) -> InputAdapter:
    if config.position_encoding == "fourier":
        return FourierImageInputAdapter(
            image_shape=config.image_shape,
            num_frequency_bands=config.num_frequency_bands,
            max_resolution=config.max_resolution,
        )
    if config.position_encoding == "learned":
        return LearnedImageInputAdapter(
            image_shape=config.image_shape,
            num_conv_channels=config.num_conv_channels,
            num_position_channels=config.num_position_channels,
        )
    return ConvImageInputAdapter(
        image_shape=config.image_shape,
        num_conv_channels=config.num_conv_channels,
        num_frequency_bands=config.num_frequency_bands,
        max_resolution=config.max_resolution,
    )


def check_image_shape(name: str, x: torch.Tensor, image_shape: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless ``x`` is a batch (b, *image_shape)."""
    if x.dim() != len(image_shape) + 1 or tuple(x.shape[1:]) != tuple(image_shape):
        expected = ", ".join(str(s) for s in ("batch", *image_shape))
        raise ValueError(f"{name} must have shape ({expected}), got {tuple(x.shape)}")


class ImageClassifier(PerceiverIO):
    """Perceiver IO image classifier; ``forward(x)`` maps images (b, c, h, w) to logits (b, k)."""

    def __init__(self, config: ImageClassifierConfig) -> None:
        enc, dec = config.encoder, config.decoder
        encoder = build_encoder(
            enc,
            input_adapter=_image_input_adapter(enc),
            num_latents=config.num_latents,
            num_latent_channels=config.num_latent_channels,
            activation_checkpointing=config.activation_checkpointing,
            qk_channels_default=config.cross_attention_qk_channels_default,
        )
        decoder = build_decoder(
            dec,
            output_adapter=ClassificationOutputAdapter(dec.num_classes, dec.num_output_query_channels),
            output_query_provider=TrainableQueryProvider(
                dec.num_output_queries, dec.num_output_query_channels, dec.init_scale
            ),
            num_latent_channels=config.num_latent_channels,
            activation_checkpointing=config.activation_checkpointing,
            qk_channels_default=config.cross_attention_qk_channels_default,
        )
        super().__init__(encoder, decoder)
        self.config = config
        init_parameters(self.encoder, enc.init_scale)
        init_parameters(self.decoder, dec.init_scale)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (b, num_classes) of images x (b, c, h, w); (b, n, num_classes) for n > 1 queries.

        x holds normalized float pixels (what the image processor returns); integer pixels
        (raw uint8 images) are refused, other float dtypes are cast to the model's.
        """
        check_batch("x", x)
        x = float_input("x", x, module_dtype(self), PIXELS)
        image_shape = self.config.encoder.image_shape
        if self.config.encoder.position_encoding == "learned":
            check_image_shape("x", x, image_shape)
        elif x.dim() != 4 or x.shape[1] != image_shape[0]:
            raise ValueError(
                f"x must have shape (batch, {image_shape[0]}, height, width), got {tuple(x.shape)}"
            )
        return super().forward(x, pad_mask)


# perceiver-io 0.11's submodules of this module (.backend, .lightning, .huggingface) are looked up
# here and answered by perceiver.model._moved with where their contents went
__path__: list[str] = []


def __getattr__(name: str) -> NoReturn:
    moved_name(__name__, name)
