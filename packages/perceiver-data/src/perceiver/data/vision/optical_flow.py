"""Optical flow data: frame-pair datasets in Sintel and Middlebury layouts and a data module over them.
The file formats and model input (`.flo`, patches, flow colours) are in `perceiver.data.vision.flow`,
re-exported here.

Shapes: t = 2 frames, c = 3 channels, h, w = height, width. Flow is (h, w, 2) float32 (u, v) in pixels.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import Dataset

from perceiver.data import inference
from perceiver.data._checks import check_loader_args
from perceiver.data._datamodule import SplitDataModule
from perceiver.data._hparams import make_plain
from perceiver.data.vision.flow import (
    FLO_MAGIC,
    UNKNOWN_FLOW_THRESHOLD,
    extract_patches,
    flow_to_color,
    preprocess_frame_pair,
    read_flo,
    save_flow_image,
    write_flo,
)

__all__ = [
    "FLO_MAGIC",
    "UNKNOWN_FLOW_THRESHOLD",
    "FramePairDataset",
    "OpticalFlowDataModule",
    "extract_patches",
    "flow_to_color",
    "middlebury_frame_pairs",
    "preprocess_frame_pair",
    "read_flo",
    "save_flow_image",
    "sintel_frame_pairs",
    "write_flo",
]


# ------------------------------------------------------------------ datasets

FramePair = tuple[Path, Path, Path | None]


def _consecutive_pairs(
    frame_dir: Path, flow_dir: Path | None, frame_re: str, flow_name: str
) -> list[FramePair]:
    frames = {}
    for path in frame_dir.iterdir():
        match = re.fullmatch(frame_re, path.name)
        if match:
            frames[int(match.group(1))] = path
    pairs = []
    for index in sorted(frames):
        if index + 1 in frames:
            width = len(re.fullmatch(frame_re, frames[index].name).group(1))
            flow = (flow_dir or frame_dir) / flow_name.format(index=str(index).zfill(width))
            pairs.append((frames[index], frames[index + 1], flow if flow.is_file() else None))
    return pairs


def _directory(root: str | os.PathLike) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory")
    return root


def sintel_frame_pairs(
    root: str | os.PathLike, pass_name: str = "clean", split: str = "training"
) -> list[FramePair]:
    """Consecutive frame pairs of MPI-Sintel: `root/<split>/<pass_name>/<scene>/frame_0001.png` with ground truth
    in `root/<split>/flow/<scene>/frame_0001.flo`, or a single folder of `frame_XXXX.png` files."""
    root = _directory(root)
    pass_dir = root / split / pass_name
    frame_re, flow_name = r"frame_(\d+)\.png", "frame_{index}.flo"
    if pass_dir.is_dir():
        pairs = []
        for scene in sorted(p for p in pass_dir.iterdir() if p.is_dir()):
            pairs += _consecutive_pairs(scene, root / split / "flow" / scene.name, frame_re, flow_name)
    else:
        pairs = _consecutive_pairs(root, None, frame_re, flow_name)
    if not pairs:
        raise ValueError(f"{root}: no Sintel frame pairs (frame_XXXX.png) found")
    return pairs


def middlebury_frame_pairs(root: str | os.PathLike) -> list[FramePair]:
    """Frame pairs of the Middlebury benchmark: `root/other-data/<Seq>/frame10.png` with ground truth in
    `root/other-gt-flow/<Seq>/flow10.flo`, or a single sequence folder (`frame10.png`, `frame11.png`, `flow10.flo`)."""
    root = _directory(root)
    frame_re, flow_name = r"frame(\d+)\.png", "flow{index}.flo"
    data_dirs = [root / d for d in ("other-data", "eval-data") if (root / d).is_dir()]
    pairs = []
    if data_dirs:
        for data_dir in data_dirs:
            for seq in sorted(p for p in data_dir.iterdir() if p.is_dir()):
                pairs += _consecutive_pairs(seq, root / "other-gt-flow" / seq.name, frame_re, flow_name)
    else:
        pairs = _consecutive_pairs(root, None, frame_re, flow_name)
    if not pairs:
        raise ValueError(f"{root}: no Middlebury frame pairs (frameNN.png) found")
    return pairs


class FramePairDataset(Dataset):
    """Items `{"patches": (2, 27, h, w), "flow": (h, w, 2) (if ground truth exists), "valid": (h, w) bool}`."""

    def __init__(self, pairs: list[FramePair], channel_order: Literal["hwc", "chw"] = "hwc"):
        if channel_order not in ("hwc", "chw"):
            raise ValueError(f"channel_order ({channel_order!r}) must be 'hwc' or 'chw'")
        self.pairs = pairs
        self.channel_order = channel_order

    @classmethod
    def sintel(
        cls, root: str | os.PathLike, pass_name: str = "clean", split: str = "training"
    ) -> FramePairDataset:
        return cls(sintel_frame_pairs(root, pass_name, split))

    @classmethod
    def middlebury(cls, root: str | os.PathLike) -> FramePairDataset:
        return cls(middlebury_frame_pairs(root))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        frame1, frame2, flow_path = self.pairs[index]
        item = {"patches": preprocess_frame_pair(frame1, frame2, self.channel_order)}
        if flow_path is not None:
            flow = torch.from_numpy(read_flo(flow_path))
            frame_size = tuple(item["patches"].shape[-2:])
            if tuple(flow.shape[:2]) != frame_size:
                raise ValueError(
                    f"{flow_path}: flow of {flow.shape[0]}x{flow.shape[1]} does not match its frames "
                    f"({frame1}: {frame_size[0]}x{frame_size[1]})"
                )
            item["flow"] = flow
            item["valid"] = (flow.abs() < UNKNOWN_FLOW_THRESHOLD).all(dim=-1)
        return item


class _CroppedPairs(Dataset):
    """`FramePairDataset` items cropped to (h, w): at a random position, or in the centre."""

    def __init__(self, dataset: FramePairDataset, crop_shape: tuple[int, int], random: bool):
        self.dataset, self.crop_shape, self.random = dataset, crop_shape, random

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.dataset[index]
        h, w = self.crop_shape
        height, width = item["patches"].shape[-2:]
        if height < h or width < w:
            raise ValueError(
                f"{self.dataset.pairs[index][0]}: frames of {height}x{width} are smaller than crop_shape {h}x{w}"
            )
        if self.random:
            top = int(torch.randint(0, height - h + 1, ()))
            left = int(torch.randint(0, width - w + 1, ()))
        else:
            top, left = (height - h) // 2, (width - w) // 2
        # patches were taken from the whole frames: pixels at the crop's border keep their neighbours
        return {
            "patches": item["patches"][..., top : top + h, left : left + w],  # (2, 27, h, w)
            "flow": item["flow"][top : top + h, left : left + w],  # (h, w, 2)
            "valid": item["valid"][top : top + h, left : left + w],  # (h, w)
        }


class OpticalFlowDataModule(SplitDataModule):
    """Frame pairs with ground-truth flow from a local Middlebury or MPI-Sintel folder.

    Batches are what `LitOpticalFlow` (perceiver-lightning) trains on: dicts
    `{"patches": (b, 2, 27, h, w) float32 in [-1, 1], "flow": (b, h, w, 2) float32, "valid": (b, h, w) bool}`.
    Pairs without ground-truth flow are skipped.

    Args:
        root: the dataset folder. Middlebury: a sequence folder (`frame10.png`, `frame11.png`,
            `flow10.flo`) or the benchmark root (`other-data/<Seq>`, `other-gt-flow/<Seq>`); Sintel:
            the root holding `training/<pass>/<scene>` and `training/flow/<scene>`.
        layout: `middlebury` or `sintel`.
        valid_root: validation folder in the same layout (default: `root`).
        sintel_pass: `clean` or `final` (Sintel only).
        crop_shape: (h, w) to crop every pair to, at a random position in training and in the
            centre in validation; needed to batch frames of different sizes (Middlebury's sequences
            differ). None: whole frames. `LitOpticalFlow` crops further to its `image_shape`.
    """

    def __init__(
        self,
        root: str,
        layout: Literal["middlebury", "sintel"] = "middlebury",
        valid_root: str | None = None,
        sintel_pass: str = "clean",
        crop_shape: tuple[int, int] | None = None,
        batch_size: int = 1,
        num_workers: int = 0,
        pin_memory: bool = False,
        shuffle: bool = True,
    ):
        super().__init__()
        if layout not in ("middlebury", "sintel"):
            raise ValueError(f"layout ({layout!r}) must be 'middlebury' or 'sintel'")
        if sintel_pass not in ("clean", "final"):
            raise ValueError(f"sintel_pass ({sintel_pass!r}) must be 'clean' or 'final'")
        if crop_shape is not None and (
            isinstance(crop_shape, str)
            or len(crop_shape) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in crop_shape)
        ):
            raise ValueError(f"crop_shape ({crop_shape!r}) must be two positive sizes (h, w)")
        check_loader_args(batch_size, num_workers)
        self.save_hyperparameters()
        make_plain(self.hparams)
        self.ds_train: Dataset | None = None
        self.ds_valid: Dataset | None = None

    def inference_spec(self) -> inference.InferenceSpec:
        """What inference needs, from the hyperparameters (see `perceiver.data.inference`)."""
        return inference.inference_spec(self.hparams, kind="optical_flow")

    def _dataset(self, root: str, random_crop: bool) -> Dataset:
        hp = self.hparams
        if not Path(root).is_dir():
            raise ValueError(f"{root}: not a directory")
        if hp.layout == "middlebury":
            dataset = FramePairDataset.middlebury(root)
        else:
            dataset = FramePairDataset.sintel(root, hp.sintel_pass)
        dataset.pairs = [pair for pair in dataset.pairs if pair[2] is not None]
        if not dataset.pairs:
            raise ValueError(f"{root}: no frame pairs with ground-truth flow ({hp.layout} layout)")
        if hp.crop_shape is not None:
            return _CroppedPairs(dataset, tuple(hp.crop_shape), random_crop)
        if hp.batch_size > 1:
            from PIL import Image

            sizes = {}
            for frame, _, _ in dataset.pairs:
                with Image.open(frame) as image:
                    sizes.setdefault(image.size[::-1], frame)
            if len(sizes) > 1:
                found = ", ".join(f"{h}x{w} ({path})" for (h, w), path in sizes.items())
                raise ValueError(
                    f"{root}: frames of different sizes ({found}) cannot be batched "
                    f"(batch_size={hp.batch_size}); set crop_shape"
                )
        return dataset

    def setup(self, stage: str | None = None) -> None:
        self.ds_train = self._dataset(self.hparams.root, random_crop=True)
        self.ds_valid = self._dataset(self.hparams.valid_root or self.hparams.root, random_crop=False)
