"""ImageNet-style classification over local class-per-folder directories (`root/<class>/<image>`).

Batches are dicts `{"image": (b, c, h, w) or (b, h, w, c) float32, "label": (b,) int64}`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from perceiver.data import inference
from perceiver.data._checks import check_class_names, check_loader_args
from perceiver.data._datamodule import SplitDataModule
from perceiver.data._hparams import make_plain
from perceiver.data.vision.image import IMAGENET_MEAN, IMAGENET_STD, ImagePreprocessor, load_image
from perceiver.model.core.validation import check_int

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFolderDataset",
    "ImageNetDataModule",
    "class_folders",
    "scan_image_folder",
]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".jpe"}


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def class_folders(root: str | os.PathLike) -> list[str]:
    """The class folder names of `root`, sorted; hidden entries (`.ipynb_checkpoints`, `.git` ...) are ignored."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_image_folder(
    root: str | os.PathLike, classes: Sequence[str] | None = None
) -> tuple[list[Path], list[int], list[str]]:
    """(paths, labels, class names) of `root/<class>/<image>`.

    Without `classes`, the class folders sorted by name are the classes. With `classes` (the class map
    of another split, or names given by the user), label i is `classes[i]` whatever folders `root`
    holds; a folder that is not among them raises ValueError. Hidden files and folders are ignored.
    """
    root = Path(root)
    found = class_folders(root)
    if classes is None:
        classes = found
        if not classes:
            raise ValueError(f"{root}: no class folders found")
    else:
        classes = check_class_names(classes)
        unknown = sorted(set(found) - set(classes))
        if unknown:
            raise ValueError(
                f"{root}: class folders {unknown} are not among the {len(classes)} classes of the label map "
                f"({_preview(classes)}); labels would not match between splits"
            )
    index = {name: label for label, name in enumerate(classes)}
    paths, labels = [], []
    for name in found:
        for path in sorted((root / name).rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not _hidden(path, root):
                paths.append(path)
                labels.append(index[name])
    if not paths:
        raise ValueError(f"{root}: no images found in its class folders")
    return paths, labels, list(classes)


def _preview(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


class ImageFolderDataset(Dataset):
    """Images of `root/<class>/...`, decoded lazily; a file that cannot be decoded raises ValueError naming it.

    `classes`: the label map (label i is `classes[i]`), e.g. the training split's; default: the
    sorted class folders of `root`.
    """

    def __init__(
        self, root: str | os.PathLike, preprocessor: ImagePreprocessor, classes: Sequence[str] | None = None
    ):
        self.paths, self.labels, self.classes = scan_image_folder(root, classes)
        self.preprocessor = preprocessor

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        return {"image": self.preprocessor(load_image(path), str(path)), "label": self.labels[index]}


class ImageNetDataModule(SplitDataModule):
    """ImageNet (or any class-per-folder image dataset) from `data_dir/train` and `data_dir/val`.

    Images are resized (shorter side `image_size / crop_fraction`), center cropped to `image_size` and
    normalized with the ImageNet mean and std.

    One class map serves both splits: label i is `class_names[i]`. Without `class_names` it is the
    sorted class folders of the training split (hidden folders such as `.ipynb_checkpoints` are
    ignored), and `setup()` stores it in the hyperparameters, so that checkpoints record it and a
    data module restored from them labels images the same way. A validation class folder that is
    not in the map raises ValueError; a class without validation images keeps its label.

    Args:
        class_names: the class map; `id2label` for a 🤗 model is `{i: name}` of it.
        test_dir: the test split's folder under `data_dir` (default: none, then `test_dataloader`
            and `predict_dataloader` serve the validation split).
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
        class_names: list[str] | None = None,
        test_dir: str | None = None,
    ):
        super().__init__()
        check_int("image_size", image_size, 1)
        if not 0.0 < crop_fraction <= 1.0:
            raise ValueError(f"crop_fraction ({crop_fraction}) must be in (0, 1]")
        check_loader_args(batch_size, num_workers)
        if class_names is not None:
            class_names = check_class_names(class_names)
        self.save_hyperparameters()
        make_plain(self.hparams)
        self.ds_train: Any = None
        self.ds_valid: Any = None
        self.ds_test: Any = None

    def inference_spec(self) -> inference.InferenceSpec:
        """What inference needs, from the hyperparameters (see `perceiver.data.inference`)."""
        return inference.inference_spec(self.hparams, kind="image_folder")

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
    def image_shape(self) -> tuple[int, int, int]:
        size = self.hparams.image_size
        return (size, size, 3) if self.hparams.channels_last else (3, size, size)

    @property
    def class_names(self) -> list[str]:
        """Label i is `class_names[i]` (read from the training folder if not given)."""
        if self.hparams.class_names is None:
            self.hparams.class_names = class_folders(Path(self.hparams.data_dir) / self.hparams.train_dir)
            if not self.hparams.class_names:
                raise ValueError(
                    f"{Path(self.hparams.data_dir) / self.hparams.train_dir}: no class folders found"
                )
        return list(self.hparams.class_names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.class_names))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def setup(self, stage: str | None = None) -> None:
        root = Path(self.hparams.data_dir)
        classes = self.class_names
        self.ds_train = ImageFolderDataset(root / self.hparams.train_dir, self.image_preprocessor(), classes)
        self.ds_valid = ImageFolderDataset(root / self.hparams.valid_dir, self.image_preprocessor(), classes)
        if self.hparams.test_dir is not None:
            self.ds_test = ImageFolderDataset(
                root / self.hparams.test_dir, self.image_preprocessor(), classes
            )
