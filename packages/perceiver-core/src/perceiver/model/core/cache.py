"""Key/value cache for incremental decoding.

Buffers are allocated once, at the capacity the model needs (``max_seq_len`` keys for Perceiver
AR cross-attention, ``max_latents`` for its self-attention), and new keys are written in place:
a decoding step never copies the keys already cached. Keys enter the cache already rotated, so
rotary embedding is applied once per key, not once per step.

Shapes: b batch, h heads, m cached keys, d channels per head.
"""

from __future__ import annotations

import torch

from perceiver.model.core._validation import check_int

__all__ = ["KVCache"]


class KVCache:
    def __init__(self, capacity: int) -> None:
        check_int("capacity", capacity)
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.length = 0
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self._pad: torch.Tensor | None = None
        self._has_padding = False

    def __len__(self) -> int:
        return self.length

    def reset(self) -> None:
        """Empty the cache, keeping its buffers for reuse."""
        self.length = 0
        self._has_padding = False

    def drop_last(self, n: int) -> None:
        """Forget the last ``n`` cached keys (and values): the next ``append`` overwrites them."""
        check_int("n", n, minimum=0)
        if n > self.length:
            raise ValueError(f"cannot drop {n} keys from a cache holding {self.length}")
        self.length -= n

    def append(
        self, k: torch.Tensor, v: torch.Tensor, pad_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Write k, v (b, h, m, d) and their pad mask (b, m) after the cached keys.

        Returns views of all keys, values and the pad mask so far (the mask is None when no
        key is padding).
        """
        if k.dim() != 4 or v.dim() != 4 or k.shape[:3] != v.shape[:3]:
            raise ValueError(
                f"k and v must have shape (batch, heads, keys, channels), got {tuple(k.shape)} and {tuple(v.shape)}"
            )
        b, h, m, _ = k.shape
        start, end = self.length, self.length + m
        if end > self.capacity:
            raise ValueError(f"KV cache capacity ({self.capacity}) exceeded: {start} cached + {m} new keys")
        if self._k is None or self._k.shape[0] != b or self._k.dtype != k.dtype or self._k.device != k.device:
            if start:
                raise ValueError(f"batch size {b} does not match the cached batch size {self._k.shape[0]}")
            # one slot more than the capacity: the views returned below then never span a whole
            # buffer, so compiled decoding needs no separate code for a full cache
            self._k = k.new_empty(b, h, self.capacity + 1, k.shape[-1])
            self._v = v.new_empty(b, h, self.capacity + 1, v.shape[-1])
            self._pad = torch.zeros(b, self.capacity + 1, dtype=torch.bool, device=k.device)
        self._k[:, :, start:end] = k
        self._v[:, :, start:end] = v
        # the pad buffer is written only once some key is padding; until then it is stale
        if pad_mask is not None and not self._has_padding and bool(pad_mask.any()):
            self._pad[:, :start] = False
            self._has_padding = True
        if self._has_padding:
            self._pad[:, start:end] = False if pad_mask is None else pad_mask
        self.length = end
        pad = self._pad[:, :end] if self._has_padding else None
        return self._k[:, :, :end], self._v[:, :, :end], pad
