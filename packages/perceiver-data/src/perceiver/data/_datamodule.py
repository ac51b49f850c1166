"""What the image, optical flow and multimodal data modules share: loaders over ``ds_train`` /
``ds_valid`` / ``ds_test`` from the ``batch_size``, ``num_workers``, ``pin_memory`` and ``shuffle``
hyperparameters. Without a test split of its own (``ds_test`` None), a data module tests and
predicts on its validation split."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader

__all__ = ["SplitDataModule"]


class SplitDataModule(pl.LightningDataModule):
    ds_train: Any = None
    ds_valid: Any = None
    ds_test: Any = None

    def _loader(self, dataset: Any, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"call {type(self).__name__}.setup() before requesting a dataloader")
        hp = self.hparams
        return DataLoader(
            dataset,
            batch_size=hp.batch_size,
            shuffle=shuffle,
            num_workers=hp.num_workers,
            pin_memory=hp.pin_memory,
            persistent_workers=hp.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.ds_train, self.hparams.shuffle)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.ds_valid, False)

    def test_dataloader(self) -> DataLoader:
        """The test split, or the validation split where there is no test split."""
        return self._loader(self.ds_valid if self.ds_test is None else self.ds_test, False)

    def predict_dataloader(self) -> DataLoader:
        """Batches of the test split (as `test_dataloader`), for `trainer.predict`."""
        return self.test_dataloader()
