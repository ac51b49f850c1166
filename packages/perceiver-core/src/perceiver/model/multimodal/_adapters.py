"""Input adapter and query provider of the multimodal (video + audio + label) autoencoder.

Shapes: b batch, t frames, c image channels, h height, w width, s audio samples, k classes,
C common channel count, n queries. Modalities are always ordered audio, image, label.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from perceiver.model.core import InputAdapter, QueryProvider

__all__ = ["MODALITIES", "MultimodalInputAdapter", "MultimodalQueryProvider", "fourier_features"]

MODALITIES = ("audio", "image", "label")


def fourier_features(coords: torch.Tensor, num_bands: int, max_resolution: tuple[int, ...]) -> torch.Tensor:
    """Fourier features [coords, sin, cos] (n, N + 2 * N * B) of coordinates (n, N) in [-1, 1].

    The layout of :class:`perceiver.model.core.FourierPositionEncoding`, for arbitrary points.
    """
    freqs = torch.stack(
        [torch.linspace(1.0, res / 2, steps=num_bands, device=coords.device) for res in max_resolution]
    )  # (N, B)
    features = (coords[:, :, None] * freqs[None]).flatten(1)  # (n, N * B)
    return torch.cat([coords, torch.sin(math.pi * features), torch.cos(math.pi * features)], dim=-1)


def grid_coords(index_dims: tuple[int, ...], indices: torch.Tensor) -> torch.Tensor:
    """Coordinates (n, N) = -1 + 2 * i / size of flat ``indices`` into a grid of ``index_dims``."""
    pos = torch.stack(torch.unravel_index(indices, index_dims), dim=1)  # (n, N) integer
    return -1 + 2 * pos / torch.tensor(index_dims, device=indices.device)


def _linspace_grid(index_dims: tuple[int, ...]) -> torch.Tensor:
    axes = [torch.linspace(-1.0, 1.0, steps=size) for size in index_dims]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(index_dims))  # (n, N)


class MultimodalInputAdapter(InputAdapter):
    """Inputs {"audio": (b, s) or (b, s, 1), "image": (b, t, c, h, w), "label": (b, k)} -> (b, m, C).

    Audio is cut into patches of ``audio_samples_per_patch`` samples with 1-d Fourier features;
    video into ``image_patch_size``-squared patches per frame with 3-d Fourier features; the label
    is one position. Each modality is padded to C channels with a learned per-modality vector and,
    with its ``mask_probs`` probability, replaced per position by a learned mask token.
    """

    def __init__(
        self,
        *,
        num_frames: int,
        image_shape: tuple[int, int, int],
        image_patch_size: int,
        image_num_frequency_bands: int,
        audio_samples_per_frame: int,
        audio_samples_per_patch: int,
        audio_num_frequency_bands: int,
        num_classes: int,
        min_padding_size: int,
        mask_probs: dict[str, float],
    ) -> None:
        c, h, w = image_shape
        self.num_audio_samples = num_frames * audio_samples_per_frame
        self.audio_samples_per_patch = audio_samples_per_patch
        self.image_patch_size = image_patch_size
        self.video_shape = (num_frames, c, h, w)
        self.num_classes = num_classes
        audio_grid = (self.num_audio_samples // audio_samples_per_patch,)
        image_grid = (num_frames, h // image_patch_size, w // image_patch_size)
        self._encoding_args = {
            "audio": (audio_grid, audio_num_frequency_bands, (self.num_audio_samples,)),
            "image": (image_grid, image_num_frequency_bands, (num_frames, h, w)),
        }
        encodings = self._position_encodings()
        channels = {
            "audio": audio_samples_per_patch + encodings["audio"].shape[1],
            "image": c * image_patch_size**2 + encodings["image"].shape[1],
            "label": num_classes,
        }
        num_channels = max(channels.values()) + min_padding_size
        super().__init__(num_channels)
        self.modality_sizes = {"audio": audio_grid[0], "image": math.prod(image_grid), "label": 1}
        self.mask_probs = dict(mask_probs)
        self.register_buffer("audio_position_encoding", encodings["audio"], persistent=False)
        self.register_buffer("image_position_encoding", encodings["image"], persistent=False)
        self.padding = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(1, num_channels - channels[m]) * 0.02) for m in MODALITIES}
        )
        self.mask_token = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(1, num_channels) * 0.02) for m in MODALITIES}
        )

    def _position_encodings(self) -> dict[str, torch.Tensor]:
        return {
            modality: fourier_features(_linspace_grid(grid), num_bands, max_resolution)
            for modality, (grid, num_bands, max_resolution) in self._encoding_args.items()
        }

    @torch.no_grad()
    def reset_buffers(self) -> None:
        """Recompute the (non-persistent) Fourier features, e.g. after building on the meta device."""
        encodings = self._position_encodings()
        self.audio_position_encoding.copy_(encodings["audio"])
        self.image_position_encoding.copy_(encodings["image"])

    def _audio(self, audio: torch.Tensor) -> torch.Tensor:
        x = audio.reshape(audio.shape[0], -1, self.audio_samples_per_patch)  # (b, s / p, p)
        pos = self.audio_position_encoding.to(x.dtype).expand(x.shape[0], -1, -1)
        return torch.cat([x, pos], dim=-1)

    def _image(self, video: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = video.shape
        p = self.image_patch_size
        x = video.reshape(b, t, c, h // p, p, w // p, p)
        x = x.permute(0, 1, 3, 5, 4, 6, 2)  # (b, t, h / p, w / p, p, p, c)
        x = x.reshape(b, t * (h // p) * (w // p), p * p * c)  # (b, m_image, p * p * c)
        pos = self.image_position_encoding.to(x.dtype).expand(b, -1, -1)
        return torch.cat([x, pos], dim=-1)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = {
            "audio": self._audio(inputs["audio"]),
            "image": self._image(inputs["image"]),
            "label": inputs["label"][:, None, :],  # (b, 1, k)
        }
        padded = []
        for modality in MODALITIES:
            x = parts[modality]  # (b, n, c_modality)
            b, n, c = x.shape
            pad = self.padding[modality].expand(b, n, self.num_input_channels - c)
            x = torch.cat([x, pad], dim=-1)  # (b, n, C)
            p = self.mask_probs.get(modality, 0.0)
            if p >= 1.0:  # always masked (the label, at inference): nothing to draw
                x = self.mask_token[modality].expand(b, n, -1)
            elif p > 0.0:
                mask = torch.bernoulli(torch.full((b, n, 1), p, device=x.device, dtype=x.dtype))
                x = (1 - mask) * x + mask * self.mask_token[modality]
            padded.append(x)
        return torch.cat(padded, dim=1)  # (b, m_audio + m_image + 1, C)


class MultimodalQueryProvider(QueryProvider):
    """Queries for (a subset of) the audio patches, video pixels and the label: (b|1, n, C_q).

    Audio and video queries are Fourier features of the output points (positions
    ``-1 + 2 * i / size``, as the official model computes them for subsampled decoding), the
    label query is learned; each is padded to C_q channels with a learned per-modality vector.
    """

    def __init__(
        self,
        *,
        num_frames: int,
        image_shape: tuple[int, int, int],
        image_num_frequency_bands: int,
        num_audio_samples: int,
        audio_samples_per_patch: int,
        audio_num_frequency_bands: int,
        num_label_query_channels: int,
        min_padding_size: int,
    ) -> None:
        _, h, w = image_shape
        self.audio_index_dims = (num_audio_samples // audio_samples_per_patch,)
        self.image_index_dims = (num_frames, h, w)
        self.audio_bands, self.audio_resolution = audio_num_frequency_bands, (num_audio_samples,)
        self.image_bands, self.image_resolution = image_num_frequency_bands, self.image_index_dims
        channels = {
            "audio": 1 + 2 * audio_num_frequency_bands,
            "image": 3 + 6 * image_num_frequency_bands,
            "label": num_label_query_channels,
        }
        num_channels = max(channels.values()) + min_padding_size
        super().__init__(num_channels)
        self.num_points = {
            "audio": self.audio_index_dims[0],
            "image": math.prod(self.image_index_dims),
            "label": 1,
        }
        self.label_query = nn.Parameter(torch.randn(1, num_label_query_channels) * 0.02)
        self.padding = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(1, num_channels - channels[m]) * 0.02) for m in MODALITIES}
        )

    def points(
        self, subsampled_output_points: dict[str, torch.Tensor | None] | None
    ) -> dict[str, torch.Tensor]:
        """Flat output indices per modality; all of them where none are given."""
        given = subsampled_output_points or {}
        points = {}
        for modality in ("audio", "image"):
            idx = given.get(modality)
            if idx is None:
                idx = torch.arange(self.num_points[modality], device=self.label_query.device)
            points[modality] = idx
        return points

    def queries(self, points: dict[str, torch.Tensor]) -> torch.Tensor:
        audio = fourier_features(
            grid_coords(self.audio_index_dims, points["audio"]), self.audio_bands, self.audio_resolution
        )
        image = fourier_features(
            grid_coords(self.image_index_dims, points["image"]), self.image_bands, self.image_resolution
        )
        parts = {"audio": audio, "image": image, "label": self.label_query}
        dtype = self.label_query.dtype
        padded = [
            torch.cat([parts[m].to(dtype), self.padding[m].expand(parts[m].shape[0], -1)], dim=-1)
            for m in MODALITIES
        ]
        return torch.cat(padded, dim=0).unsqueeze(0)  # (1, n, C_q)

    def forward(self, x_adapted: torch.Tensor | None = None) -> torch.Tensor:
        return self.queries(self.points(None))
