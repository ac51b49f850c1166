"""MNIST: IDX files, image folders or the Hub dataset `ylecun/mnist`.

Batches are dicts `{"image": (b, 28, 28, 1) float32 (or (b, 1, 28, 28)), "label": (b,) int64}`.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from perceiver.data import inference
from perceiver.data._checks import check_loader_args
from perceiver.data._datamodule import SplitDataModule
from perceiver.data._hparams import make_plain
from perceiver.data.vision.image import MNIST_MEAN, MNIST_STD, load_image
from perceiver.data.vision.imagenet import scan_image_folder
from perceiver.model.core.validation import check_int

__all__ = ["MNISTDataModule", "read_idx"]

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.int16,
    0x0C: np.int32,
    0x0D: np.float32,
    0x0E: np.float64,
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (optionally gzipped), e.g. `t10k-images-idx3-ubyte.gz`."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read IDX file ({e})") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtype = np.dtype(_IDX_DTYPES[data[2]]).newbyteorder(">")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(
            f"{path}: truncated IDX header ({len(data)} bytes; {ndim} dimensions need {4 + 4 * ndim})"
        )
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    count = int(np.prod(shape))
    body = data[4 + 4 * ndim :]
    if len(body) != count * dtype.itemsize:
        raise ValueError(
            f"{path}: IDX header declares shape {shape} but the file holds {len(body)} bytes of data"
        )
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


class ArrayImageDataset(Dataset):
    """uint8 images (n, h, w) and labels (n,) as dicts of normalized float tensors."""

    def __init__(
        self, images: np.ndarray, labels: np.ndarray, normalize: bool = True, channels_last: bool = True
    ):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.normalize = normalize
        self.channels_last = channels_last

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x = self.images[index].float() / 255.0  # (h, w)
        if self.normalize:
            x = (x - MNIST_MEAN) / MNIST_STD
        x = x[:, :, None] if self.channels_last else x[None]  # (h, w, 1) or (1, h, w)
        return {"image": x, "label": self.labels[index]}


def _find_idx(directory: Path, prefix: str, kind: str) -> Path | None:
    for name in (f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte", f"{prefix}-{kind}.idx"):
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _load_folder(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    # folder names are the digits: label 7 is folder "7" even where another digit has no folder
    paths, labels, _ = scan_image_folder(directory, classes=[str(i) for i in range(10)])
    images = []
    for path in paths:
        image = np.asarray(load_image(path, mode="L"))
        if image.shape != (28, 28):
            raise ValueError(f"{path}: MNIST images are 28x28, this one is {image.shape[0]}x{image.shape[1]}")
        images.append(image)
    return np.stack(images), np.asarray(labels)


def _checked_split(images: np.ndarray, labels: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, 28, 28) and int64 labels (n,) in [0, 10), or a ValueError naming `source`."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{source}: images must be uint8 (n, 28, 28), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{source}: labels must be integers (n,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{source}: {len(images)} images but {len(labels)} labels")
    bad = np.flatnonzero((labels < 0) | (labels >= MNISTDataModule.num_classes))
    if len(bad):
        raise ValueError(
            f"{source}: label {int(labels[bad[0]])} at index {int(bad[0])} is out of range "
            f"(class ids must be in [0, {MNISTDataModule.num_classes}))"
        )
    return images, labels.astype(np.int64)


class MNISTDataModule(SplitDataModule):
    """MNIST handwritten digits.

    Args:
        data_dir: local data instead of the Hub dataset: a folder with IDX files (`train-images-idx3-ubyte[.gz]`,
            `t10k-...`, as torchvision downloads them), or with `train/` and `test/` class-per-folder image
            directories (`train/3/xyz.png`). If only one split is found, its last `valid_size` images are
            used for validation.
        hub_path: the Hub dataset used without `data_dir`.

    The test split (`test_dataloader`, `predict_dataloader`) is the validation split: MNIST's test
    images (`t10k`, the Hub's `test` split), or the held-out `valid_size` images.
    """

    num_classes = 10
    class_names = tuple(str(digit) for digit in range(10))  # label i is the digit i

    def __init__(
        self,
        data_dir: str | None = None,
        hub_path: str = "ylecun/mnist",
        valid_size: int = 1000,
        normalize: bool = True,
        channels_last: bool = True,
        batch_size: int = 64,
        num_workers: int = 2,
        pin_memory: bool = False,
        shuffle: bool = True,
    ):
        super().__init__()
        check_int("valid_size", valid_size, 1)
        check_loader_args(batch_size, num_workers)
        self.save_hyperparameters()
        make_plain(self.hparams)
        self.ds_train: Any = None
        self.ds_valid: Any = None

    def inference_spec(self) -> inference.InferenceSpec:
        """What inference needs, from the hyperparameters (see `perceiver.data.inference`)."""
        return inference.inference_spec(self.hparams, kind="mnist")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (28, 28, 1) if self.hparams.channels_last else (1, 28, 28)

    def _load_local(self, directory: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if not directory.is_dir():
            raise ValueError(f"data_dir ({directory}) is not a directory")
        splits = {}
        for split, prefix in (("train", "train"), ("valid", "t10k")):
            images, labels = _find_idx(directory, prefix, "images"), _find_idx(directory, prefix, "labels")
            if (images is None) != (labels is None):
                found, kind = (images, "labels") if labels is None else (labels, "images")
                raise ValueError(f"{found}: found, but no {prefix} {kind} IDX file next to it in {directory}")
            if images is not None and labels is not None:
                source = f"{images} and {labels}"
                splits[split] = _checked_split(read_idx(images), read_idx(labels), source)
        for split, name in (("train", "train"), ("valid", "test")):
            if split not in splits and (directory / name).is_dir():
                splits[split] = _checked_split(*_load_folder(directory / name), str(directory / name))
        if not splits:
            raise ValueError(f"{directory}: no MNIST IDX files and no train/ or test/ image folders found")
        return splits

    def _load_hub(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        import datasets

        dataset = datasets.load_dataset(self.hparams.hub_path)
        splits = {}
        for split, name in (("train", "train"), ("valid", "test")):
            ds = dataset[name]
            images = np.stack([np.asarray(image) for image in ds["image"]])
            splits[split] = _checked_split(images, np.asarray(ds["label"]), f"{self.hparams.hub_path} {name}")
        return splits

    def load_arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """uint8 images (n, 28, 28) and int labels (n,) for 'train' and 'valid'."""
        hp = self.hparams
        splits = self._load_local(Path(hp.data_dir)) if hp.data_dir is not None else self._load_hub()
        if "train" not in splits or "valid" not in splits:
            images, labels = splits.get("train") or splits["valid"]
            if not 0 < hp.valid_size < len(images):
                raise ValueError(f"valid_size ({hp.valid_size}) must be in (0, {len(images)})")
            n = len(images) - hp.valid_size
            splits = {"train": (images[:n], labels[:n]), "valid": (images[n:], labels[n:])}
        return splits

    def prepare_data(self) -> None:
        if self.hparams.data_dir is None:
            import datasets

            datasets.load_dataset(self.hparams.hub_path)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        splits = self.load_arrays()
        self.ds_train = ArrayImageDataset(*splits["train"], hp.normalize, hp.channels_last)
        self.ds_valid = ArrayImageDataset(*splits["valid"], hp.normalize, hp.channels_last)
