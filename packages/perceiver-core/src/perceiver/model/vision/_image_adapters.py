"""Input adapters of the official image classifiers: images (b, c, h, w) -> (b, m, c_in).

Shapes: b batch, c image channels, h height, w width, m = number of positions after the stem,
k stem output channels, p position channels.

- :class:`FourierImageInputAdapter` (vision-perceiver-fourier): raw pixels, concatenated with
  2-d Fourier features of the pixel grid.
- :class:`LearnedImageInputAdapter` (vision-perceiver-learned): a 1x1 convolution, concatenated
  with learned position embeddings passed through a linear projection.
- :class:`ConvImageInputAdapter` (vision-perceiver-conv): a 7x7/2 convolution, batch norm, ReLU
  and 3x3/2 max pooling (4x downsampling), concatenated with Fourier features of the output grid.

The Fourier and conv adapters take images of any size (as DeepMind's models do): the Fourier
features are those of the input's grid, with the frequencies of ``max_resolution``; the
configured ``image_shape`` only sets the grid whose features are precomputed. The learned
adapter has one embedding per position of ``image_shape`` and takes only that size.
"""

from __future__ import annotations

import torch
from torch import nn

from perceiver.model.core import FourierPositionEncoding, InputAdapter, TrainablePositionEncoding

__all__ = [
    "ConvImageInputAdapter",
    "FourierImageInputAdapter",
    "LearnedImageInputAdapter",
    "conv_stem_output_shape",
]


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1).flatten(1, 2)  # (b, k, h, w) -> (b, h * w, k)


def _grid_features(encoding: FourierPositionEncoding, grid: tuple[int, int], x: torch.Tensor) -> torch.Tensor:
    """Fourier features (b, h * w, p) of ``grid``: the precomputed ones for the configured grid,
    else computed for this grid (same frequencies) on ``x``'s device and dtype."""
    if grid == encoding.input_shape:
        return encoding(x.shape[0])
    _, num_bands, max_resolution, concat_pos, sine_only = encoding._encoding_args
    features = encoding._encode(grid, num_bands, max_resolution, concat_pos, sine_only)  # (h * w, p)
    return features.to(device=x.device, dtype=encoding.position_encoding.dtype).expand(x.shape[0], -1, -1)


def conv_stem_output_shape(height: int, width: int) -> tuple[int, int]:
    """Spatial shape after the conv stem: 7x7/2 'same'-padded convolution, 3x3/2 max pooling."""

    def size(n: int) -> int:
        n = (n + 2 * 3 - 7) // 2 + 1  # convolution
        return (n - 3) // 2 + 1  # max pooling

    return size(height), size(width)


class FourierImageInputAdapter(InputAdapter):
    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int],
        num_frequency_bands: int,
        max_resolution: tuple[int, int] | None = None,
    ) -> None:
        channels, height, width = image_shape
        position_encoding = FourierPositionEncoding(
            (height, width), num_frequency_bands, max_resolution=max_resolution
        )
        super().__init__(channels + position_encoding.num_position_encoding_channels)
        self.position_encoding = position_encoding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = tuple(x.shape[2:])
        x = _channels_last(x)  # (b, h * w, c)
        return torch.cat([x, _grid_features(self.position_encoding, grid, x)], dim=-1)  # (b, m, c + p)


class LearnedImageInputAdapter(InputAdapter):
    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int],
        num_conv_channels: int,
        num_position_channels: int,
    ) -> None:
        channels, height, width = image_shape
        super().__init__(num_conv_channels + num_position_channels)
        self.num_positions = height * width
        self.conv = nn.Conv2d(channels, num_conv_channels, kernel_size=1)
        self.position_encoding = TrainablePositionEncoding(height * width, num_position_channels)
        self.position_projection = nn.Linear(num_position_channels, num_position_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _channels_last(self.conv(x))  # (b, m, k)
        pos = self.position_projection(self.position_encoding(self.num_positions))  # (m, p)
        return torch.cat([x, pos.expand(x.shape[0], -1, -1)], dim=-1)  # (b, m, k + p)


class ConvImageInputAdapter(InputAdapter):
    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int],
        num_conv_channels: int,
        num_frequency_bands: int,
        max_resolution: tuple[int, int] | None = None,
    ) -> None:
        channels, height, width = image_shape
        grid = conv_stem_output_shape(height, width)
        if min(grid) < 1:
            raise ValueError(f"image_shape {image_shape} is too small for the conv stem")
        position_encoding = FourierPositionEncoding(grid, num_frequency_bands, max_resolution=max_resolution)
        super().__init__(num_conv_channels + position_encoding.num_position_encoding_channels)
        # a 7x7 kernel with stride 2 and 'same' padding pads 3 on every side
        self.conv = nn.Conv2d(channels, num_conv_channels, kernel_size=7, stride=2, padding=3, bias=False)
        self.batch_norm = nn.BatchNorm2d(num_conv_channels)
        self.relu = nn.ReLU()
        self.max_pool = nn.MaxPool2d(kernel_size=3, stride=2)
        self.position_encoding = position_encoding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2:]
        if min(conv_stem_output_shape(height, width)) < 1:
            raise ValueError(
                f"images of {height} x {width} pixels are too small for the conv stem (7 x 7 at least)"
            )
        x = self.max_pool(self.relu(self.batch_norm(self.conv(x))))  # (b, k, h / 4, w / 4)
        grid = tuple(x.shape[2:])
        x = _channels_last(x)  # (b, m, k)
        return torch.cat([x, _grid_features(self.position_encoding, grid, x)], dim=-1)  # (b, m, k + p)
