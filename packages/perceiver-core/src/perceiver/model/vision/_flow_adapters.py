"""Input adapter, query provider and output adapter of the optical-flow Perceiver IO.

Shapes: b batch, h height, w width, m = h * w pixels, p patch channels (27 = 3 x 3 pixels x 3
colors), k hidden channels, f Fourier channels.
"""

from __future__ import annotations

import torch
from torch import nn

from perceiver.model.core import FourierPositionEncoding, InputAdapter, OutputAdapter, QueryProvider

__all__ = ["FlowInputAdapter", "FlowOutputAdapter", "InputQueryProvider"]


class FlowInputAdapter(InputAdapter):
    """Patches of a frame pair (b, 2, p, h, w) -> (b, m, k + f).

    Each pixel's two patches (frame-major) are projected linearly to k channels and concatenated
    with 2-d Fourier features of the pixel grid.
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int],
        num_patch_input_channels: int,
        num_patch_hidden_channels: int,
        num_frequency_bands: int,
        num_frames: int = 2,
    ) -> None:
        position_encoding = FourierPositionEncoding(tuple(image_shape), num_frequency_bands)
        super().__init__(num_patch_hidden_channels + position_encoding.num_position_encoding_channels)
        self.linear = nn.Linear(num_frames * num_patch_input_channels, num_patch_hidden_channels)
        self.position_encoding = position_encoding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 4, 1, 2).flatten(3).flatten(1, 2)  # (b, 2, p, h, w) -> (b, m, 2 * p)
        x = self.linear(x)  # (b, m, k)
        return torch.cat([x, self.position_encoding(x.shape[0])], dim=-1)  # (b, m, k + f)


class InputQueryProvider(QueryProvider):
    """One query per input position: the adapted input itself (b, m, c_in)."""

    def forward(self, x_adapted: torch.Tensor | None = None) -> torch.Tensor:
        if x_adapted is None:
            raise ValueError("InputQueryProvider needs the adapted input (x_adapted)")
        return x_adapted


class FlowOutputAdapter(OutputAdapter):
    """Decoder output (b, n, c_q) -> flow (b, n, 2), divided by ``rescale_factor``."""

    def __init__(self, num_output_query_channels: int, rescale_factor: float, num_output_channels: int = 2):
        super().__init__()
        self.linear = nn.Linear(num_output_query_channels, num_output_channels)
        self.rescale_factor = rescale_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) / self.rescale_factor
