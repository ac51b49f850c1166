"""Checkpoint callback of the training scripts: ``last.ckpt`` is the state where training stopped.

Lightning's ``ModelCheckpoint(save_last=True)`` writes ``last.ckpt`` only together with another
checkpoint, at a validation (or every n steps). A run that stops in between (``max_steps`` that is
not a multiple of ``val_check_interval``, ``max_time``, the end of a short last epoch) leaves a
``last.ckpt`` of the last validation, and resuming from it repeats the steps after it.
:class:`FinalStateCheckpoint` also writes ``last.ckpt`` when training ends, so that ``--ckpt_path=last``
continues where training stopped. Everything else is Lightning's ``ModelCheckpoint``.
"""

from __future__ import annotations

import os

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

__all__ = ["FinalStateCheckpoint"]


class FinalStateCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` (``save_last``) is also written when training ends.

    Its state in checkpoints is stored under ``ModelCheckpoint``'s key, so that checkpoints of runs
    with either class (krasserm/perceiver-io 0.11's included) restore its best-model bookkeeping.
    """

    @property
    def state_key(self) -> str:
        key = super().state_key
        return ModelCheckpoint.__qualname__ + key.removeprefix(type(self).__qualname__)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # not after an exception or interrupt (on_train_end is not called then), not for fast_dev_run,
        # and not twice: a checkpoint saved at this very step (the last validation) is already the end
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            if self.save_last == "link":
                # a link would point at the checkpoint of an earlier step: write the file instead
                if trainer.is_global_zero and self.last_model_path and os.path.islink(self.last_model_path):
                    os.unlink(self.last_model_path)
                trainer.strategy.barrier()
                self._last_checkpoint_saved = ""
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        super().on_train_end(trainer, pl_module)
