"""Multi-head attention over ``torch.nn.functional.scaled_dot_product_attention``.

SDPA is called in exactly one place, :func:`_attend`. :func:`eager_attention` is the reference
implementation (matmul, softmax) that tests compare it with; :func:`eager_attention_reference`
switches every ``MultiHeadAttention`` to it inside a ``with`` block.

Masks: users pass ``pad_mask`` with True = padding. :func:`~perceiver.model.core.masks.attend_mask`
turns it, together with a causal mask aligned to the bottom right, into SDPA's convention (True =
may attend); :mod:`perceiver.model.core.masks` holds the whole convention. A query
whose keys are all masked attends to nothing and returns zeros, never NaN. A causal mask without
padding is not materialized: SDPA masks causally itself (``is_causal`` when queries and keys are
the same positions; on CUDA, ``causal_lower_right`` when the queries are the last of more keys),
which lets CUDA choose flash attention, which takes no explicit mask.

Shapes: b batch, n queries, m keys, c channels, h heads, d channels per head.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention.bias import CausalBias, causal_lower_right

from perceiver.model.core._recompute import norm_linears
from perceiver.model.core._validation import (
    check_divisible,
    check_optional_positive,
    check_positive_int,
    check_probability,
)
from perceiver.model.core.cache import KVCache
from perceiver.model.core.masks import attend_mask, check_pad_mask
from perceiver.model.core.position import RotaryPositionEmbedding

__all__ = ["MultiHeadAttention", "eager_attention", "eager_attention_reference"]


def eager_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    dropout_p: float = 0.0,
    causal: bool = False,
) -> torch.Tensor:
    """Reference attention: softmax(q k^T / sqrt(d)) v, zeros for queries with no visible key
    (``causal``: ``mask`` is None and the causal mask is aligned to the bottom right)."""
    if causal:
        mask = attend_mask(None, q.shape[-2], k.shape[-2], causal=True, device=q.device)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (b, h, n, m)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = scores.softmax(dim=-1).nan_to_num(0.0)
    probs = F.dropout(probs, p=dropout_p)
    return probs @ v


def _causal_mask(q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor | CausalBias | None, bool]:
    """SDPA's ``(attn_mask, is_causal)`` for a causal mask aligned to the bottom right, n <= m."""
    n, m = q.shape[-2], k.shape[-2]
    if n == m:  # the top-left alignment of is_causal is the same
        return None, True
    if q.is_cuda and not torch.compiler.is_compiling():
        return causal_lower_right(n, m), False  # dispatched to flash or memory-efficient kernels
    return attend_mask(None, n, m, causal=True, device=q.device), False


def _sdpa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    dropout_p: float,
    causal: bool = False,
) -> torch.Tensor:
    # The fused kernels (CPU flash attention among them) need one head size for q, k and v and
    # one batch size; otherwise SDPA falls back to its math path, which materializes the (n, m)
    # scores of every head. Zero channels leave q k^T unchanged, so q, k, v are padded to the
    # larger head size (keeping the scale of d_qk, dropping the padded output channels), and a
    # batch-1 query array (broadcast latents or output queries) is expanded, after padding, as
    # a stride-0 view.
    d_qk, d_v = q.shape[-1], v.shape[-1]
    scale = None
    if d_qk != d_v:
        d, scale = max(d_qk, d_v), d_qk**-0.5
        q = F.pad(q, (0, d - d_qk))  # (b|1, h, n, d)
        k = F.pad(k, (0, d - d_qk))  # (b, h, m, d)
        v = F.pad(v, (0, d - d_v))  # (b, h, m, d)
    if q.shape[0] != k.shape[0]:
        q = q.expand(k.shape[0], -1, -1, -1)  # (b, h, n, d)
    is_causal = False
    if causal:
        mask, is_causal = _causal_mask(q, k)
    o = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale
    )
    return o if d_qk == d_v else o[..., :d_v]  # (b, h, n, d_v)


_attention_fn = _sdpa


@contextlib.contextmanager
def eager_attention_reference() -> Iterator[None]:
    """Run every attention with :func:`eager_attention` instead of SDPA (the test oracle)."""
    global _attention_fn
    previous, _attention_fn = _attention_fn, eager_attention
    try:
        yield
    finally:
        _attention_fn = previous


def _attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, dropout_p: float
) -> torch.Tensor:
    """Attention under ``mask``, where a query may see no key at all."""
    if mask is None:
        return _attention_fn(q, k, v, mask, dropout_p)
    # queries without any visible key attend to nothing: give them one key, zero the result
    blind = ~mask.any(dim=-1, keepdim=True)  # (b|1, 1, n|1, 1)
    out = _attention_fn(q, k, v, mask | blind, dropout_p)
    return out.masked_fill(blind, 0.0)


def _check_inputs(
    x_q: torch.Tensor, x_kv: torch.Tensor, pad_mask: torch.Tensor | None, c_q: int, c_kv: int
) -> None:
    # shapes only (no values are read): a mismatch is named here instead of inside a matmul
    for name, x, c in (("x_q", x_q, c_q), ("x_kv", x_kv, c_kv)):
        if x.dim() != 3 or x.shape[-1] != c:
            raise ValueError(f"{name} must have shape (batch, positions, {c}), got {tuple(x.shape)}")
    if x_q.shape[0] not in (1, x_kv.shape[0]):
        raise ValueError(f"x_q's batch size ({x_q.shape[0]}) must be 1 or x_kv's ({x_kv.shape[0]})")
    check_pad_mask(pad_mask, (x_kv.shape[0], x_kv.shape[1]))


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate q, k, v and output projections.

    Args:
        num_heads: attention heads; must divide the qk and v channel counts.
        num_q_input_channels: channels of the query input.
        num_kv_input_channels: channels of the key/value input.
        num_qk_channels: channels of queries and keys (default: ``num_q_input_channels``).
        num_v_channels: channels of values (default: ``num_qk_channels``).
        num_output_channels: channels of the output (default: ``num_q_input_channels``).
        causal_attention: mask keys after each query (aligned to the bottom right).
        dropout: dropout on attention probabilities, in training only.
        qkv_bias: bias in the q, k and v projections.
        out_bias: bias in the output projection.
    """

    def __init__(
        self,
        *,
        num_heads: int,
        num_q_input_channels: int,
        num_kv_input_channels: int,
        num_qk_channels: int | None = None,
        num_v_channels: int | None = None,
        num_output_channels: int | None = None,
        causal_attention: bool = False,
        dropout: float = 0.0,
        qkv_bias: bool = True,
        out_bias: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int("num_heads", num_heads)
        check_positive_int("num_q_input_channels", num_q_input_channels)
        check_positive_int("num_kv_input_channels", num_kv_input_channels)
        for name, value in [
            ("num_qk_channels", num_qk_channels),
            ("num_v_channels", num_v_channels),
            ("num_output_channels", num_output_channels),
        ]:
            check_optional_positive(name, value)
        check_probability("dropout", dropout)
        num_qk_channels = num_qk_channels or num_q_input_channels
        num_v_channels = num_v_channels or num_qk_channels
        num_output_channels = num_output_channels or num_q_input_channels
        check_divisible("num_qk_channels", num_qk_channels, "num_heads", num_heads)
        check_divisible("num_v_channels", num_v_channels, "num_heads", num_heads)

        self.num_heads = num_heads
        self.num_qk_channels_per_head = num_qk_channels // num_heads
        self.num_v_channels_per_head = num_v_channels // num_heads
        self.causal_attention = causal_attention
        self.dropout = dropout
        self.q_proj = nn.Linear(num_q_input_channels, num_qk_channels, bias=qkv_bias)
        self.k_proj = nn.Linear(num_kv_input_channels, num_qk_channels, bias=qkv_bias)
        self.v_proj = nn.Linear(num_kv_input_channels, num_v_channels, bias=qkv_bias)
        self.o_proj = nn.Linear(num_v_channels, num_output_channels, bias=out_bias)

    def _heads(self, x: torch.Tensor, d: int) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, d)).transpose(1, 2)  # (b, n, h*d) -> (b, h, n, d)

    def forward(
        self,
        x_q: torch.Tensor,
        x_kv: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        rot_pos_emb_q: RotaryPositionEmbedding | None = None,
        rot_pos_emb_k: RotaryPositionEmbedding | None = None,
        kv_cache: KVCache | None = None,
        *,
        q_norm: nn.Module | None = None,
        kv_norm: nn.Module | None = None,
        kv_tail_q_norm: bool = False,
    ) -> torch.Tensor:
        """Attend from x_q (b|1, n, c_q) over x_kv (b, m, c_kv); returns (b, n, c_out).

        Args:
            pad_mask: (b, m), True = padding key.
            rot_pos_emb_q, rot_pos_emb_k: rotary embedding of queries and of (new) keys.
            kv_cache: keys and values of earlier steps; x_kv's keys are appended to it and the
                queries attend over all of them.
            q_norm, kv_norm: layer norms applied to x_q and x_kv before the projections (in
                training their outputs are recomputed in the backward pass, not stored).
            kv_tail_q_norm: x_q are also the last n rows of x_kv (Perceiver AR's latents), and
                their keys and values are computed from q_norm(x_q) instead of kv_norm (the rule
                of krasserm/perceiver-io 0.11); only the rows before them pass through kv_norm.
        """
        _check_inputs(x_q, x_kv, pad_mask, self.q_proj.in_features, self.k_proj.in_features)
        if x_q is x_kv and q_norm is kv_norm:  # self-attention: one norm for q, k and v
            q, k, v = norm_linears(x_q, q_norm, (self.q_proj, self.k_proj, self.v_proj))
        elif kv_tail_q_norm:
            q, k, v = norm_linears(x_q, q_norm, (self.q_proj, self.k_proj, self.v_proj))  # (b, n, .)
            num_head_rows = x_kv.shape[1] - x_q.shape[1]
            if num_head_rows > 0:
                k_head, v_head = norm_linears(x_kv[:, :num_head_rows], kv_norm, (self.k_proj, self.v_proj))
                k = torch.cat([k_head, k], dim=1)  # (b, m, .)
                v = torch.cat([v_head, v], dim=1)
        else:
            (q,) = norm_linears(x_q, q_norm, (self.q_proj,))
            k, v = norm_linears(x_kv, kv_norm, (self.k_proj, self.v_proj))
        q = self._heads(q, self.num_qk_channels_per_head)  # (b|1, h, n, d)
        k = self._heads(k, self.num_qk_channels_per_head)  # (b, h, m, d)
        v = self._heads(v, self.num_v_channels_per_head)  # (b, h, m, d)
        if rot_pos_emb_q is not None:
            q = rot_pos_emb_q.rotate(q)
        if rot_pos_emb_k is not None:
            k = rot_pos_emb_k.rotate(k)
        if kv_cache is not None:
            k, v, pad_mask = kv_cache.append(k, v, pad_mask)

        n, m = q.shape[2], k.shape[2]
        dropout_p = self.dropout if self.training else 0.0
        if self.causal_attention and pad_mask is None and 1 < n <= m:
            # causal masking alone, which leaves every query at least one key: SDPA's own
            o = _attention_fn(q, k, v, None, dropout_p, causal=True)  # (b, h, n, d_v)
        else:
            mask = attend_mask(pad_mask, n, m, self.causal_attention, q.device)
            o = _attend(q, k, v, mask, dropout_p)
        o = o.transpose(1, 2).flatten(2)  # (b, n, h * d_v)
        return self.o_proj(o)
