"""A plain-PyTorch Perceiver AR, the like-for-like reference for the small model's training step.

The architecture of ``perceiver.model.text.clm.CausalLanguageModel`` with its defaults, written
the way a user writes it by hand: token and learned position embeddings, prefix dropout (a
random subset of the prefix, in order), one causal cross-attention layer from the latents (the
last tokens) over the kept prefix and the latents, causal self-attention layers, pre-LN, exact
GELU MLPs, and logits from the tied embedding plus a bias. Rotary embedding rotates the first
half of each head's channels (interleaved pairs) in the cross-attention and the first
self-attention layer. Attention runs through ``F.scaled_dot_product_attention``; the q/k/v
projections are fused into one matmul per input (q/k/v in self-attention, k/v in the cross-attention). Nothing is checked and no
memory is saved: the step of the same arithmetic without a framework.

:meth:`PlainPerceiverAR.load_from` copies a ``CausalLanguageModel``'s weights, so that tests can
show the two compute the same function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PlainPerceiverAR"]


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved channel pairs of the first cos.shape[-1] channels of x (b, h, n, d)."""
    r = cos.shape[-1]
    x_rot, x_pass = x[..., :r], x[..., r:]
    x0, x1 = x_rot[..., 0::2], x_rot[..., 1::2]
    c, s = cos[..., 0::2], sin[..., 0::2]
    rotated = torch.stack((x0 * c - x1 * s, x1 * c + x0 * s), dim=-1).flatten(-2)
    return torch.cat((rotated, x_pass), dim=-1)


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int, cross: bool) -> None:
        super().__init__()
        self.heads = heads
        if cross:  # queries from the latents, keys and values from the prefix and the latents
            self.q, self.kv = nn.Linear(width, width), nn.Linear(width, 2 * width)
        else:
            self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, h_q, h_kv, rot_q, rot_k) -> torch.Tensor:  # (b, n, c), (b, m, c)
        b, n, _ = h_q.shape
        if h_kv is None:
            q, k, v = self.qkv(h_q).chunk(3, dim=-1)
        else:
            q, (k, v) = self.q(h_q), self.kv(h_kv).chunk(2, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))  # (b, h, ., d)
        if rot_q is not None:
            q, k = _rotate(q, *rot_q), _rotate(k, *rot_k)
        m = k.shape[2]
        mask = None if n == m else torch.ones(n, m, dtype=torch.bool, device=q.device).tril(m - n)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        return self.out(o.transpose(1, 2).reshape(b, n, -1))


class _Layer(nn.Module):
    def __init__(self, width: int, heads: int, cross: bool) -> None:
        super().__init__()
        self.ln_q, self.ln_kv = nn.LayerNorm(width), (nn.LayerNorm(width) if cross else None)
        self.attn = _Attention(width, heads, cross)
        self.mlp = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x, x_kv=None, rot_q=None, rot_k=None) -> torch.Tensor:
        h = self.ln_q(x)
        x = x + self.attn(h, None if x_kv is None else self.ln_kv(x_kv), rot_q, rot_k)
        return x + self.mlp(x)


class PlainPerceiverAR(nn.Module):
    """``PlainPerceiverAR(vocab_size, max_seq_len, width, depth, heads)(tokens (b, n), prefix_len)``
    -> logits (b, n - prefix_len, vocab_size)."""

    def __init__(
        self,
        vocab_size: int,
        max_seq_len: int,
        width: int,
        depth: int,
        heads: int,
        prefix_dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.prefix_dropout = prefix_dropout
        self.tok, self.pos = nn.Embedding(vocab_size, width), nn.Embedding(max_seq_len, width)
        self.cross = _Layer(width, heads, cross=True)
        self.blocks = nn.ModuleList(_Layer(width, heads, cross=False) for _ in range(depth))
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        rotated = width // heads // 2  # half of each head's channels, in pairs
        self.register_buffer(
            "inv_freq", 10000.0 ** (-torch.arange(0, rotated, 2) / rotated), persistent=False
        )

    def _rot(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        angles = (pos[..., None] * self.inv_freq).repeat_interleave(2, dim=-1)[:, None]  # (b, 1, n, r)
        return angles.cos(), angles.sin()

    def forward(self, tokens: torch.Tensor, prefix_len: int) -> torch.Tensor:
        b, n = tokens.shape
        pos = torch.arange(n, device=tokens.device).expand(b, -1)
        if self.training and self.prefix_dropout > 0:
            keep = int(prefix_len * (1 - self.prefix_dropout))
            kept = (
                torch.rand(b, prefix_len, device=tokens.device).topk(keep, dim=1).indices.sort(dim=1).values
            )
            pos = torch.cat([kept, pos[:, prefix_len:]], dim=1)
            tokens = torch.cat([tokens.gather(1, kept), tokens[:, prefix_len:]], dim=1)
        x_kv = self.tok(tokens) + self.pos(pos)  # (b, m, c)
        num_latents = n - prefix_len
        cos, sin = self._rot(pos.float())
        rot_latent = cos[:, :, -num_latents:], sin[:, :, -num_latents:]
        x = self.cross(x_kv[:, -num_latents:], x_kv, rot_latent, (cos, sin))
        for i, block in enumerate(self.blocks):
            x = block(x, None, *((rot_latent, rot_latent) if i == 0 else (None, None)))
        return x @ self.tok.weight.t() + self.bias

    @torch.no_grad()
    def load_from(self, model: nn.Module) -> PlainPerceiverAR:
        """Copy the weights of a ``CausalLanguageModel`` with default options."""
        ar = model.perceiver_ar
        if not torch.equal(self.inv_freq, ar.frequency_encoding.inv_freq):
            raise ValueError(
                "the model's rotary frequencies differ from this reference's (not its defaults?)"
            )
        self.tok.weight.copy_(ar.input_adapter.txt_embedding.weight)
        self.pos.weight.copy_(ar.input_adapter.pos_embedding.position_embedding)
        self.bias.copy_(model.output_adapter.bias)
        sources = [(ar.cross_attn.cross_attn, ar.cross_attn.mlp)]
        sources += [(layer.self_attn, layer.mlp) for layer in ar.self_attn]
        for target, (attn, mlp) in zip([self.cross, *self.blocks], sources, strict=True):
            target.ln_q.load_state_dict((attn.q_norm if target.ln_kv else attn.norm).state_dict())
            if target.ln_kv is not None:
                target.ln_kv.load_state_dict(attn.kv_norm.state_dict())
            mha = attn.attention
            projections = [mha.q_proj, mha.k_proj, mha.v_proj]
            fused = (
                [(target.attn.q, projections[:1]), (target.attn.kv, projections[1:])] if target.ln_kv else []
            )
            for linear, parts in fused or [(target.attn.qkv, projections)]:
                linear.weight.copy_(torch.cat([p.weight for p in parts]))
                linear.bias.copy_(torch.cat([p.bias for p in parts]))
            target.attn.out.load_state_dict(mha.o_proj.state_dict())
            target.mlp.load_state_dict(mlp.state_dict())
        return self
