"""Position encodings: N-d Fourier features, learned positions and rotary embeddings.

Shapes: b batch, n positions, c channels, h heads, d channels per head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from perceiver.model.core._validation import check_int, check_positive_int

__all__ = [
    "FourierPositionEncoding",
    "FrequencyPositionEncoding",
    "RotaryPositionEmbedding",
    "TrainablePositionEncoding",
    "positions",
    "rotary_channels",
]


def positions(
    pad_mask: torch.Tensor | None = None,
    batch_size: int | None = None,
    seq_len: int | None = None,
    device=None,
    *,
    shift: torch.Tensor | None = None,
    b: int | None = None,
    n: int | None = None,
) -> torch.Tensor:
    """Integer positions (b, n) that start at each sequence's first real token.

    With left padding the pad tokens get position 0 and the first real token position 0 too,
    so a padded sequence sees the same positions as the unpadded one.

    Raises:
        TypeError: krasserm/perceiver-io 0.11's call ``positions(b, n, shift=None, device=None)``;
            the message gives the call that replaces it.
    """
    old_call = shift is not None or b is not None or n is not None
    if old_call or (isinstance(pad_mask, int) and not isinstance(pad_mask, bool)):
        raise TypeError(
            "positions(b, n, shift=None, device=None) is krasserm/perceiver-io 0.11's signature; "
            "use positions(pad_mask, batch_size, seq_len, device): positions(None, b, n, device) "
            "without padding, and for left padding (0.11's shift, the number of pad tokens) the "
            "pad mask (b, n), True at padding, e.g. torch.arange(n) < shift"
        )
    if batch_size is None or seq_len is None:
        raise TypeError("positions() needs batch_size and seq_len: positions(pad_mask, batch_size, seq_len)")
    if pad_mask is None:
        return torch.arange(seq_len, device=device).expand(batch_size, -1)
    return ((~pad_mask).cumsum(dim=1) - 1).clamp(min=0)


class FourierPositionEncoding(nn.Module):
    """Fixed Fourier features of an N-d grid, as in Perceiver and Perceiver IO.

    Grid coordinates are ``linspace(-1, 1)`` per dimension. The feature vector of a position is
    ``[coords (N)] + [sin(pi * coords_i * f_ib)] + [cos(...)]`` with frequencies
    ``f_ib = linspace(1, max_resolution_i / 2, num_frequency_bands)``, dimension-major.

    Args:
        input_shape: grid shape, e.g. (height, width).
        num_frequency_bands: frequency bands per dimension.
        max_resolution: resolution that sets the highest frequency (default: ``input_shape``).
        concat_pos: prepend the raw coordinates.
        sine_only: sine features only.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_frequency_bands: int,
        *,
        max_resolution: tuple[int, ...] | None = None,
        concat_pos: bool = True,
        sine_only: bool = False,
    ) -> None:
        super().__init__()
        for i, size in enumerate(input_shape):
            check_positive_int(f"input_shape[{i}]", size)
        check_positive_int("num_frequency_bands", num_frequency_bands)
        max_resolution = tuple(max_resolution or input_shape)
        if len(max_resolution) != len(input_shape):
            raise ValueError(
                f"max_resolution {max_resolution} must have one entry per input dim {input_shape}"
            )
        self.input_shape = tuple(input_shape)
        self.num_frequency_bands = num_frequency_bands
        self._encoding_args = (self.input_shape, num_frequency_bands, max_resolution, concat_pos, sine_only)
        self.register_buffer("position_encoding", self._encode(*self._encoding_args), persistent=False)

    @torch.no_grad()
    def reset_buffers(self) -> None:
        """Recompute the (non-persistent) features, e.g. after the module was built on the meta device."""
        self.position_encoding.copy_(self._encode(*self._encoding_args))

    @staticmethod
    def _encode(shape, num_bands, max_resolution, concat_pos, sine_only) -> torch.Tensor:
        axes = [torch.linspace(-1.0, 1.0, steps=size) for size in shape]
        coords = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(shape))  # (n, N)
        freqs = torch.stack(
            [torch.linspace(1.0, res / 2, steps=num_bands) for res in max_resolution]
        )  # (N, B)
        features = (coords[:, :, None] * freqs[None]).reshape(coords.shape[0], -1)  # (n, N * B)
        parts = [torch.sin(math.pi * features)]
        if not sine_only:
            parts.append(torch.cos(math.pi * features))
        if concat_pos:
            parts.insert(0, coords)
        return torch.cat(parts, dim=-1)

    @property
    def num_position_encoding_channels(self) -> int:
        return self.position_encoding.shape[-1]

    def forward(self, batch_size: int) -> torch.Tensor:
        check_int("batch_size", batch_size, minimum=0)
        # a broadcast view (stride 0 over the batch), no copy: (b, n, c)
        return self.position_encoding.unsqueeze(0).expand(batch_size, -1, -1)


class TrainablePositionEncoding(nn.Module):
    """Learned position embeddings for up to ``max_seq_len`` positions."""

    def __init__(self, max_seq_len: int, num_channels: int) -> None:
        super().__init__()
        check_positive_int("max_seq_len", max_seq_len)
        check_positive_int("num_channels", num_channels)
        self.max_seq_len = max_seq_len
        self.position_embedding = nn.Parameter(torch.empty(max_seq_len, num_channels))
        nn.init.normal_(self.position_embedding, std=0.02)

    def forward(self, positions: torch.Tensor | int) -> torch.Tensor:
        """Embeddings of ``positions`` (b, n) -> (b, n, c), or of the first n positions -> (n, c)."""
        if not isinstance(positions, torch.Tensor):
            check_int("positions", positions, minimum=0)
            if positions > self.max_seq_len:
                raise ValueError(f"sequence length {positions} exceeds max_seq_len ({self.max_seq_len})")
            return self.position_embedding[:positions]
        return F.embedding(positions, self.position_embedding)  # backward: a dense index-add


def rotary_channels(head_dim: int, fraction: float = 1.0) -> tuple[int, int]:
    """(channels rotated per head, ``frequency_dim`` of their frequencies) of rotary embedding
    over ``fraction`` of each head's ``head_dim`` channels.

    ``n = int(head_dim * fraction)`` channels are to rotate, in pairs. An even n rotates n
    channels at frequencies ``base^(-2i/n)``. An odd n is rounded up to the next pair, n + 1
    channels, whose frequencies keep n as their scale: krasserm/perceiver-io 0.11's rule, so
    that its models convert with identical outputs (e.g. 6 channels per head with an absolute
    position embedding: n = 3, 4 channels rotate at ``base^0`` and ``base^(-2/3)``). Where the
    head has no room for the extra channel (n = head_dim, odd), n - 1 channels rotate at
    frequencies scaled by n - 1.

    Raises:
        ValueError: no channel pair to rotate (a head of one channel).
    """
    check_positive_int("head_dim", head_dim)
    n = int(head_dim * fraction)
    if n % 2 == 0:
        rotated, scale = n, n
    elif n < head_dim:
        rotated, scale = n + 1, n
    else:
        rotated, scale = n - 1, n - 1
    if rotated == 0:
        raise ValueError(f"{head_dim} channels per head leave no channel pair for rotary embedding")
    return rotated, scale


class FrequencyPositionEncoding(nn.Module):
    """Rotation angles of rotary position embedding for integer positions.

    Channels come in interleaved pairs (2i, 2i+1) that share the frequency
    ``base^(-2i/frequency_dim)``; ``frequency_dim`` is ``dim`` unless given (see
    :func:`rotary_channels`).
    """

    def __init__(self, dim: int, base: float = 10000.0, *, frequency_dim: int | None = None) -> None:
        super().__init__()
        check_positive_int("dim", dim)
        if dim % 2:
            raise ValueError(f"dim must be even for rotary pairs, got {dim}")
        if frequency_dim is not None:
            check_positive_int("frequency_dim", frequency_dim)
        self.dim, self.base = dim, base
        self.frequency_dim = dim if frequency_dim is None else frequency_dim
        self.register_buffer("inv_freq", self._inv_freq(), persistent=False)

    def _inv_freq(self) -> torch.Tensor:
        return self.base ** (-torch.arange(0, self.dim, 2, dtype=torch.float32) / self.frequency_dim)

    @torch.no_grad()
    def reset_buffers(self) -> None:
        """Recompute the (non-persistent) frequencies, e.g. after the module was built on the meta device."""
        self.inv_freq.copy_(self._inv_freq())

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        angles = positions.to(self.inv_freq.dtype)[..., None] * self.inv_freq  # (b, n, dim / 2)
        return angles.repeat_interleave(2, dim=-1)  # (b, n, dim)


class RotaryPositionEmbedding:
    """Rotates the first ``dim`` channels of every head of q or k by position-dependent angles.

    Built once per forward pass from angles (b, n, dim) and shared by every layer that uses it.
    """

    def __init__(self, angles: torch.Tensor) -> None:
        self.dim = angles.shape[-1]
        angles = angles.unsqueeze(1)  # (b, 1, n, dim): broadcast over heads
        self.cos = angles.cos()
        self.sin = angles.sin()
        # sin with the sign of each pair's rotation folded in: (-sin, +sin) per pair (2i, 2i+1)
        sin_pairs = self.sin.unflatten(-1, (-1, 2))
        self._signed_sin = torch.stack((-sin_pairs[..., 0], sin_pairs[..., 1]), dim=-1).flatten(-2)

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        """x: (b, h, n, d) with d >= dim."""
        if x.shape[-1] < self.dim:
            raise ValueError(f"rotary dim {self.dim} exceeds the {x.shape[-1]} channels per head")
        x_rot, x_pass = x[..., : self.dim], x[..., self.dim :]
        # each pair (x0, x1) becomes (x0 cos - x1 sin, x1 cos + x0 sin): the swapped pair
        # (x1, x0) times (-sin, +sin), the same products as negating x1 (negation is exact), in
        # three elementwise operators where selecting, negating and stacking took five
        swapped = x_rot.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)  # (b, h, n, dim)
        x_rot = x_rot * self.cos.to(x.dtype) + swapped * self._signed_sin.to(x.dtype)
        return torch.cat((x_rot, x_pass), dim=-1) if x_pass.shape[-1] else x_rot
