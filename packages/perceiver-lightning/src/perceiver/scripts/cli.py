"""The LightningCLI shared by the training scripts (``python -m perceiver.scripts.<task> fit ...``).

- ``--optimizer``: any optimizer of ``torch.optim`` or ``pytorch_optimizer`` by class name
  (``Adam``, ``AdamW``, ``Lamb`` ...); default ``AdamW`` with lr 1e-3.
- ``--lr_scheduler``: default :class:`~perceiver.scripts.lrs.CosineWithWarmupLR` (its
  ``training_steps`` defaults to the run's number of optimizer steps), stepped per step.
- ``--data``: any ``LightningDataModule`` of perceiver-data (when installed) by class name;
  the data module's sizes are linked to the model (``data.vocab_size`` -> ``model.vocab_size`` ...).
- ``--trainer.strategy``: Lightning's strategies, and ``fsdp_cpu``
  (:class:`~perceiver.lightning.strategies.CPUFSDPStrategy`, FSDP on CPU with gloo).
- TensorBoard logging (Lightning's default logger), a progress bar, ``--config`` and
  ``--print_config`` as in every LightningCLI.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, LRSchedulerTypeTuple
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

import perceiver.lightning.strategies  # registers --trainer.strategy=fsdp_cpu
import perceiver.scripts.lrs  # noqa: F401  (registers the schedules by class name)

logger = logging.getLogger(__name__)

__all__ = ["CLI", "import_optional"]

# data module packages of perceiver-data, imported so that --data=<ClassName> resolves
DATA_MODULES = (
    "perceiver.data.text",
    "perceiver.data.vision",
    "perceiver.data.audio",
    "perceiver.data.multimodal",
)


def import_optional(*modules: str) -> list[str]:
    """Import what is installed (perceiver-data and its extras are optional); returns the imported."""
    imported = []
    for name in modules:
        try:
            importlib.import_module(name)
            imported.append(name)
        except ImportError as e:
            logger.debug("not importing %s: %s", name, e)
    return imported


def _register_optimizers() -> None:
    try:
        import pytorch_optimizer  # noqa: F401  (its optimizers subclass torch.optim.Optimizer)
    except ImportError:  # pragma: no cover - a declared dependency
        logger.warning("pytorch-optimizer is not installed: only torch.optim optimizers are available")


class CLI(LightningCLI):
    """LightningCLI of one ``Lit*`` model class.

    Args:
        model_class: the ``Lit*`` wrapper.
        links: (data attribute, model argument[, compute_fn]) linked at instantiation.
        model_defaults: defaults of ``--model.*`` options (``{"model.max_latents": 512}``).
        kwargs: further ``LightningCLI`` arguments (``args``, ``run``, ``trainer_defaults`` ...).
    """

    def __init__(
        self,
        model_class: type[pl.LightningModule],
        links: Iterable[tuple[Any, ...]] = (),
        model_defaults: dict[str, Any] | None = None,
        data_modules: Sequence[str] = DATA_MODULES,
        **kwargs: Any,
    ) -> None:
        self.links = list(links)
        self.model_defaults = dict(model_defaults or {})
        _register_optimizers()
        import_optional(*data_modules)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        super().__init__(model_class, subclass_mode_data=True, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_optimizer_args((Optimizer,))
        parser.add_lr_scheduler_args(LRSchedulerTypeTuple)
        parser.set_defaults(
            {
                "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 1e-3}},
                "lr_scheduler": {"class_path": "perceiver.scripts.lrs.CosineWithWarmupLR"},
                **self.model_defaults,
            }
        )
        for source, target, *compute in self.links:
            parser.link_arguments(source, target, *compute, apply_on="instantiate")

    @staticmethod
    def configure_optimizers(
        lightning_module: pl.LightningModule, optimizer: Optimizer, lr_scheduler: Any = None
    ) -> Any:
        if lr_scheduler is None:
            return optimizer
        if isinstance(lr_scheduler, ReduceLROnPlateau):
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": lr_scheduler, "monitor": "val_loss", "interval": "epoch"},
            }
        if hasattr(lr_scheduler, "training_steps") and lr_scheduler.training_steps is None:
            lr_scheduler.training_steps = int(lightning_module.trainer.estimated_stepping_batches)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": lr_scheduler, "interval": "step", "frequency": 1},
        }
