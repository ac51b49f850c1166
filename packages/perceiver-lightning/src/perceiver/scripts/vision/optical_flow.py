"""Train (fine-tune) the Perceiver IO optical flow model: ``python -m perceiver.scripts.vision.optical_flow fit --help``.

perceiver-data has frame-pair datasets but no optical flow data module yet, so this script
defines :class:`OpticalFlowDataModule` over ``FramePairDataset`` (Middlebury or MPI-Sintel
layout; pairs without ground-truth flow are skipped).
"""

from __future__ import annotations

from typing import Literal

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from perceiver.lightning.vision.optical_flow import LitOpticalFlow
from perceiver.scripts.cli import CLI

DEFAULTS = {
    "model.encoder": {"class_path": "perceiver.model.vision.optical_flow.OpticalFlowEncoderConfig"},
    "model.decoder": {"class_path": "perceiver.model.vision.optical_flow.OpticalFlowDecoderConfig"},
}


class OpticalFlowDataModule(pl.LightningDataModule):
    """Frame pairs with ground-truth flow from a local Middlebury or MPI-Sintel folder.

    Args:
        root: the dataset folder (Middlebury: frame10.png, frame11.png, flow10.flo; Sintel:
            the root holding ``training/<pass>/<scene>`` and ``training/flow``).
        layout: ``middlebury`` or ``sintel``.
        valid_root: validation folder (default: ``root``).
    """

    def __init__(
        self,
        root: str,
        layout: Literal["middlebury", "sintel"] = "middlebury",
        valid_root: str | None = None,
        sintel_pass: str = "clean",
        batch_size: int = 1,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.ds_train: Dataset | None = None
        self.ds_valid: Dataset | None = None

    def _dataset(self, root: str) -> Dataset:
        from perceiver.data.vision import FramePairDataset

        hp = self.hparams
        ds = (
            FramePairDataset.middlebury(root)
            if hp.layout == "middlebury"
            else FramePairDataset.sintel(root, hp.sintel_pass)
        )
        ds.pairs = [pair for pair in ds.pairs if pair[2] is not None]
        if not ds.pairs:
            raise ValueError(f"{root}: no frame pairs with ground-truth flow ({hp.layout} layout)")
        return ds

    def setup(self, stage: str | None = None) -> None:
        self.ds_train = self._dataset(self.hparams.root)
        self.ds_valid = self._dataset(self.hparams.valid_root or self.hparams.root)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.ds_train,
            batch_size=self.hparams.batch_size,
            shuffle=True,
            num_workers=self.hparams.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self.ds_valid, batch_size=self.hparams.batch_size, num_workers=self.hparams.num_workers
        )


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitOpticalFlow, model_defaults=DEFAULTS, args=args, run=run)


if __name__ == "__main__":
    main()
