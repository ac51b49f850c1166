"""The text encoder shared by the masked language model and the text classifier.

Shapes: b batch, n tokens, c input channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from perceiver.model.core import EncoderConfig, InputAdapter, PerceiverEncoder, TrainablePositionEncoding
from perceiver.model.core._validation import check_positive, check_token_ids
from perceiver.model.core.builders import build_encoder
from perceiver.model.core.masks import check_pad_mask

__all__ = ["TextEncoderConfig", "TextInputAdapter", "build_text_encoder", "check_text_input"]


@dataclass
class TextEncoderConfig(EncoderConfig):
    """The encoder of the text models: token and learned position embeddings.

    Args:
        vocab_size: tokens in the vocabulary.
        max_seq_len: longest input, in tokens (the size of the position embedding).
        num_input_channels: channels of the token and position embeddings.
    """

    vocab_size: int = 10003
    max_seq_len: int = 256
    num_input_channels: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("vocab_size", self.vocab_size)
        check_positive("max_seq_len", self.max_seq_len)
        check_positive("num_input_channels", self.num_input_channels)


class TextInputAdapter(InputAdapter):
    """Token embedding plus learned absolute position embedding: (b, n) -> (b, n, c)."""

    def __init__(self, vocab_size: int, max_seq_len: int, num_input_channels: int) -> None:
        super().__init__(num_input_channels)
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.txt_embedding = nn.Embedding(vocab_size, num_input_channels)
        self.pos_embedding = TrainablePositionEncoding(max_seq_len, num_input_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.txt_embedding(x) + self.pos_embedding(x.shape[1])


def build_text_encoder(
    config: TextEncoderConfig,
    num_latents: int,
    num_latent_channels: int,
    activation_checkpointing: bool,
    qk_channels_default: str,
) -> PerceiverEncoder:
    adapter = TextInputAdapter(config.vocab_size, config.max_seq_len, config.num_input_channels)
    return build_encoder(
        config,
        input_adapter=adapter,
        num_latents=num_latents,
        num_latent_channels=num_latent_channels,
        activation_checkpointing=activation_checkpointing,
        qk_channels_default=qk_channels_default,
    )


def check_text_input(x: torch.Tensor, pad_mask: torch.Tensor | None, config: TextEncoderConfig) -> None:
    check_token_ids("input_ids", x, config.vocab_size)
    if x.dim() != 2:
        raise ValueError(f"input_ids must have shape (batch, seq_len), got {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"input_ids holds no tokens (shape {tuple(x.shape)})")
    if x.shape[1] > config.max_seq_len:
        raise ValueError(f"sequence length {x.shape[1]} exceeds max_seq_len ({config.max_seq_len})")
    check_pad_mask(pad_mask, tuple(x.shape))
