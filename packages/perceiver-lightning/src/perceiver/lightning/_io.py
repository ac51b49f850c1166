"""Perceiver IO wrappers share their constructor arguments: nested ``encoder`` / ``decoder``
configs (bound on the command line as ``--model.encoder.*`` / ``--model.decoder.*``),
``num_latents`` and ``num_latent_channels``; and classifiers share their loss and accuracy.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from perceiver.lightning._base import LitModel
from perceiver.lightning._batch_checks import check_class_labels

__all__ = ["LitClassifier", "LitPerceiverIO"]


class LitPerceiverIO(LitModel):
    """Base of the Perceiver IO wrappers; ``hparams.encoder`` / ``hparams.decoder`` are dicts."""


class LitClassifier(LitPerceiverIO):
    """Cross-entropy over class logits (b, k) and accuracy, for text and image classifiers.

    Subclasses call :meth:`add_metrics` after building the model.
    """

    def add_metrics(self, num_classes: int) -> None:
        self.val_loss = MeanMetric()
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")

    def unpack(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(labels, inputs, pad_mask) of a batch."""
        raise NotImplementedError

    def labels_of(self, batch: Any) -> torch.Tensor:
        """The class labels (b,) of a batch."""
        raise NotImplementedError

    def check_batch(self, batch: Any, where: str) -> None:
        super().check_batch(batch, where)
        check_class_labels(self.labels_of(batch), self.hparams.decoder["num_classes"], where)

    def check_num_classes(self, datamodule: Any) -> None:
        """Refuse a data module whose ``num_classes`` differs from the model's."""
        num_classes = getattr(datamodule, "num_classes", None)
        if isinstance(num_classes, int) and num_classes != self.hparams.decoder["num_classes"]:
            raise ValueError(
                f"the data has {num_classes} classes but the model's decoder.num_classes is "
                f"{self.hparams.decoder['num_classes']}"
            )

    def step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        labels, inputs, pad_mask = self.unpack(batch)
        logits = self.backend_model(inputs, pad_mask=pad_mask)
        return logits, labels, F.cross_entropy(logits, labels)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        logits, labels, loss = self.step(batch)
        self.train_acc(logits.argmax(dim=-1), labels)
        self.log("train_loss", loss, prog_bar=True)
        self.log("train_acc", self.train_acc, prog_bar=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        logits, labels, loss = self.step(batch)
        self.val_loss.update(loss, weight=labels.shape[0])
        self.val_acc.update(logits.argmax(dim=-1), labels)
        return loss

    def compute_epoch_metrics(self) -> dict[str, torch.Tensor]:
        metrics = {"loss": self.val_loss.compute(), "acc": self.val_acc.compute()}
        self.val_loss.reset()
        self.val_acc.reset()
        return metrics

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """Class logits (b, k) of a batch."""
        _, inputs, pad_mask = self.unpack(batch)
        return self.backend_model(inputs, pad_mask=pad_mask)
