"""The two graphs of a Perceiver AR: a prefill over a window of tokens and a cached decoding
step, with the KV cache as explicit inputs and outputs.

The graphs run the model's own forward pass: a :class:`GraphKVCache` has the interface of
:class:`~perceiver.model.core.KVCache` but, instead of writing new keys into a buffer in place,
concatenates them to the cached ones, and the graph returns the result (the "present" keys and
values) for the next step to take as its "past".

Prefill: ``input_ids`` (b, n), ``attention_mask`` (b, n) (1 = token, 0 = left padding) ->
``logits`` (b, v) of the next token, ``next_positions`` (b,), ``present_cross_key`` /
``present_cross_value`` (b, h, n, d) and ``present_self_key_{i}`` / ``present_self_value_{i}``
(b, h, l, d) for each self-attention layer i. The last ``num_latents`` tokens are the latents
(``num_latents`` is fixed when the graph is exported).

Decoding step: ``input_ids`` (b, 1), ``positions`` (b,) (the new token's position, the prefill's
``next_positions`` plus the steps since), ``past_attention_mask`` (b, m) of the cached tokens, and
the past keys and values ``past_cross_key`` ... (m cached tokens, l cached latents) -> ``logits``
(b, v) and the present keys and values (m + 1 tokens, l + 1 latents).

Shapes: b batch, n tokens, m cached tokens, l latents, h heads, d channels per head, v vocabulary.
"""

from __future__ import annotations

import torch
from torch import nn

from perceiver.hf.onnx._graphs import GraphSpec, dim, example_sizes
from perceiver.model.core.perceiver_ar import PerceiverARCache
from perceiver.model.text.clm import CausalLanguageModel


class GraphKVCache:
    """:class:`~perceiver.model.core.KVCache`'s interface over explicit tensors.

    ``pad_mask`` (b, m + new keys), True = padding, covers the cached keys and the keys a step
    appends (a graph knows it before the model runs); without cached keys the mask that comes
    with the new keys is used.
    """

    def __init__(
        self,
        k: torch.Tensor | None = None,
        v: torch.Tensor | None = None,
        pad_mask: torch.Tensor | None = None,
    ) -> None:
        self.k, self.v, self.pad_mask = k, v, pad_mask

    @property
    def length(self):  # an int, or a symbolic size while exporting
        return 0 if self.k is None else self.k.shape[2]

    def append(
        self, k: torch.Tensor, v: torch.Tensor, pad_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if self.k is not None:
            k = torch.cat([self.k, k], dim=2)  # (b, h, m + n, d)
            v = torch.cat([self.v, v], dim=2)
            pad_mask = self.pad_mask
        self.k, self.v = k, v
        return k, v, pad_mask


class GraphCache(PerceiverARCache):
    """A Perceiver AR cache of :class:`GraphKVCache` entries, whose lengths may be symbolic."""

    @property
    def length(self):
        return self.cross_attention.length

    @property
    def num_latents(self):
        return self.self_attention[0].length

    def tensors(self) -> list[torch.Tensor]:
        """Keys and values: cross-attention's, then each self-attention layer's."""
        caches = [self.cross_attention, *self.self_attention]
        return [t for cache in caches for t in (cache.k, cache.v)]


def cache_names(prefix: str, num_layers: int) -> list[str]:
    names = [f"{prefix}_cross_key", f"{prefix}_cross_value"]
    for i in range(num_layers):
        names += [f"{prefix}_self_key_{i}", f"{prefix}_self_value_{i}"]
    return names


class PrefillGraph(nn.Module):
    def __init__(self, model: CausalLanguageModel, num_latents: int) -> None:
        super().__init__()
        self.model = model
        self.num_latents = num_latents
        self.num_layers = len(model.perceiver_ar.self_attn)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        cache = GraphCache(GraphKVCache(), [GraphKVCache() for _ in range(self.num_layers)])
        prefix_len = input_ids.shape[1] - self.num_latents
        logits = self.model(input_ids, prefix_len, attention_mask == 0, cache)[:, -1]  # (b, v)
        return logits, cache.next_positions, *cache.tensors()


class StepGraph(nn.Module):
    def __init__(self, model: CausalLanguageModel) -> None:
        super().__init__()
        self.model = model
        self.num_layers = len(model.perceiver_ar.self_attn)

    def forward(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor,
        past_attention_mask: torch.Tensor,
        *past: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        new = torch.zeros_like(past_attention_mask[:, :1], dtype=torch.bool)  # the new token is no padding
        pad_mask = torch.cat([past_attention_mask == 0, new], dim=1)  # (b, m + 1)
        num_latents = past[2].shape[2] + 1
        cache = GraphCache(
            GraphKVCache(past[0], past[1], pad_mask),
            [
                GraphKVCache(past[2 + 2 * i], past[3 + 2 * i], pad_mask[:, -num_latents:])
                for i in range(self.num_layers)
            ],
            next_positions=positions,
        )
        logits = self.model(input_ids, 0, None, cache)[:, -1]  # (b, v)
        return logits, *cache.tensors()


def prefill_spec(model: CausalLanguageModel, num_latents: int) -> GraphSpec:
    num_layers = len(model.perceiver_ar.self_attn)
    b, n = example_sizes((1, 1 << 16), (num_latents, model.max_seq_len))
    batch = dim("batch", 1, None)
    seq = dim("sequence", num_latents, model.max_seq_len)
    shapes = {0: batch} if seq is None else {0: batch, 1: seq}
    return GraphSpec(
        PrefillGraph(model, num_latents),
        (torch.zeros(b, n, dtype=torch.long), torch.ones(b, n, dtype=torch.long)),
        ["input_ids", "attention_mask"],
        ["logits", "next_positions", *cache_names("present", num_layers)],
        (shapes, shapes),
    )


def step_spec(model: CausalLanguageModel) -> GraphSpec:
    num_layers = len(model.perceiver_ar.self_attn)
    b, lat, m = example_sizes((1, 1 << 16), (1, model.max_latents - 1), (1, model.max_seq_len - 1))
    keys = _cache_examples(model, b, max(m, lat), lat)
    batch = dim("batch", 1, None)
    past = dim("past", 1, model.max_seq_len - 1)
    latents = dim("past_latents", 1, model.max_latents - 1)

    def shape(*dims):
        return {i: d for i, d in enumerate(dims) if d is not None}

    cache_shapes = [shape(batch, None, past), shape(batch, None, past)]
    cache_shapes += [shape(batch, None, latents)] * (2 * num_layers)
    return GraphSpec(
        StepGraph(model),
        (
            torch.zeros(b, 1, dtype=torch.long),
            torch.full((b,), max(m, lat), dtype=torch.long),
            torch.ones(b, max(m, lat), dtype=torch.long),
            *keys,
        ),
        ["input_ids", "positions", "past_attention_mask", *cache_names("past", num_layers)],
        ["logits", *cache_names("present", num_layers)],
        (shape(batch), shape(batch), shape(batch, past), tuple(cache_shapes)),  # *past: one entry
    )


def _cache_examples(model: CausalLanguageModel, b: int, m: int, latents: int) -> list[torch.Tensor]:
    """Example past keys and values: the model's own cache after a prefill of m tokens whose
    last ``latents`` are latents (so their head counts, head sizes and dtype are the model's)."""
    cache = GraphCache(GraphKVCache(), [GraphKVCache() for _ in model.perceiver_ar.self_attn])
    with torch.no_grad():
        model(torch.zeros(b, m, dtype=torch.long), m - latents, None, cache)
    return cache.tensors()
