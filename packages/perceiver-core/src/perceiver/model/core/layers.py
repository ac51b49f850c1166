"""Pre-norm attention layers and the MLP they share.

A layer is ``x = x + attention(norm(x), ...)`` followed by ``x = x + mlp(norm(x))``, with
optional dropout on each residual branch. Shapes: b batch, n queries, m keys, c channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from perceiver.model.core._recompute import norm_mlp
from perceiver.model.core._validation import check_non_negative, check_positive_int, check_probability
from perceiver.model.core.attention import MultiHeadAttention
from perceiver.model.core.cache import KVCache
from perceiver.model.core.position import RotaryPositionEmbedding

__all__ = [
    "EMBEDDING_INIT_SCALE",
    "MLP",
    "CrossAttention",
    "CrossAttentionLayer",
    "SelfAttention",
    "SelfAttentionBlock",
    "SelfAttentionLayer",
    "init_parameters",
    "init_std",
    "run_layer",
]


# std of learned latents, queries, positions and embeddings under the fan-in scheme (DeepMind's)
EMBEDDING_INIT_SCALE = 0.02


def init_std(module: nn.Module, init_scale: float | None) -> float:
    """Standard deviation of the normal initialization of ``module``'s weight.

    A number is used as it is, for every layer. ``None`` scales it to the layer: ``1 / sqrt(fan_in)``
    for linear and convolution weights (DeepMind's Perceiver), ``EMBEDDING_INIT_SCALE`` for
    embeddings. One fixed std for every width makes narrow models start with attention logits near
    zero: with std s, a query/key logit has std about s^2 * c_in (0.05 for s=0.02 and 131 input
    channels), attention is uniform, the cross-attention passes the input's mean only and the
    query/key gradients are tiny, so training stalls. The fan-in scale keeps logits of order one
    at any width.
    """
    if init_scale is not None:
        return init_scale
    if isinstance(module, nn.Embedding):
        return EMBEDDING_INIT_SCALE
    return module.weight[0].numel() ** -0.5  # fan-in: inputs of one output unit


def init_parameters(module: nn.Module, init_scale: float | None) -> None:
    """Normal(0, std) weights for linear and embedding layers, zero biases, unit norms.

    std is ``init_scale``, or with ``None`` scaled to each layer (see :func:`init_std`).
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=init_std(m, init_scale))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=init_std(m, init_scale))
        elif isinstance(m, nn.LayerNorm) and m.elementwise_affine:
            nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    std = EMBEDDING_INIT_SCALE if init_scale is None else init_scale
    for name, p in module.named_parameters():
        # learned queries, latents and positions
        if name.endswith(("_queries", "latents", "position_embedding")):
            nn.init.normal_(p, std=std)


def run_layer(layer: nn.Module, checkpointed: bool, *args, **kwargs) -> torch.Tensor:
    """Call ``layer``, recomputing its activations in the backward pass when ``checkpointed``."""
    if checkpointed and torch.is_grad_enabled():
        return checkpoint(layer, *args, use_reentrant=False, **kwargs)
    return layer(*args, **kwargs)


def _residual_dropout(p: float) -> nn.Module:
    # without dropout, an identity: no op to dispatch per layer in every decoding step
    return nn.Dropout(p) if p > 0 else nn.Identity()


class MLP(nn.Sequential):
    """norm -> linear (c -> widening_factor * c) -> exact GELU -> linear (-> c)."""

    def __init__(self, num_channels: int, widening_factor: int, bias: bool = True) -> None:
        check_positive_int("num_channels", num_channels)
        check_positive_int("widening_factor", widening_factor)
        super().__init__(
            nn.LayerNorm(num_channels),
            nn.Linear(num_channels, widening_factor * num_channels, bias=bias),
            nn.GELU(),
            nn.Linear(widening_factor * num_channels, num_channels, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in training, the norm's and the GELU's outputs are recomputed in the backward pass
        # instead of being stored (perceiver.model.core._recompute); same values and gradients
        y = norm_mlp(x, *self)
        return super().forward(x) if y is None else y


class CrossAttention(nn.Module):
    """Pre-norm cross-attention: queries and keys/values are normalized separately.

    ``kv_tail_q_norm``: the queries are also the last keys/values (Perceiver AR's latents) and
    pass through the query norm there too (see :meth:`MultiHeadAttention.forward`).
    """

    def __init__(
        self,
        *,
        num_heads: int,
        num_q_input_channels: int,
        num_kv_input_channels: int,
        num_qk_channels: int | None = None,
        num_v_channels: int | None = None,
        causal_attention: bool = False,
        dropout: float = 0.0,
        qkv_bias: bool = True,
        out_bias: bool = True,
        kv_tail_q_norm: bool = False,
    ) -> None:
        super().__init__()
        self.q_norm = nn.LayerNorm(num_q_input_channels)
        self.kv_norm = nn.LayerNorm(num_kv_input_channels)
        self.kv_tail_q_norm = kv_tail_q_norm
        self.attention = MultiHeadAttention(
            num_heads=num_heads,
            num_q_input_channels=num_q_input_channels,
            num_kv_input_channels=num_kv_input_channels,
            num_qk_channels=num_qk_channels,
            num_v_channels=num_v_channels,
            causal_attention=causal_attention,
            dropout=dropout,
            qkv_bias=qkv_bias,
            out_bias=out_bias,
        )

    def forward(
        self,
        x_q: torch.Tensor,
        x_kv: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        rot_pos_emb_q: RotaryPositionEmbedding | None = None,
        rot_pos_emb_k: RotaryPositionEmbedding | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        return self.attention(
            x_q,
            x_kv,
            pad_mask,
            rot_pos_emb_q,
            rot_pos_emb_k,
            kv_cache,
            q_norm=self.q_norm,
            kv_norm=self.kv_norm,
            kv_tail_q_norm=self.kv_tail_q_norm,
        )


class SelfAttention(nn.Module):
    """Pre-norm self-attention."""

    def __init__(
        self,
        *,
        num_heads: int,
        num_channels: int,
        num_qk_channels: int | None = None,
        num_v_channels: int | None = None,
        causal_attention: bool = False,
        dropout: float = 0.0,
        qkv_bias: bool = True,
        out_bias: bool = True,
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(num_channels)
        self.attention = MultiHeadAttention(
            num_heads=num_heads,
            num_q_input_channels=num_channels,
            num_kv_input_channels=num_channels,
            num_qk_channels=num_qk_channels,
            num_v_channels=num_v_channels,
            causal_attention=causal_attention,
            dropout=dropout,
            qkv_bias=qkv_bias,
            out_bias=out_bias,
        )

    def forward(
        self,
        x: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        rot_pos_emb: RotaryPositionEmbedding | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        return self.attention(
            x, x, pad_mask, rot_pos_emb, rot_pos_emb, kv_cache, q_norm=self.norm, kv_norm=self.norm
        )


class CrossAttentionLayer(nn.Module):
    """Cross-attention and MLP, each with a residual connection.

    Args:
        attention_residual: add the query input to the attention output (Perceiver IO decoders
            of some official models omit it).
        kv_tail_q_norm: as in :class:`CrossAttention`.
        residual_dropout: dropout on each residual branch, in training only.
        Others as in :class:`MultiHeadAttention`.
    """

    def __init__(
        self,
        *,
        num_heads: int,
        num_q_input_channels: int,
        num_kv_input_channels: int,
        num_qk_channels: int | None = None,
        num_v_channels: int | None = None,
        causal_attention: bool = False,
        widening_factor: int = 1,
        dropout: float = 0.0,
        residual_dropout: float = 0.0,
        attention_residual: bool = True,
        qkv_bias: bool = True,
        out_bias: bool = True,
        mlp_bias: bool = True,
        kv_tail_q_norm: bool = False,
    ) -> None:
        super().__init__()
        check_probability("residual_dropout", residual_dropout)
        self.cross_attn = CrossAttention(
            num_heads=num_heads,
            num_q_input_channels=num_q_input_channels,
            num_kv_input_channels=num_kv_input_channels,
            num_qk_channels=num_qk_channels,
            num_v_channels=num_v_channels,
            causal_attention=causal_attention,
            dropout=dropout,
            qkv_bias=qkv_bias,
            out_bias=out_bias,
            kv_tail_q_norm=kv_tail_q_norm,
        )
        self.mlp = MLP(num_q_input_channels, widening_factor, bias=mlp_bias)
        self.attention_residual = attention_residual
        self.residual_dropout = _residual_dropout(residual_dropout)

    def forward(
        self,
        x_q: torch.Tensor,
        x_kv: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        rot_pos_emb_q: RotaryPositionEmbedding | None = None,
        rot_pos_emb_k: RotaryPositionEmbedding | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        x = self.residual_dropout(
            self.cross_attn(x_q, x_kv, pad_mask, rot_pos_emb_q, rot_pos_emb_k, kv_cache)
        )
        if self.attention_residual:
            x = x + x_q  # x_q may be a batch-1 latent array: broadcasts without a copy
        return x + self.residual_dropout(self.mlp(x))


class SelfAttentionLayer(nn.Module):
    """Self-attention and MLP, each with a residual connection."""

    def __init__(
        self,
        *,
        num_heads: int,
        num_channels: int,
        num_qk_channels: int | None = None,
        num_v_channels: int | None = None,
        causal_attention: bool = False,
        widening_factor: int = 1,
        dropout: float = 0.0,
        residual_dropout: float = 0.0,
        qkv_bias: bool = True,
        out_bias: bool = True,
        mlp_bias: bool = True,
    ) -> None:
        super().__init__()
        check_probability("residual_dropout", residual_dropout)
        self.self_attn = SelfAttention(
            num_heads=num_heads,
            num_channels=num_channels,
            num_qk_channels=num_qk_channels,
            num_v_channels=num_v_channels,
            causal_attention=causal_attention,
            dropout=dropout,
            qkv_bias=qkv_bias,
            out_bias=out_bias,
        )
        self.mlp = MLP(num_channels, widening_factor, bias=mlp_bias)
        self.residual_dropout = _residual_dropout(residual_dropout)

    def forward(
        self,
        x: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        rot_pos_emb: RotaryPositionEmbedding | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        x = x + self.residual_dropout(self.self_attn(x, pad_mask, rot_pos_emb, kv_cache))
        return x + self.residual_dropout(self.mlp(x))


class SelfAttentionBlock(nn.ModuleList):
    """A stack of self-attention layers.

    Args:
        num_rotary_layers: rotary embedding is applied in the first this many layers; -1 for all.
        activation_checkpointing: recompute each layer's activations in the backward pass.
        Others as in :class:`SelfAttentionLayer`.
    """

    def __init__(
        self,
        *,
        num_layers: int,
        num_heads: int,
        num_channels: int,
        num_qk_channels: int | None = None,
        num_v_channels: int | None = None,
        num_rotary_layers: int = 0,
        causal_attention: bool = False,
        widening_factor: int = 1,
        dropout: float = 0.0,
        residual_dropout: float = 0.0,
        qkv_bias: bool = True,
        out_bias: bool = True,
        mlp_bias: bool = True,
        activation_checkpointing: bool = False,
    ) -> None:
        check_positive_int("num_layers", num_layers)
        if num_rotary_layers != -1:
            check_non_negative("num_rotary_layers", num_rotary_layers)
        layers = [
            SelfAttentionLayer(
                num_heads=num_heads,
                num_channels=num_channels,
                num_qk_channels=num_qk_channels,
                num_v_channels=num_v_channels,
                causal_attention=causal_attention,
                widening_factor=widening_factor,
                dropout=dropout,
                residual_dropout=residual_dropout,
                qkv_bias=qkv_bias,
                out_bias=out_bias,
                mlp_bias=mlp_bias,
            )
            for _ in range(num_layers)
        ]
        super().__init__(layers)
        self.num_rotary_layers = num_layers if num_rotary_layers == -1 else num_rotary_layers
        self.activation_checkpointing = activation_checkpointing

    def forward(
        self,
        x: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        rot_pos_emb: RotaryPositionEmbedding | None = None,
        kv_caches: Sequence[KVCache] | None = None,
    ) -> torch.Tensor:
        if kv_caches is not None and len(kv_caches) != len(self):
            raise ValueError(f"kv_caches has {len(kv_caches)} entries for {len(self)} layers")
        for i, layer in enumerate(self):
            rot = rot_pos_emb if i < self.num_rotary_layers else None
            cache = None if kv_caches is None else kv_caches[i]
            x = run_layer(layer, self.activation_checkpointing, x, pad_mask, rot, cache)
        return x
