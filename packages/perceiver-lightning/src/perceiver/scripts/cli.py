"""The LightningCLI shared by the training scripts (``python -m perceiver.scripts.<task> fit ...``).

- ``--optimizer``: any optimizer of ``torch.optim`` or ``pytorch_optimizer`` by class name
  (``Adam``, ``AdamW``, ``Lamb`` ...); default ``AdamW`` with lr 1e-3. An optimizer named on
  the command line starts from its own defaults (``--optimizer=Adam`` has no weight decay).
- ``--lr_scheduler``: default :class:`~perceiver.scripts.lrs.CosineWithWarmupLR` (its
  ``training_steps`` defaults to the run's number of optimizer steps) or the script's
  (``ConstantWithWarmupLR`` for the Perceiver IO scripts, as in perceiver-io 0.11), stepped per step.
- ``--data``: any ``LightningDataModule`` of perceiver-data (when installed) by class name;
  the data module's sizes are linked to the model (``data.vocab_size`` -> ``model.vocab_size`` ...).
- ``--trainer.strategy``: Lightning's strategies, ``fsdp_cpu``
  (:class:`~perceiver.lightning.strategies.CPUFSDPStrategy`, FSDP on CPU with gloo) and
  ``ddp_static_graph`` (DDP with a static graph, as in perceiver-io 0.11).
- TensorBoard logging (Lightning's default logger), a progress bar, ``--config`` and
  ``--print_config`` as in every LightningCLI.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, LRSchedulerTypeTuple
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

import perceiver.lightning.strategies  # registers --trainer.strategy=fsdp_cpu
import perceiver.scripts.lrs  # noqa: F401  (registers the schedules by class name)

logger = logging.getLogger(__name__)

__all__ = ["CLI", "data_num_classes", "import_optional", "init_args", "named_on_command_line"]

DEFAULT_OPTIMIZER = {"class_path": "torch.optim.AdamW", "init_args": {"lr": 1e-3}}
DEFAULT_LR_SCHEDULER = "perceiver.scripts.lrs.CosineWithWarmupLR"

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


def data_num_classes(num_classes: int | None) -> int:
    """Link of ``data.num_classes`` to the classifier decoder's ``num_classes``."""
    if not isinstance(num_classes, int):
        raise ValueError(
            f"the data module's num_classes is {num_classes!r}: the classifier's decoder.num_classes is "
            "taken from the data module, so use one that knows its classes (ImdbDataModule, MNISTDataModule ...)"
        )
    return num_classes


def init_args(class_path: str, **defaults: Any) -> dict[str, Any]:
    """The default of a nested config option: its class and the defaults of some of its fields."""
    return {"class_path": class_path, "init_args": defaults}


def named_on_command_line(option: str, args: Any) -> bool:
    """Whether ``--<option>=<class>`` / ``--<option> <class>`` is among the command line ``args``."""
    if args is None:
        args = sys.argv[1:]
    if not isinstance(args, list | tuple):
        return False
    return any(arg == f"--{option}" or arg.startswith(f"--{option}=") for arg in args)


def _refuse_link_targets(links: Iterable[tuple[Any, ...]], args: Any) -> None:
    """A linked option given on the command line would be overwritten silently: refuse it."""
    for source, target, *_ in links:
        option = target.replace(".init_args.", ".")
        if named_on_command_line(option, args) or named_on_command_line(target, args):
            sys.stderr.write(
                f"error: --{option} is taken from --{source} (the data module's value) and cannot be "
                "given: leave it out\n"
            )
            raise SystemExit(2)


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
        lr_scheduler: the default ``--lr_scheduler`` class.
        kwargs: further ``LightningCLI`` arguments (``args``, ``run``, ``trainer_defaults`` ...).
    """

    def __init__(
        self,
        model_class: type[pl.LightningModule],
        links: Iterable[tuple[Any, ...]] = (),
        model_defaults: dict[str, Any] | None = None,
        data_modules: Sequence[str] = DATA_MODULES,
        lr_scheduler: str = DEFAULT_LR_SCHEDULER,
        **kwargs: Any,
    ) -> None:
        self.links = list(links)
        self.model_defaults = dict(model_defaults or {})
        _refuse_link_targets(self.links, kwargs.get("args"))
        # jsonargparse keeps the default class's arguments that a class named on the command line
        # also takes (AdamW's weight_decay=0.01 for --optimizer=Adam): no default class then
        args = kwargs.get("args")
        self.optimizer_default = None if named_on_command_line("optimizer", args) else DEFAULT_OPTIMIZER
        named = named_on_command_line("lr_scheduler", args)
        self.lr_scheduler_default = None if named else {"class_path": lr_scheduler}
        _register_optimizers()
        import_optional(*data_modules)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        super().__init__(model_class, subclass_mode_data=True, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_optimizer_args((Optimizer,))
        parser.add_lr_scheduler_args(LRSchedulerTypeTuple)
        parser.set_defaults(
            {
                "optimizer": self.optimizer_default,
                "lr_scheduler": self.lr_scheduler_default,
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
