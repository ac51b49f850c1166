"""Folders the configs (configs/) and the docs' commands run in: ``data/`` with the layout of the
example data ($PERCEIVER_DATA_DIR), plus multimodal clips, which the example data does not hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_data_folder(folder: Path, data_dir: Path) -> Path:
    """``folder`` with a link to every entry of ``data_dir`` and a ``clips`` folder of tiny clips
    (the shapes configs/multimodal/autoencoder.yaml reads)."""
    folder.mkdir(parents=True)
    for entry in data_dir.iterdir():
        (folder / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    write_clips(folder / "clips", num_frames=4, height=40, width=48, audio_samples=4 * 64, num_classes=5)
    return folder


def write_clips(
    root: Path, num_frames: int, height: int, width: int, audio_samples: int, num_classes: int, num: int = 4
) -> None:
    """``num`` clips per split in perceiver-data's clip format (``train/`` and ``valid/``, one
    ``.npz`` with ``video`` (frames, height, width, 3) uint8, ``audio`` (samples, 1) float32 in
    [-1, 1] and an int64 ``label``): noise frames and tones whose pitch follows the label."""
    rng = np.random.default_rng(0)
    for split in ("train", "valid"):
        (root / split).mkdir(parents=True)
        for i in range(num):
            label = i % num_classes
            t = np.arange(audio_samples, dtype=np.float32) / audio_samples
            audio = 0.5 * np.sin(2 * np.pi * (label + 1) * 8 * t)
            np.savez(
                root / split / f"clip{i}.npz",
                video=rng.integers(0, 256, (num_frames, height, width, 3), dtype=np.uint8),
                audio=audio[:, None].astype(np.float32),
                label=np.int64(label),
            )
