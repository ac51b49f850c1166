"""Image loading and preprocessing with PIL, numpy and torch (no torchvision).

Shapes: h, w = height, width; c = channels. Output tensors are (c, h, w) or, with
`channels_last=True`, (h, w, c), float32.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

# the normalization of the image data modules, recorded in their inference specs (core owns it)
from perceiver.model.core.data_spec import IMAGENET_MEAN, IMAGENET_STD, MNIST_MEAN, MNIST_STD
from perceiver.model.core.validation import check_int

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MNIST_MEAN",
    "MNIST_STD",
    "ImagePreprocessor",
    "image_array",
    "load_image",
]


def load_image(path: str | os.PathLike, mode: str = "RGB") -> Any:
    """Opens and decodes an image with PIL. Raises ValueError naming the file if it cannot be decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return image.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path}: cannot decode image ({e})") from e


_COLOR_MODES = {"RGB", "RGBA", "RGBX", "RGBa", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"}
_GRAY_MODES = {"1", "L", "LA"}


def image_array(image: Any, name: str = "image") -> np.ndarray:
    """An image as an (h, w, c) array: uint8 (0-255) or float32 in [0, 1].

    Accepts a path, a PIL image (colour modes become RGB, alpha is dropped; 1-bit and grayscale become
    L; mode F must hold values in [0, 1]), or a numpy array / torch tensor of shape (h, w) or (h, w, c)
    with c in 1, 3, 4 that is uint8 (0-255) or float in [0, 1]. Raises ValueError naming `name`
    for anything else: other integer dtypes (whose range is ambiguous), channels-first arrays,
    float values outside [0, 1] or not finite, 16/32-bit integer PIL modes.
    """
    from PIL import Image

    if isinstance(image, str | os.PathLike):
        image = load_image(image)
    if isinstance(image, Image.Image):
        if image.mode in _COLOR_MODES:
            image = image.convert("RGB")
        elif image.mode in _GRAY_MODES:
            image = image.convert("L")
        elif image.mode != "F":
            raise ValueError(
                f"{name}: PIL image mode {image.mode!r} is not supported (its value range is ambiguous); "
                "convert it to 8-bit 'L' or 'RGB', or pass a float array scaled to [0, 1]"
            )
        array = np.asarray(image)
    elif isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()  # numpy has no bfloat16
        array = tensor.numpy()
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise ValueError(
            f"{name}: expected a path, a PIL image, a numpy array or a torch tensor, got {type(image).__name__}"
        )
    if array.ndim == 2:
        array = array[:, :, None]  # (h, w, 1)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or min(array.shape) < 1:
        hint = ""
        if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
            hint = " (channels first? images are channels last: transpose (c, h, w) to (h, w, c))"
        raise ValueError(
            f"{name}: expected shape (h, w) or (h, w, c) with c in 1, 3, 4, got {tuple(array.shape)}{hint}"
        )
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
        low, high = float(array.min()), float(array.max())
        if not (np.isfinite(low) and np.isfinite(high)) or low < 0.0 or high > 1.0:
            raise ValueError(
                f"{name}: float pixel values must be finite and in [0, 1], got values in [{low}, {high}] "
                "(pass 0-255 images as uint8)"
            )
        return array
    raise ValueError(
        f"{name}: pixel dtype {array.dtype} is not supported: pass uint8 (0-255) or float in [0, 1]"
    )


def _resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of (h, w, c) uint8 or float32, channel by channel (PIL modes L and F)."""
    from PIL import Image

    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(array[:, :, k])).resize((width, height), Image.BILINEAR)
        )
        for k in range(array.shape[2])
    ]
    return np.stack(channels, axis=-1)  # (height, width, c)


def _finite_values(name: str, values: Sequence[float]) -> torch.Tensor:
    try:
        tensor = torch.tensor([float(v) for v in values], dtype=torch.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} ({values!r}) must be a sequence of numbers") from e
    if tensor.numel() == 0 or not torch.isfinite(tensor).all():
        raise ValueError(f"{name} ({values!r}) must be a non-empty sequence of finite numbers")
    return tensor


class ImagePreprocessor:
    """Resize (shorter side to `size`), center crop to `crop_size`, scale to [0, 1], normalize.

    Images are paths, PIL images, or arrays/tensors (h, w) or (h, w, c) of uint8 (0-255) or float
    in [0, 1] (see `image_array`); anything else raises a ValueError that names it.

    Args:
        size: target length of the shorter side (bilinear), or None to keep the size.
        crop_size: side of the central square crop (or (h, w)), or None for no crop.
        mean, std: per-channel normalization after scaling to [0, 1]; None for none.
        channels_last: return (h, w, c) instead of (c, h, w).
    """

    def __init__(
        self,
        size: int | None = None,
        crop_size: int | tuple[int, int] | None = None,
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
        channels_last: bool = False,
    ):
        if (mean is None) != (std is None):
            raise ValueError("mean and std must be given together")
        if size is not None:
            check_int("size", size, 1)
        if crop_size is not None:
            pair = (crop_size, crop_size) if isinstance(crop_size, numbers.Integral) else crop_size
            try:
                pair = tuple(pair)
            except TypeError:
                pair = ()
            if len(pair) != 2 or any(
                isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in pair
            ):
                raise ValueError(f"crop_size ({crop_size!r}) must be a positive int or a pair (h, w) of them")
            crop_size = (int(pair[0]), int(pair[1]))
        self.size = size
        self.crop_size = crop_size
        self.mean = None if mean is None else _finite_values("mean", mean)
        self.std = None if std is None else _finite_values("std", std)
        if self.mean is not None:
            if len(self.mean) != len(self.std):
                raise ValueError(f"mean ({tuple(mean)}) and std ({tuple(std)}) differ in length")
            if (self.std <= 0).any():
                raise ValueError(f"std ({tuple(std)}) must be positive")
        self.channels_last = channels_last

    def _resize_and_crop(self, array: np.ndarray) -> np.ndarray:
        if self.size is not None:
            h, w = array.shape[:2]
            scale = self.size / min(w, h)
            array = _resize(array, max(1, round(h * scale)), max(1, round(w * scale)))
        if self.crop_size is not None:
            h, w = array.shape[:2]
            ch, cw = self.crop_size
            if ch > h or cw > w:
                raise ValueError(f"crop size {self.crop_size} is larger than the (resized) image ({h}, {w})")
            top, left = (h - ch) // 2, (w - cw) // 2
            array = array[top : top + ch, left : left + cw]
        return array

    def __call__(self, image: Any, name: str = "image") -> torch.Tensor:
        """`image`: a path, a PIL image, or an array / tensor (h, w) or (h, w, c), uint8 or float in [0, 1]."""
        if isinstance(image, str | os.PathLike):
            name = str(image)
        array = self._resize_and_crop(image_array(image, name))  # (h, w, c)
        if array.dtype == np.uint8:
            array = array.astype(np.float32) / 255.0
        x = torch.from_numpy(np.array(array, dtype=np.float32))  # (h, w, c), a writable copy
        if self.mean is not None:
            if len(self.mean) not in (1, x.shape[-1]):
                raise ValueError(
                    f"{name}: mean has {len(self.mean)} values for an image of {x.shape[-1]} channels"
                )
            x = (x - self.mean) / self.std
        return x if self.channels_last else x.permute(2, 0, 1).contiguous()  # (c, h, w)

    def preprocess_batch(self, images: Sequence[Any]) -> torch.Tensor:
        if len(images) == 0:
            raise ValueError("images is empty")
        return torch.stack([self(image, f"images[{i}]") for i, image in enumerate(images)])
