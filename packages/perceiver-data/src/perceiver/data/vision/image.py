"""Image loading and preprocessing with PIL, numpy and torch (no torchvision).

Shapes: h, w = height, width; c = channels. Output tensors are (c, h, w) or, with
`channels_last=True`, (h, w, c), float32.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ImagePreprocessor", "load_image"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_image(path: str | os.PathLike, mode: str = "RGB") -> Any:
    """Opens and decodes an image with PIL. Raises ValueError naming the file if it cannot be decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return image.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path}: cannot decode image ({e})") from e


class ImagePreprocessor:
    """Resize (shorter side to `size`), center crop to `crop_size`, scale to [0, 1], normalize.

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
        self.size = size
        self.crop_size = (crop_size, crop_size) if isinstance(crop_size, int) else crop_size
        self.mean = None if mean is None else torch.tensor(mean, dtype=torch.float32)
        self.std = None if std is None else torch.tensor(std, dtype=torch.float32)
        self.channels_last = channels_last

    def _resize_and_crop(self, image: Any) -> Any:
        from PIL import Image

        if self.size is not None:
            w, h = image.size
            scale = self.size / min(w, h)
            image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
        if self.crop_size is not None:
            w, h = image.size
            ch, cw = self.crop_size
            if ch > h or cw > w:
                raise ValueError(f"crop size {self.crop_size} is larger than the (resized) image ({h}, {w})")
            top, left = (h - ch) // 2, (w - cw) // 2
            image = image.crop((left, top, left + cw, top + ch))
        return image

    def __call__(self, image: Any) -> torch.Tensor:
        """`image`: a PIL image, a path, or a uint8 array (h, w) or (h, w, c)."""
        from PIL import Image

        if isinstance(image, str | os.PathLike | Path):
            image = load_image(image)
        elif isinstance(image, np.ndarray | torch.Tensor):
            image = Image.fromarray(np.asarray(image, dtype=np.uint8))
        image = self._resize_and_crop(image)
        array = np.asarray(image, dtype=np.float32) / 255.0
        if array.ndim == 2:
            array = array[:, :, None]  # (h, w, 1)
        x = torch.from_numpy(array.copy())  # (h, w, c)
        if self.mean is not None:
            if len(self.mean) not in (1, x.shape[-1]):
                raise ValueError(f"mean has {len(self.mean)} values for an image of {x.shape[-1]} channels")
            x = (x - self.mean) / self.std
        return x if self.channels_last else x.permute(2, 0, 1).contiguous()  # (c, h, w)

    def preprocess_batch(self, images: Sequence[Any]) -> torch.Tensor:
        return torch.stack([self(image) for image in images])
