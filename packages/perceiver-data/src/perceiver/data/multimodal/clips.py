"""Video + audio + label clips (Kinetics style) as a data module for the multimodal Perceiver IO
autoencoder. The clip format and its preprocessing are in `perceiver.data.multimodal.preprocessing`
(importable without Lightning and datasets); their names are re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import Dataset

from perceiver.data import inference
from perceiver.data._checks import check_loader_args
from perceiver.data._datamodule import SplitDataModule
from perceiver.data._hparams import make_plain
from perceiver.data.multimodal.preprocessing import CLIP_FIELDS, ClipPreprocessor, load_clip

__all__ = ["CLIP_FIELDS", "ClipDataset", "ClipPreprocessor", "MultimodalDataModule", "load_clip"]


class ClipDataset(Dataset):
    """The ``.npz`` clips of a folder (sorted by name), preprocessed when read."""

    def __init__(self, folder: str | os.PathLike, preprocessor: ClipPreprocessor, random: bool = False):
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"{folder}: not a directory")
        self.files = sorted(folder.glob("*.npz"))
        if not self.files:
            raise ValueError(f"{folder}: no .npz clips found")
        self.preprocessor = preprocessor
        self.random = random

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        path = self.files[index]
        return self.preprocessor(load_clip(path), random=self.random, source=str(path))


class MultimodalDataModule(SplitDataModule):
    """Video + audio + label clips from ``data_dir/train`` and ``data_dir/valid`` (one ``.npz`` per clip);
    ``data_dir/test``, where present, is the test split (otherwise tests and predictions use ``valid``).

    Batches are ``{"image": (b, t, 3, h, w), "audio": (b, s), "label": (b,)}``, the input of the
    multimodal autoencoder (``LitMultimodalAutoencoder``). The first clip of each split is read in
    ``setup``, so that a malformed file fails before training; any other fails when it is read,
    with a ValueError naming the file and the field.

    Args:
        data_dir: the folder holding ``train/`` and ``valid/``.
        num_frames, image_shape, audio_samples_per_frame: the model's encoder settings (the
            official model: 16 frames of (3, 224, 224), 1920 samples per frame, that is 48 kHz
            audio with 25 fps video).
        num_classes: labels must lie in [0, num_classes) (Kinetics-700: 700).
    """

    def __init__(
        self,
        data_dir: str,
        num_frames: int = 16,
        image_shape: tuple[int, int, int] = (3, 224, 224),
        audio_samples_per_frame: int = 1920,
        num_classes: int = 700,
        batch_size: int = 8,
        num_workers: int = 2,
        pin_memory: bool = False,
        shuffle: bool = True,
    ):
        super().__init__()
        check_loader_args(batch_size, num_workers)
        self.save_hyperparameters()
        make_plain(self.hparams)
        self.preprocessor = ClipPreprocessor(
            num_frames, tuple(image_shape), audio_samples_per_frame, num_classes
        )
        self.ds_train: ClipDataset | None = None
        self.ds_valid: ClipDataset | None = None
        self.ds_test: ClipDataset | None = None

    def inference_spec(self) -> inference.InferenceSpec:
        """What inference needs, from the hyperparameters (see `perceiver.data.inference`)."""
        return inference.inference_spec(self.hparams, kind="multimodal")

    @property
    def num_frames(self) -> int:
        return self.preprocessor.num_frames

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.preprocessor.image_shape

    @property
    def audio_samples_per_frame(self) -> int:
        return self.preprocessor.audio_samples_per_frame

    @property
    def num_classes(self) -> int:
        return self.preprocessor.num_classes

    def setup(self, stage: str | None = None) -> None:
        root = Path(self.hparams.data_dir)
        self.ds_train = ClipDataset(root / "train", self.preprocessor, random=True)
        self.ds_valid = ClipDataset(root / "valid", self.preprocessor, random=False)
        if (root / "test").is_dir():
            self.ds_test = ClipDataset(root / "test", self.preprocessor, random=False)
        for dataset in (self.ds_train, self.ds_valid):  # fail early on a malformed clip
            self.preprocessor(load_clip(dataset.files[0]), source=str(dataset.files[0]))
