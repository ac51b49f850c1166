"""A plain-PyTorch GPT, the reference for the small Perceiver AR's training step.

Decoder-only transformer in about forty lines: token and learned position embeddings, pre-LN
blocks (causal self-attention through ``F.scaled_dot_product_attention``, GELU MLP), a final
layer norm and an output projection tied to the token embedding. Nothing in it checks its
inputs or saves memory: it is what a user writes by hand, and what a training step of the same
width, depth and number of predicted tokens costs without a framework.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GPT"]


class _Block(nn.Module):
    def __init__(self, width: int, heads: int, widening: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.fc1, self.fc2 = nn.Linear(width, widening * width), nn.Linear(widening * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, n, c)
        q, k, v = self.qkv(self.ln1(x)).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (b, h, n, d)
        x = x + self.proj(o.transpose(1, 2).flatten(2))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class GPT(nn.Module):
    """``GPT(vocab_size, seq_len, width, depth, heads)(tokens (b, n))`` -> logits (b, n, vocab_size)."""

    def __init__(
        self, vocab_size: int, seq_len: int, width: int, depth: int, heads: int, widening: int = 4
    ) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab_size, width)
        self.pos = nn.Embedding(seq_len, width)
        self.blocks = nn.Sequential(*(_Block(width, heads, widening) for _ in range(depth)))
        self.ln = nn.LayerNorm(width)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok(tokens) + self.pos.weight[: tokens.shape[1]]
        return self.ln(self.blocks(x)) @ self.tok.weight.t()
