"""ImageNet-style classification over local class-per-folder directories (`root/<class>/<image>`).

Batches are dicts `{"image": (b, c, h, w) or (b, h, w, c) float32, "label": (b,) int64}`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from perceiver.data._datamodule import SplitDataModule
from perceiver.data._hparams import make_plain
from perceiver.data.vision.image import IMAGENET_MEAN, IMAGENET_STD, ImagePreprocessor, load_image

__all__ = ["IMAGE_SUFFIXES", "ImageFolderDataset", "ImageNetDataModule", "scan_image_folder"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".jpe"}


def scan_image_folder(root: str | os.PathLike) -> tuple[list[Path], list[int], list[str]]:
    """(paths, labels, class names) of `root/<class>/<image>`; classes sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"{root}: no class folders found")
    paths, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((root / name).rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(path)
                labels.append(label)
    if not paths:
        raise ValueError(f"{root}: no images found in its class folders")
    return paths, labels, classes


class ImageFolderDataset(Dataset):
    """Images of `root/<class>/...`, decoded lazily; a file that cannot be decoded raises ValueError naming it."""

    def __init__(self, root: str | os.PathLike, preprocessor: ImagePreprocessor):
        self.paths, self.labels, self.classes = scan_image_folder(root)
        self.preprocessor = preprocessor

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.preprocessor(load_image(self.paths[index])), "label": self.labels[index]}


class ImageNetDataModule(SplitDataModule):
    """ImageNet (or any class-per-folder image dataset) from `data_dir/train` and `data_dir/val`.

    Images are resized (shorter side `image_size / crop_fraction`), center cropped to `image_size` and
    normalized with the ImageNet mean and std.
    """

    def __init__(
        self,
        data_dir: str,
        train_dir: str = "train",
        valid_dir: str = "val",
        image_size: int = 224,
        crop_fraction: float = 0.875,
        channels_last: bool = False,
        batch_size: int = 64,
        num_workers: int = 2,
        pin_memory: bool = False,
        shuffle: bool = True,
    ):
        super().__init__()
        if not 0.0 < crop_fraction <= 1.0:
            raise ValueError(f"crop_fraction ({crop_fraction}) must be in (0, 1]")
        self.save_hyperparameters()
        make_plain(self.hparams)
        self.ds_train: Any = None
        self.ds_valid: Any = None

    def image_preprocessor(self) -> ImagePreprocessor:
        hp = self.hparams
        return ImagePreprocessor(
            size=round(hp.image_size / hp.crop_fraction),
            crop_size=hp.image_size,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            channels_last=hp.channels_last,
        )

    @property
    def num_classes(self) -> int:
        if self.ds_train is None:
            self.setup()
        return len(self.ds_train.classes)

    def setup(self, stage: str | None = None) -> None:
        root = Path(self.hparams.data_dir)
        self.ds_train = ImageFolderDataset(root / self.hparams.train_dir, self.image_preprocessor())
        self.ds_valid = ImageFolderDataset(root / self.hparams.valid_dir, self.image_preprocessor())
