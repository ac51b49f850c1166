"""Perceiver AR causal language model.

``forward(input_ids, prefix_len, pad_mask)`` gives next-token logits for the latent positions
(the last ``n - prefix_len`` tokens); ``generate`` continues prompts (see
``perceiver.model.core.generation``). Shapes: b batch, n tokens, l latents, v vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import torch

from perceiver.model._moved import moved_name
from perceiver.model.core import CausalSequenceModel, PerceiverARConfig
from perceiver.model.core._validation import check_positive

__all__ = ["CausalLanguageModel", "CausalLanguageModelConfig"]


@dataclass
class CausalLanguageModelConfig(PerceiverARConfig):
    """The Perceiver AR causal language model.

    Args:
        vocab_size: tokens in the vocabulary.
        max_seq_len: longest window, prefix plus latents, in tokens.
        max_latents: most latent positions, the last tokens of the window that are predicted
            (krasserm/perceiver-io 0.11's CLI called it num_latents; see docs/generation.md for
            the latents at training and generation time).
        num_channels: channels of the token embedding and of every layer.
        output_norm: a layer norm before the output projection.
        output_bias: a bias in the output projection.
        abs_pos_emb: a learned absolute position embedding in addition to the rotary one.
    """

    vocab_size: int = 262
    max_seq_len: int = 4096
    max_latents: int = 512
    num_channels: int = 512
    output_norm: bool = False
    output_bias: bool = True
    abs_pos_emb: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("vocab_size", "max_seq_len", "max_latents", "num_channels"):
            check_positive(name, getattr(self, name))
        if self.max_latents > self.max_seq_len:
            raise ValueError(
                f"max_latents ({self.max_latents}) must not exceed max_seq_len ({self.max_seq_len})"
            )
        if self.num_channels % self.num_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must divide num_channels ({self.num_channels})")

    @property
    def num_latents(self) -> int:
        """The name of ``max_latents`` in krasserm/perceiver-io 0.11's docs."""
        return self.max_latents


class CausalLanguageModel(CausalSequenceModel):
    def __init__(self, config: CausalLanguageModelConfig) -> None:
        super().__init__(
            vocab_size=config.vocab_size,
            max_seq_len=config.max_seq_len,
            max_latents=config.max_latents,
            num_channels=config.num_channels,
            num_heads=config.num_heads,
            num_self_attention_layers=config.num_self_attention_layers,
            num_self_attention_rotary_layers=config.num_self_attention_rotary_layers,
            self_attention_widening_factor=config.self_attention_widening_factor,
            cross_attention_widening_factor=config.cross_attention_widening_factor,
            cross_attention_dropout=config.cross_attention_dropout,
            post_attention_dropout=config.post_attention_dropout,
            residual_dropout=config.residual_dropout,
            output_norm=config.output_norm,
            output_bias=config.output_bias,
            abs_pos_emb=config.abs_pos_emb,
            init_scale=config.init_scale,
            activation_checkpointing=config.activation_checkpointing,
            latent_kv_norm=config.latent_kv_norm,
        )
        self.config = config

    def forward(
        self,
        x: torch.Tensor,
        prefix_len: int | None = None,
        pad_mask: torch.Tensor | None = None,
        kv_cache=None,
    ) -> torch.Tensor:
        """Logits (b, l, v); ``prefix_len`` defaults to ``max(n - max_latents, 0)``."""
        if prefix_len is None:
            prefix_len = (
                0 if kv_cache is not None and kv_cache.length else max(x.shape[-1] - self.max_latents, 0)
            )
        return super().forward(x, prefix_len, pad_mask, kv_cache)


# perceiver-io 0.11's submodules of this module (.backend, .lightning, .huggingface) are looked up
# here and answered by perceiver.model._moved with where their contents went
__path__: list[str] = []


def __getattr__(name: str) -> NoReturn:
    moved_name(__name__, name)
