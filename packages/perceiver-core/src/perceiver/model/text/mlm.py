"""Perceiver IO masked language model (the architecture of DeepMind's language-perceiver).

Token and position embeddings are encoded into latents; one decoder query per input position
(a learned position embedding) cross-attends to them, and the decoder output is projected
onto the token embedding matrix (tied weights). The decoder computes only as many positions
as the input has. Shapes: b batch, n tokens, v vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import torch

from perceiver.model._moved import moved_name
from perceiver.model.core import (
    DecoderConfig,
    PerceiverIO,
    PerceiverIOConfig,
    PositionQueryProvider,
    TiedTokenOutputAdapter,
    init_parameters,
)
from perceiver.model.core._validation import as_index_tensor, check_positive
from perceiver.model.core.builders import build_decoder
from perceiver.model.core.config import DerivedChannels
from perceiver.model.text._encoder import TextEncoderConfig, build_text_encoder, check_text_input

__all__ = ["MaskedLanguageModel", "MaskedLanguageModelConfig", "TextDecoderConfig", "TextEncoderConfig"]


@dataclass
class TextDecoderConfig(DecoderConfig):
    """The decoder of the masked language model: one learned query per position, decoded onto
    the (tied) token embedding.

    Args:
        vocab_size: tokens in the vocabulary (must equal the encoder's).
        max_seq_len: most output positions (at least the encoder's max_seq_len).
    """

    vocab_size: int = 10003
    max_seq_len: int = 512

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("vocab_size", self.vocab_size)
        check_positive("max_seq_len", self.max_seq_len)


@dataclass
class MaskedLanguageModelConfig(PerceiverIOConfig[TextEncoderConfig, TextDecoderConfig]):
    num_latents: int = 256
    num_latent_channels: int = 1280

    def encoder_input_channels(self) -> DerivedChannels:
        n = self.encoder.num_input_channels
        return DerivedChannels(n, f"encoder.num_input_channels ({n})", ("encoder.num_input_channels",))

    def decoder_query_channels(self) -> DerivedChannels:
        return self.encoder_input_channels()  # the output queries are position embeddings of that size

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.encoder.vocab_size != self.decoder.vocab_size:
            raise ValueError(
                f"encoder.vocab_size ({self.encoder.vocab_size}) must equal decoder.vocab_size "
                f"({self.decoder.vocab_size}): input and output embeddings are tied"
            )
        if self.decoder.max_seq_len < self.encoder.max_seq_len:
            raise ValueError(
                f"decoder.max_seq_len ({self.decoder.max_seq_len}) must be at least "
                f"encoder.max_seq_len ({self.encoder.max_seq_len})"
            )

    @classmethod
    def language_perceiver(cls) -> MaskedLanguageModelConfig:
        """deepmind/language-perceiver: UTF-8 bytes, 2048 positions, 201,108,230 parameters."""
        vocab_size, max_seq_len, num_input_channels, qk = 262, 2048, 768, 256
        return cls(
            encoder=TextEncoderConfig(
                vocab_size=vocab_size,
                max_seq_len=max_seq_len,
                num_input_channels=num_input_channels,
                num_cross_attention_heads=8,
                num_cross_attention_qk_channels=qk,
                num_cross_attention_v_channels=1280,
                num_self_attention_heads=8,
                num_self_attention_qk_channels=qk,
                num_self_attention_v_channels=1280,
                num_self_attention_layers_per_block=26,
                num_self_attention_blocks=1,
                dropout=0.1,
            ),
            decoder=TextDecoderConfig(
                vocab_size=vocab_size,
                max_seq_len=max_seq_len,
                num_cross_attention_heads=8,
                num_cross_attention_qk_channels=qk,
                num_cross_attention_v_channels=num_input_channels,
                cross_attention_residual=False,
                dropout=0.1,
            ),
            num_latents=256,
            num_latent_channels=1280,
        )


class MaskedLanguageModel(PerceiverIO):
    """Logits (b, n, v) for every input position of token ids (b, n)."""

    def __init__(self, config: MaskedLanguageModelConfig) -> None:
        qk_default = config.cross_attention_qk_channels_default
        encoder = build_text_encoder(
            config.encoder,
            config.num_latents,
            config.num_latent_channels,
            config.activation_checkpointing,
            qk_default,
        )
        adapter = encoder.input_adapter
        decoder = build_decoder(
            config.decoder,
            output_query_provider=PositionQueryProvider(
                config.decoder.max_seq_len, adapter.num_input_channels
            ),
            output_adapter=TiedTokenOutputAdapter(config.decoder.vocab_size, adapter.txt_embedding),
            num_latent_channels=config.num_latent_channels,
            activation_checkpointing=config.activation_checkpointing,
            qk_channels_default=qk_default,
        )
        super().__init__(encoder, decoder)
        self.config = config
        # one init scale for the whole model (the decoder's output embedding is the encoder's)
        init_parameters(self, config.encoder.init_scale)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        check_text_input(x, pad_mask, self.config.encoder)
        return super().forward(as_index_tensor(x), pad_mask)


# perceiver-io 0.11's submodules of this module (.backend, .lightning, .huggingface) are looked up
# here and answered by perceiver.model._moved with where their contents went
__path__: list[str] = []


def __getattr__(name: str) -> NoReturn:
    moved_name(__name__, name)
