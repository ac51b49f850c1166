"""Perceiver IO text classifier: the text encoder of the masked language model and a
classification decoder. The encoder can start from a trained masked language model.

Shapes: b batch, n tokens, k classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import torch
from torch import nn

from perceiver.model._moved import moved_name
from perceiver.model.core import (
    ClassificationDecoderConfig,
    ClassificationOutputAdapter,
    PerceiverIO,
    PerceiverIOConfig,
    TrainableQueryProvider,
    init_parameters,
)
from perceiver.model.core._validation import as_index_tensor
from perceiver.model.core.builders import build_decoder
from perceiver.model.core.config import DerivedChannels
from perceiver.model.text._encoder import TextEncoderConfig, build_text_encoder, check_text_input

__all__ = ["TextClassifier", "TextClassifierConfig"]


@dataclass
class TextClassifierConfig(PerceiverIOConfig[TextEncoderConfig, ClassificationDecoderConfig]):
    def encoder_input_channels(self) -> DerivedChannels:
        n = self.encoder.num_input_channels
        return DerivedChannels(n, f"encoder.num_input_channels ({n})", ("encoder.num_input_channels",))

    def decoder_query_channels(self) -> DerivedChannels:
        n = self.decoder.num_output_query_channels
        return DerivedChannels(
            n, f"decoder.num_output_query_channels ({n})", ("decoder.num_output_query_channels",)
        )


class TextClassifier(PerceiverIO):
    """Class logits (b, k) of token ids (b, n)."""

    def __init__(self, config: TextClassifierConfig) -> None:
        dec = config.decoder
        qk_default = config.cross_attention_qk_channels_default
        encoder = build_text_encoder(
            config.encoder,
            config.num_latents,
            config.num_latent_channels,
            config.activation_checkpointing,
            qk_default,
        )
        decoder = build_decoder(
            dec,
            output_query_provider=TrainableQueryProvider(
                dec.num_output_queries, dec.num_output_query_channels
            ),
            output_adapter=ClassificationOutputAdapter(
                dec.num_classes, dec.num_output_query_channels, dec.num_output_queries
            ),
            num_latent_channels=config.num_latent_channels,
            activation_checkpointing=config.activation_checkpointing,
            qk_channels_default=qk_default,
        )
        super().__init__(encoder, decoder)
        self.config = config
        init_parameters(self.encoder, config.encoder.init_scale)
        init_parameters(self.decoder, dec.init_scale)

    def load_encoder_from(self, mlm: nn.Module) -> None:
        """Start from the encoder of a masked language model with the same encoder config."""
        encoder = getattr(mlm, "encoder", None)
        if encoder is None:
            raise ValueError(f"expected a MaskedLanguageModel with an encoder, got {type(mlm).__name__}")
        self.encoder.load_state_dict(encoder.state_dict())

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        check_text_input(x, pad_mask, self.config.encoder)
        return super().forward(as_index_tensor(x), pad_mask)


# perceiver-io 0.11's submodules of this module (.backend, .lightning, .huggingface) are looked up
# here and answered by perceiver.model._moved with where their contents went
__path__: list[str] = []


def __getattr__(name: str) -> NoReturn:
    moved_name(__name__, name)
