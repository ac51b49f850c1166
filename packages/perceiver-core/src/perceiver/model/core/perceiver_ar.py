"""Perceiver AR: causal cross-attention from the latents to prefix + latents, then causal
self-attention over the latents.

A sequence of n tokens is split into a prefix (the first ``prefix_len``) and latents (the last
``n - prefix_len``, at most ``max_latents``). Inputs are left-padded; positions start at each
sequence's first real token. Causal masks are aligned to the bottom right, so the latent at
position t sees every token up to t and nothing after it.

Incremental decoding: :meth:`PerceiverAR.forward` with a :class:`PerceiverARCache` first runs
over a whole window (filling the cache) and then takes the new tokens of each step, which
become latents. Cross-attention caches prefix + latents, each self-attention layer its latents.

Shapes: b batch, n tokens, p prefix, l latents, c channels, v vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from perceiver.model.core._validation import (
    as_index_tensor,
    check_int,
    check_non_negative,
    check_positive_int,
    check_probability,
    check_token_ids,
)
from perceiver.model.core.adapter import RotarySupport, TiedTokenOutputAdapter, TokenInputAdapter
from perceiver.model.core.cache import KVCache
from perceiver.model.core.config import LATENT_KV_NORMS
from perceiver.model.core.generation import generate
from perceiver.model.core.layers import CrossAttentionLayer, SelfAttentionBlock, init_parameters, run_layer
from perceiver.model.core.masks import check_pad_mask, effective_pad_mask
from perceiver.model.core.position import (
    FrequencyPositionEncoding,
    RotaryPositionEmbedding,
    positions,
    rotary_channels,
)

__all__ = ["CausalSequenceModel", "PerceiverAR", "PerceiverARCache"]


@dataclass
class PerceiverARCache:
    """Keys and values of a Perceiver AR's window, for incremental decoding."""

    cross_attention: KVCache
    self_attention: list[KVCache]
    next_positions: torch.Tensor | None = None  # (b,) position of each sequence's next token

    @property
    def length(self) -> int:
        """Tokens in the window: prefix + latents."""
        return len(self.cross_attention)

    @property
    def num_latents(self) -> int:
        return len(self.self_attention[0])

    def reset(self) -> None:
        self.cross_attention.reset()
        for cache in self.self_attention:
            cache.reset()
        self.next_positions = None

    def drop_last(self, n: int) -> None:
        """Forget the last ``n`` tokens of the window (latents appended by decoding steps), as if
        they had not been appended (speculative decoding drops the drafts it rejects)."""
        check_int("n", n, minimum=0)
        if n > self.num_latents:
            raise ValueError(f"cannot drop {n} tokens from a window of {self.num_latents} cached latents")
        if n == 0:
            return
        self.cross_attention.drop_last(n)
        for cache in self.self_attention:
            cache.drop_last(n)
        self.next_positions = self.next_positions - n


class PerceiverAR(nn.Module):
    """Perceiver AR over an input adapter with rotary support.

    Args:
        input_adapter: embeds tokens at positions; says how many channels per head rotate.
        max_seq_len: longest window (prefix + latents).
        max_latents: most latents.
        num_self_attention_rotary_layers: self-attention layers with rotary embedding (-1: all).
        cross_attention_dropout: fraction of prefix tokens dropped from cross-attention in
            training (prefix dropout); never in eval.
        post_attention_dropout: dropout on attention probabilities.
        residual_dropout: dropout on residual branches.
        latent_kv_norm: norm of the latents where they are cross-attention keys and values:
            "kv" (the prefix's norm) or "q" (the queries' norm, the rule of krasserm/perceiver-io
            0.11); see :class:`perceiver.model.core.PerceiverARConfig`.
    """

    def __init__(
        self,
        *,
        input_adapter: RotarySupport,
        max_seq_len: int,
        max_latents: int,
        num_heads: int = 8,
        num_self_attention_layers: int = 6,
        num_self_attention_rotary_layers: int = 1,
        self_attention_widening_factor: int = 4,
        cross_attention_widening_factor: int = 4,
        cross_attention_dropout: float = 0.5,
        post_attention_dropout: float = 0.0,
        residual_dropout: float = 0.0,
        activation_checkpointing: bool = False,
        latent_kv_norm: str = "kv",
    ) -> None:
        super().__init__()
        check_positive_int("max_seq_len", max_seq_len)
        if latent_kv_norm not in LATENT_KV_NORMS:
            raise ValueError(f"latent_kv_norm must be one of {LATENT_KV_NORMS}, got {latent_kv_norm!r}")
        check_positive_int("max_latents", max_latents)
        if max_latents > max_seq_len:
            raise ValueError(f"max_latents ({max_latents}) must not exceed max_seq_len ({max_seq_len})")
        check_probability("cross_attention_dropout", cross_attention_dropout)
        num_channels = input_adapter.num_input_channels
        if num_channels % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide num_channels ({num_channels})")
        head_dim = num_channels // num_heads
        rotated, frequency_dim = rotary_channels(head_dim, input_adapter.rotated_channels_fraction)

        self.input_adapter = input_adapter
        self.max_seq_len = max_seq_len
        self.max_latents = max_latents
        self.num_channels = num_channels
        self.cross_attention_dropout = cross_attention_dropout
        self.activation_checkpointing = activation_checkpointing
        self.frequency_encoding = FrequencyPositionEncoding(rotated, frequency_dim=frequency_dim)
        self.cross_attn = CrossAttentionLayer(
            num_heads=num_heads,
            num_q_input_channels=num_channels,
            num_kv_input_channels=num_channels,
            causal_attention=True,
            widening_factor=cross_attention_widening_factor,
            dropout=post_attention_dropout,
            residual_dropout=residual_dropout,
            kv_tail_q_norm=latent_kv_norm == "q",
        )
        self.self_attn = SelfAttentionBlock(
            num_layers=num_self_attention_layers,
            num_heads=num_heads,
            num_channels=num_channels,
            num_rotary_layers=num_self_attention_rotary_layers,
            causal_attention=True,
            widening_factor=self_attention_widening_factor,
            dropout=post_attention_dropout,
            residual_dropout=residual_dropout,
            activation_checkpointing=activation_checkpointing,
        )

    def create_cache(self) -> PerceiverARCache:
        return PerceiverARCache(
            cross_attention=KVCache(self.max_seq_len),
            self_attention=[KVCache(self.max_latents) for _ in self.self_attn],
        )

    def forward(
        self,
        x: torch.Tensor,
        prefix_len: int,
        pad_mask: torch.Tensor | None = None,
        kv_cache: PerceiverARCache | None = None,
    ) -> torch.Tensor:
        """Latent outputs (b, l, c) of tokens x (b, n): l = n - prefix_len.

        With a non-empty ``kv_cache``, x holds only the new tokens of a decoding step (all of
        them latents, so ``prefix_len`` must be 0), appended after the cached window.
        """
        if x.dim() != 2:
            raise ValueError(f"x must have shape (batch, seq_len), got {tuple(x.shape)}")
        b, n = x.shape
        if b == 0:
            raise ValueError(f"x holds no sequences (shape {tuple(x.shape)})")
        check_int("prefix_len", prefix_len)
        check_pad_mask(pad_mask, (b, n))
        if kv_cache is not None and kv_cache.length > 0:
            return self._forward_step(x, prefix_len, pad_mask, kv_cache)
        if n > self.max_seq_len:
            raise ValueError(f"sequence length {n} exceeds max_seq_len ({self.max_seq_len})")
        if not 0 <= prefix_len < n:
            raise ValueError(f"prefix_len must be in [0, {n}) for a sequence of length {n}, got {prefix_len}")
        if n - prefix_len > self.max_latents:
            raise ValueError(
                f"prefix_len {prefix_len} leaves {n - prefix_len} latents, more than max_latents "
                f"({self.max_latents}); use prefix_len >= {n - self.max_latents}"
            )

        pad_mask = effective_pad_mask(pad_mask)
        pos = positions(pad_mask, b, n, x.device)  # (b, n)
        num_latents = n - prefix_len
        if self.training and self.cross_attention_dropout > 0 and prefix_len > 0 and kv_cache is None:
            # prefix dropout: only the kept prefix tokens are embedded; the latents, embedded
            # once, are both the queries and the last keys of the cross-attention
            idx = self._kept_positions(b, n, prefix_len, x.device)  # (b, m): m = k kept + l latents
            k = idx.shape[1] - num_latents
            kv_pos = pos.gather(1, idx)
            kv_pad = None if pad_mask is None else pad_mask.gather(1, idx)
            x_latent = self.input_adapter(x[:, prefix_len:], kv_pos[:, k:])  # (b, l, c)
            x_prefix = self.input_adapter(x.gather(1, idx[:, :k]), kv_pos[:, :k])  # (b, k, c)
            x_kv = torch.cat([x_prefix, x_latent], dim=1)  # (b, m, c)
        else:
            x_kv = self.input_adapter(x, pos)  # (b, n, c)
            x_latent = x_kv[:, prefix_len:]
            kv_pos, kv_pad = pos, pad_mask
        latent_pad = None if pad_mask is None else pad_mask[:, prefix_len:]
        kv_angles = self.frequency_encoding(kv_pos)  # (b, m, r)
        rot_latent = RotaryPositionEmbedding(kv_angles[:, -num_latents:])  # the latents are the last keys

        cross_cache = None if kv_cache is None else kv_cache.cross_attention
        self_caches = None if kv_cache is None else kv_cache.self_attention
        x_latent = run_layer(
            self.cross_attn,
            self.activation_checkpointing,
            x_latent,
            x_kv,
            kv_pad,
            rot_latent,
            RotaryPositionEmbedding(kv_angles),
            cross_cache,
        )
        x_latent = self.self_attn(x_latent, latent_pad, rot_latent, self_caches)
        if kv_cache is not None:
            kv_cache.next_positions = pos[:, -1] + 1
        return x_latent

    def _forward_step(
        self, x: torch.Tensor, prefix_len: int, pad_mask: torch.Tensor | None, kv_cache: PerceiverARCache
    ) -> torch.Tensor:
        n = x.shape[1]
        if prefix_len != 0:
            raise ValueError(f"prefix_len must be 0 when decoding with a filled cache, got {prefix_len}")
        if kv_cache.length + n > self.max_seq_len:
            raise ValueError(
                f"{n} new tokens after {kv_cache.length} cached exceed max_seq_len ({self.max_seq_len})"
            )
        if kv_cache.num_latents + n > self.max_latents:
            raise ValueError(
                f"{n} new latents after {kv_cache.num_latents} cached exceed max_latents ({self.max_latents})"
            )
        pos = kv_cache.next_positions[:, None] + torch.arange(n, device=x.device)  # (b, n)
        x_emb = self.input_adapter(x, pos)
        rot = RotaryPositionEmbedding(self.frequency_encoding(pos))
        x_latent = self.cross_attn(x_emb, x_emb, pad_mask, rot, rot, kv_cache.cross_attention)
        x_latent = self.self_attn(x_latent, pad_mask, rot, kv_cache.self_attention)
        kv_cache.next_positions = pos[:, -1] + 1
        return x_latent

    def _kept_positions(
        self, batch_size: int, seq_len: int, prefix_len: int, device: torch.device
    ) -> torch.Tensor:
        """Prefix dropout: indices (b, k + l) of a random subset of k prefix positions (the same
        k for every sequence, in order) followed by the l latent positions."""
        k = int(prefix_len * (1.0 - self.cross_attention_dropout))
        kept = torch.rand(batch_size, prefix_len, device=device).topk(k, dim=1).indices.sort(dim=1).values
        latents = torch.arange(prefix_len, seq_len, device=device).expand(batch_size, -1)
        return torch.cat([kept, latents], dim=1)


class CausalSequenceModel(nn.Module):
    """Perceiver AR over token ids with tied input/output embeddings: logits for the latents.

    Args:
        abs_pos_emb: learned absolute position embedding (rotary then covers half of each
            head's channels, else all of them).
        output_norm: layer norm before the output projection.
        output_bias: bias of the tied output projection.
        Others as in :class:`PerceiverAR`.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> CausalSequenceModel:
        # krasserm/perceiver-io 0.11 built it from a config: say what replaces that call
        if args and cls is CausalSequenceModel:
            raise TypeError(
                "CausalSequenceModel takes keyword arguments only (vocab_size=..., max_seq_len=..., "
                "...). krasserm/perceiver-io 0.11's CausalSequenceModel(config) with a "
                "CausalSequenceModelConfig is CausalLanguageModel(config) with a CausalLanguageModelConfig "
                "(perceiver.model.text.clm; SymbolicAudioModel for MIDI), or "
                "CausalSequenceModel(**config.to_dict())"
            )
        return super().__new__(cls)

    def __init__(
        self,
        *,
        vocab_size: int,
        max_seq_len: int,
        max_latents: int,
        num_channels: int,
        num_heads: int = 8,
        num_self_attention_layers: int = 6,
        num_self_attention_rotary_layers: int = 1,
        self_attention_widening_factor: int = 4,
        cross_attention_widening_factor: int = 4,
        cross_attention_dropout: float = 0.5,
        post_attention_dropout: float = 0.0,
        residual_dropout: float = 0.0,
        output_norm: bool = False,
        output_bias: bool = True,
        abs_pos_emb: bool = True,
        init_scale: float = 0.02,
        activation_checkpointing: bool = False,
        latent_kv_norm: str = "kv",
    ) -> None:
        super().__init__()
        check_non_negative("init_scale", init_scale)
        self.vocab_size = vocab_size
        adapter = TokenInputAdapter(vocab_size, max_seq_len, num_channels, abs_pos_emb=abs_pos_emb)
        self.perceiver_ar = PerceiverAR(
            input_adapter=adapter,
            max_seq_len=max_seq_len,
            max_latents=max_latents,
            num_heads=num_heads,
            num_self_attention_layers=num_self_attention_layers,
            num_self_attention_rotary_layers=num_self_attention_rotary_layers,
            self_attention_widening_factor=self_attention_widening_factor,
            cross_attention_widening_factor=cross_attention_widening_factor,
            cross_attention_dropout=cross_attention_dropout,
            post_attention_dropout=post_attention_dropout,
            residual_dropout=residual_dropout,
            activation_checkpointing=activation_checkpointing,
            latent_kv_norm=latent_kv_norm,
        )
        self.out_norm = nn.LayerNorm(num_channels) if output_norm else nn.Identity()
        self.output_adapter = TiedTokenOutputAdapter(vocab_size, adapter.txt_embedding, bias=output_bias)
        init_parameters(self, init_scale)

    @property
    def max_seq_len(self) -> int:
        return self.perceiver_ar.max_seq_len

    @property
    def max_latents(self) -> int:
        return self.perceiver_ar.max_latents

    def create_cache(self) -> PerceiverARCache:
        return self.perceiver_ar.create_cache()

    def forward(
        self,
        x: torch.Tensor,
        prefix_len: int,
        pad_mask: torch.Tensor | None = None,
        kv_cache: PerceiverARCache | None = None,
    ) -> torch.Tensor:
        """Logits (b, l, v) for the latent positions of token ids x (b, n) (narrow integer ids,
        e.g. uint8, are widened)."""
        check_token_ids("input_ids", x, self.vocab_size)
        if x.dim() == 2 and x.shape[0] == 0:
            raise ValueError(f"input_ids holds no sequences (shape {tuple(x.shape)})")
        return self.logits(as_index_tensor(x), prefix_len, pad_mask, kv_cache)

    def logits(
        self,
        x: torch.Tensor,
        prefix_len: int,
        pad_mask: torch.Tensor | None = None,
        kv_cache: PerceiverARCache | None = None,
    ) -> torch.Tensor:
        """:meth:`forward` without the token-id check, which reads the ids back from the device
        (compiled decoding calls this, its caller having checked the ids)."""
        x_latent = self.perceiver_ar(x, prefix_len, pad_mask, kv_cache)
        return self.output_adapter(self.out_norm(x_latent))

    # continue left-padded prompts: see perceiver.model.core.generation.generate (the model is
    # its first argument, so the function serves as the method with one signature and docstring)
    generate = generate
