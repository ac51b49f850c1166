"""Optical-flow file formats and model input: Middlebury `.flo` files, frame-pair patches for the
optical-flow Perceiver and the Middlebury flow colouring.

Imports torch, numpy and perceiver-core only (PIL when an image is read or written), not Lightning
or datasets, so that perceiver-hf's optical-flow pipeline can use it.

Shapes: t = 2 frames, c = 3 channels, h, w = height, width. Flow is (h, w, 2) float32 (u, v) in pixels.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from perceiver.data.vision.image import image_array
from perceiver.model.core.validation import check_int
from perceiver.model.vision.optical_flow import extract_patches as _core_extract_patches

__all__ = [
    "FLO_MAGIC",
    "UNKNOWN_FLOW_THRESHOLD",
    "extract_patches",
    "flow_to_color",
    "preprocess_frame_pair",
    "read_flo",
    "save_flow_image",
    "write_flo",
]

FLO_MAGIC = 202021.25  # float32 whose bytes are b"PIEH"
UNKNOWN_FLOW_THRESHOLD = 1e9


# ------------------------------------------------------------------ .flo files


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Reads a Middlebury `.flo` file: (h, w, 2) float32. Raises ValueError naming the file if malformed."""
    data = Path(path).read_bytes()
    if len(data) < 12 or data[:4] != b"PIEH":
        raise ValueError(f"{path}: not a .flo file (magic {data[:4]!r}, expected b'PIEH')")
    w, h = np.frombuffer(data[4:12], dtype="<i4")
    if w <= 0 or h <= 0:
        raise ValueError(f"{path}: invalid .flo size {w}x{h}")
    expected = 12 + int(w) * int(h) * 2 * 4
    if len(data) != expected:
        raise ValueError(
            f"{path}: .flo header declares {w}x{h} ({expected} bytes) but the file has {len(data)}"
        )
    return np.frombuffer(data[12:], dtype="<f4").reshape(int(h), int(w), 2).astype(np.float32)


def write_flo(path: str | os.PathLike, flow: np.ndarray | torch.Tensor) -> None:
    """Writes (h, w, 2) flow as a Middlebury `.flo` file (exact float32 round trip with `read_flo`)."""
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2 or min(flow.shape) < 1:
        raise ValueError(f"flow must have shape (h, w, 2) with h, w >= 1, got {flow.shape}")
    h, w = flow.shape[:2]
    with open(path, "wb") as f:
        f.write(b"PIEH")
        f.write(np.array([w, h], dtype="<i4").tobytes())
        f.write(flow.astype("<f4").tobytes())


# ------------------------------------------------------------------ model input


def extract_patches(
    frames: torch.Tensor, kernel_size: int = 3, channel_order: Literal["hwc", "chw"] = "hwc"
) -> torch.Tensor:
    """The k x k neighbourhood of every pixel, zero padded: (t, c, h, w) -> (t, k * k * c, h, w).

    `channel_order="hwc"` orders each pixel's features (kh, kw, c), the layout of perceiver-core's
    `perceiver.model.vision.optical_flow.extract_patches` (which owns it), of DeepMind's TensorFlow
    `extract_patches` and of transformers' `space_to_depth`; the official optical-flow Perceiver
    (`deepmind/optical-flow-perceiver`) was trained on it. `"chw"` gives `F.unfold`'s (c, kh, kw).
    """
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4:
        raise ValueError(
            f"frames must be a tensor of shape (t, c, h, w), got {getattr(frames, 'shape', frames)!r}"
        )
    if not frames.is_floating_point():
        raise ValueError(f"frames must be a float tensor, got {frames.dtype}")
    check_int("kernel_size", kernel_size, 1)
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size ({kernel_size}) must be odd")
    if channel_order == "hwc":
        # core's function takes frame pairs (b, c, h, w) x 2; each frame is its own pair here
        return _core_extract_patches(frames, frames, kernel_size)[:, 0]  # (t, k * k * c, h, w)
    if channel_order != "chw":
        raise ValueError(f"channel_order ({channel_order!r}) must be 'hwc' or 'chw'")
    t, c, h, w = frames.shape
    patches = F.unfold(frames, kernel_size=kernel_size, padding=kernel_size // 2)  # (t, c * k * k, h * w)
    return patches.reshape(t, c * kernel_size * kernel_size, h, w)


def _frame_tensor(frame: Any, name: str) -> torch.Tensor:
    if isinstance(frame, str | os.PathLike):
        name = str(frame)
    array = image_array(frame, name)  # (h, w, c): uint8, or float32 in [0, 1]
    if array.shape[2] != 3:
        raise ValueError(f"{name}: frames must be RGB (h, w, 3), got shape {array.shape}")
    x = torch.from_numpy(np.array(array)).permute(2, 0, 1).float()  # (c, h, w), a writable copy
    return (x / 255.0 if array.dtype == np.uint8 else x) * 2.0 - 1.0  # in [-1, 1]


def preprocess_frame_pair(
    frame1: Any, frame2: Any, channel_order: Literal["hwc", "chw"] = "hwc"
) -> torch.Tensor:
    """Two RGB frames (paths, PIL images, or (h, w, 3) arrays of uint8 or float in [0, 1]) -> patches
    (2, 27, h, w) in [-1, 1]."""
    a, b = _frame_tensor(frame1, "frame1"), _frame_tensor(frame2, "frame2")
    if a.shape != b.shape:
        raise ValueError(f"frames differ in size: {tuple(a.shape)} and {tuple(b.shape)}")
    if channel_order == "hwc":
        return _core_extract_patches(a[None], b[None], 3)[0]  # (2, 27, h, w)
    return extract_patches(torch.stack([a, b]), 3, channel_order)  # (2, 27, h, w)


# ------------------------------------------------------------------ visualisation


def _color_wheel() -> np.ndarray:
    """The Middlebury colour wheel (Baker et al. 2011): 55 colours, (55, 3)."""
    segments = [
        (15, (255, 0, 0), (255, 255, 0)),
        (6, (255, 255, 0), (0, 255, 0)),
        (4, (0, 255, 0), (0, 255, 255)),
    ]
    segments += [
        (11, (0, 255, 255), (0, 0, 255)),
        (13, (0, 0, 255), (255, 0, 255)),
        (6, (255, 0, 255), (255, 0, 0)),
    ]
    colors = []
    for n, start, end in segments:
        ramp = np.floor(255 * np.arange(n) / n)
        for i in range(n):
            colors.append(
                [s if s == e else (ramp[i] if e > s else 255 - ramp[i]) for s, e in zip(start, end)]
            )
    return np.array(colors, dtype=np.float64)


def flow_to_color(flow: np.ndarray | torch.Tensor, max_flow: float | None = None) -> np.ndarray:
    """Renders (h, w, 2) flow as a uint8 (h, w, 3) RGB image with the Middlebury colour coding.

    Hue is the direction, saturation the magnitude relative to `max_flow` (default: the largest
    valid magnitude); unknown flow (|u| or |v| > 1e9, or NaN) is black.
    """
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must have shape (h, w, 2), got {flow.shape}")
    if max_flow is not None and not (isinstance(max_flow, numbers.Real) and 0 < max_flow < float("inf")):
        raise ValueError(f"max_flow ({max_flow!r}) must be a positive finite number or None")
    u, v = flow[..., 0].copy(), flow[..., 1].copy()
    unknown = (
        ~np.isfinite(u)
        | ~np.isfinite(v)
        | (np.abs(u) > UNKNOWN_FLOW_THRESHOLD)
        | (np.abs(v) > UNKNOWN_FLOW_THRESHOLD)
    )
    u[unknown] = 0.0
    v[unknown] = 0.0
    rad = np.sqrt(u**2 + v**2)
    scale = max_flow if max_flow is not None else float(rad.max())
    if scale > 0:
        u, v, rad = u / scale, v / scale, rad / scale
    wheel = _color_wheel()
    n = len(wheel)
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]
    fk = (angle + 1) / 2 * (n - 1)
    k0 = np.floor(fk).astype(int)
    k1 = (k0 + 1) % n
    f = (fk - k0)[..., None]
    color = ((1 - f) * wheel[k0] + f * wheel[k1]) / 255.0  # (h, w, 3)
    inside = (rad <= 1)[..., None]
    color = np.where(inside, 1 - rad[..., None] * (1 - color), color * 0.75)
    color[unknown] = 0.0
    return np.floor(255 * np.clip(color, 0, 1)).astype(np.uint8)


def save_flow_image(
    path: str | os.PathLike, flow: np.ndarray | torch.Tensor, max_flow: float | None = None
) -> None:
    """Saves the colour rendering of `flow` as an image (PNG by suffix)."""
    from PIL import Image

    Image.fromarray(flow_to_color(flow, max_flow)).save(path)
