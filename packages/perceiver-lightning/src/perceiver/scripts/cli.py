"""The LightningCLI shared by the training scripts (``python -m perceiver.scripts.<task> fit ...``).

- ``--optimizer``: any optimizer of ``torch.optim`` or ``pytorch_optimizer`` by class name
  (``Adam``, ``AdamW``, ``Lamb`` ...); default ``AdamW`` with lr 1e-3. An optimizer named on
  the command line starts from its own defaults (``--optimizer=Adam`` has no weight decay).
- ``--lr_scheduler``: default :class:`~perceiver.scripts.lrs.CosineWithWarmupLR` (its
  ``training_steps`` defaults to the run's number of optimizer steps) or the script's
  (``ConstantWithWarmupLR`` for the Perceiver IO scripts, as in perceiver-io 0.11), stepped per step.
  A run bounded only by ``--trainer.max_time`` has no step count: the cosine schedule then holds
  the lr after warmup (with a warning) unless ``--lr_scheduler.training_steps`` is given.
  Both are passed to the model's ``optimizer`` and ``lr_scheduler`` arguments, whose
  ``configure_optimizers`` builds them (:mod:`perceiver.lightning.optim`): the checkpoint
  records them, and a model trained without the CLI gets the same defaults.
- ``fit``, ``validate``, ``test`` (metrics ``test_*``) and ``predict`` (the model's
  ``predict_step`` outputs) subcommands; the data module provides the matching loaders.
- Trainer defaults of krasserm/perceiver-io 0.11's ``trainer.yaml``: ``default_root_dir=logs``, a
  ``LearningRateMonitor`` (every step) and a ``ModelCheckpoint`` of the best ``val_loss``
  (``epoch=000-val_loss=1.234.ckpt``) that also saves ``last.ckpt``, the state where training
  stopped (:class:`~perceiver.lightning.callbacks.FinalStateCheckpoint`); ``--trainer.callbacks=...``
  replaces them, ``--trainer.callbacks+=...`` adds to them.
- ``--ckpt_path=last`` resumes from the newest ``last*.ckpt`` of every earlier run (all
  ``<logger dir>/version_*/checkpoints`` folders, or the checkpoint callback's ``dirpath``),
  where Lightning alone looks only in the new run's empty version folder.
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
import importlib.util
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, LRSchedulerTypeTuple
from torch.optim import Optimizer

import perceiver.lightning.callbacks  # --trainer.callbacks=FinalStateCheckpoint by name
import perceiver.lightning.strategies  # registers --trainer.strategy=fsdp_cpu
import perceiver.scripts.lrs  # noqa: F401  (registers the schedules by class name)
from perceiver.lightning.optim import DEFAULT_OPTIMIZER, spec_of

logger = logging.getLogger(__name__)

__all__ = [
    "CLI",
    "data_num_classes",
    "find_last_checkpoint",
    "import_optional",
    "init_args",
    "named_on_command_line",
]

# CLI options passed to the model's arguments of the same name (its configure_optimizers builds them)
OPTIMIZER_LINKS = {"optimizer": "model.optimizer", "lr_scheduler": "model.lr_scheduler"}
DEFAULT_LR_SCHEDULER = "perceiver.scripts.lrs.CosineWithWarmupLR"

# krasserm/perceiver-io 0.11's trainer.yaml: the learning rate logged every step, the best checkpoints
# by val_loss (its file names), logs under logs/. Unlike it, checkpoints are complete (optimizer
# state included, so that a run can resume) and last.ckpt holds the state where training stopped
TRAINER_DEFAULTS = {
    "trainer.default_root_dir": "logs",
    "trainer.callbacks": [
        {
            "class_path": "pytorch_lightning.callbacks.LearningRateMonitor",
            "init_args": {"logging_interval": "step", "log_momentum": False},
        },
        {
            "class_path": "perceiver.lightning.callbacks.FinalStateCheckpoint",
            "init_args": {
                "monitor": "val_loss",
                "mode": "min",
                "filename": "{epoch:03d}-{val_loss:.3f}",
                "save_last": True,
            },
        },
    ],
}

# modules of perceiver-data that define data modules, imported so that --data=<ClassName> resolves
# (perceiver.data.vision, perceiver.data.audio and perceiver.data.multimodal load their modules
# lazily, so the defining modules themselves are named)
DATA_MODULES = (
    "perceiver.data.text",
    "perceiver.data.vision.mnist",
    "perceiver.data.vision.imagenet",
    "perceiver.data.vision.optical_flow",
    "perceiver.data.audio.datamodule",
    "perceiver.data.multimodal.clips",
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
            "taken from the data module, so use one that knows its classes (ImdbDataModule, MNISTDataModule ...), "
            "name them (--data.class_names=[...]) or give data whose label column is a datasets.ClassLabel"
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
            origin = "" if source in OPTIMIZER_LINKS else " (the data module's value)"
            sys.stderr.write(
                f"error: --{option} is taken from --{source}{origin} and cannot be given: leave it out\n"
            )
            raise SystemExit(2)


DATA_EXTRA_HINT = 'pip install "perceiver-lightning[data]"'


def _perceiver_data_installed() -> bool:
    try:
        return importlib.util.find_spec("perceiver.data") is not None
    except (ImportError, ValueError):
        return False


def _refuse_data_without_perceiver_data(args: Any) -> None:
    """``--data=<name>`` of a perceiver-data class, on the command line or in a ``--config`` file, when
    perceiver-data is not installed: say what to install."""
    if _perceiver_data_installed():
        return  # installed, but its data modules failed to import: jsonargparse names the class
    if args is None:
        args = sys.argv[1:]
    if not isinstance(args, list | tuple):
        return
    for value, origin in _data_class_names(list(args)):
        if not _importable_class(value):
            sys.stderr.write(
                f"error: --data={value}{origin} names a data module of perceiver-data, which is not "
                f"installed: {DATA_EXTRA_HINT}\n"
            )
            raise SystemExit(2)


SUBCOMMANDS = ("fit", "validate", "test", "predict")


def _option_values(args: list[str], option: str) -> Iterable[str]:
    """The values of ``--<option>=<value>`` and ``--<option> <value>`` in ``args``."""
    for i, arg in enumerate(args):
        if arg.startswith(f"--{option}="):
            yield arg.removeprefix(f"--{option}=")
        elif arg == f"--{option}" and i + 1 < len(args):
            yield args[i + 1]


def _data_class_names(args: list[str]) -> Iterable[tuple[str, str]]:
    """The data module classes that ``args`` name, each with where it is named (`` in <file>``)."""
    for value in _option_values(args, "data"):
        if value.endswith((".yaml", ".yml", ".json")) and Path(value).is_file():  # a file of data options
            yield from ((name, f" in {value}") for name in _class_names_in(_read_config(value), ()))
        else:
            yield value, ""
    for path in _option_values(args, "config"):
        if Path(path).is_file():
            yield from ((name, f" in {path}") for name in _class_names_in(_read_config(path), ("data",)))


def _read_config(path: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # jsonargparse reports it


def _class_names_in(config: Any, keys: tuple[str, ...]) -> Iterable[str]:
    """The ``data`` class a config names: ``data: <class>`` or ``data: {class_path: <class>}``, also
    under a subcommand (``fit: {data: ...}``) in a config given before the subcommand; with ``keys``
    empty, ``config`` is the data option itself."""
    if not isinstance(config, dict):
        if not keys and isinstance(config, str):
            yield config
        return
    if not keys:
        if isinstance(config.get("class_path"), str):
            yield config["class_path"]
        return
    if "data" in config:
        yield from _class_names_in(config["data"], ())
    for subcommand in SUBCOMMANDS:
        if isinstance(config.get(subcommand), dict):
            yield from _class_names_in(config[subcommand], keys)


def _importable_class(path: str) -> bool:
    """Whether ``path`` is a dotted path of a class that imports (a user's own data module)."""
    module_name, _, name = path.rpartition(".")
    if not module_name:
        return False
    try:
        return hasattr(importlib.import_module(module_name), name)
    except ImportError:
        return False


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
        _refuse_link_targets([*self.links, *OPTIMIZER_LINKS.items()], kwargs.get("args"))
        # jsonargparse keeps the default class's arguments that a class named on the command line
        # also takes (AdamW's weight_decay=0.01 for --optimizer=Adam): no default class then
        args = kwargs.get("args")
        self.optimizer_default = None if named_on_command_line("optimizer", args) else DEFAULT_OPTIMIZER
        named = named_on_command_line("lr_scheduler", args)
        self.lr_scheduler_default = None if named else {"class_path": lr_scheduler}
        _register_optimizers()
        if not import_optional(*data_modules) and data_modules:
            _refuse_data_without_perceiver_data(kwargs.get("args"))
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        # the model builds the optimizer and schedule (configure_optimizers) from the linked options
        kwargs.setdefault("auto_configure_optimizers", False)
        super().__init__(model_class, subclass_mode_data=True, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_optimizer_args((Optimizer,))
        parser.add_lr_scheduler_args(LRSchedulerTypeTuple)
        parser.link_arguments("optimizer", "model.optimizer", compute_fn=_optimizer_spec, apply_on="parse")
        parser.link_arguments(
            "lr_scheduler", "model.lr_scheduler", compute_fn=_lr_scheduler_spec, apply_on="parse"
        )
        parser.set_defaults(
            {
                **TRAINER_DEFAULTS,
                "optimizer": self.optimizer_default,
                "lr_scheduler": self.lr_scheduler_default,
                **self.model_defaults,
            }
        )
        for source, target, *compute in self.links:
            parser.link_arguments(source, target, *compute, apply_on="instantiate")

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        config = self._get(self.config_init, "trainer", default={})
        # default callbacks that the user's trainer options leave nothing to do (Lightning would
        # refuse to start with them)
        if config.get("logger") is False:  # nothing to log the learning rate to
            _drop_callbacks(config, LearningRateMonitor, "--trainer.logger=false")
        if config.get("enable_checkpointing") is False:
            _drop_callbacks(config, ModelCheckpoint, "--trainer.enable_checkpointing=false")
        return super().instantiate_trainer(**kwargs)

    def _resolve_last(self) -> None:
        config = self.config_init[self.subcommand]
        if config.get("ckpt_path") == "last":
            config["ckpt_path"] = find_last_checkpoint(self.trainer)

    before_fit = before_validate = before_test = before_predict = _resolve_last


def _drop_callbacks(config: dict[str, Any], kind: type, option: str) -> None:
    callbacks = config.get("callbacks") or []
    if any(isinstance(c, kind) for c in callbacks):
        logger.info("%s: without the %s callback", option, kind.__name__)
        config["callbacks"] = [c for c in callbacks if not isinstance(c, kind)]


def _optimizer_spec(value: Any) -> dict[str, Any] | None:
    return spec_of(value, "optimizer")


def _lr_scheduler_spec(value: Any) -> dict[str, Any] | None:
    return spec_of(value, "lr_scheduler")


def _checkpoint_folders(trainer: pl.Trainer) -> list[Path]:
    """The folders where this and earlier runs of the same configuration write checkpoints."""
    folders = []
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.dirpath is not None:
            folders.append(Path(callback.dirpath))
    if len(folders) < len(trainer.checkpoint_callbacks) or not folders:
        # a callback without dirpath writes to <logger root>/version_<n>/checkpoints, a new version per run
        logger_ = trainer.logger
        root = getattr(logger_, "root_dir", None) if logger_ is not None else None
        if root is not None:
            folders += sorted(Path(root).glob("*/checkpoints"))
        else:
            folders.append(Path(trainer.default_root_dir) / "checkpoints")
    return folders


def _globbed(folders: list[Path], pattern: str) -> Iterable[Path]:
    for folder in folders:
        yield from folder.glob(pattern)


def find_last_checkpoint(trainer: pl.Trainer) -> str | None:
    """The newest ``last*.ckpt`` under the run's checkpoint folders (``--ckpt_path=last``).

    Lightning resolves ``ckpt_path="last"`` in the new run's own version folder, which is empty,
    and starts from step 0 with a warning. Here every earlier version folder of the logger (or
    the callbacks' ``dirpath``) is searched. ``None`` (a new run, with a warning) when there is none.
    """
    if any("://" in str(getattr(cb, "dirpath", "") or "") for cb in trainer.checkpoint_callbacks):
        return "last"  # remote checkpoint folders: Lightning's own lookup
    folders = _checkpoint_folders(trainer)
    last = list(_globbed(folders, "last*.ckpt"))  # files, or folders of sharded checkpoints
    if last:
        path = max(last, key=lambda p: p.stat().st_mtime)
        logger.info("--ckpt_path=last: resuming from %s", path)
        return os.fspath(path)
    others = list(_globbed(folders, "*.ckpt"))
    hint = (
        f"; there are {len(others)} other checkpoints (newest {max(others, key=lambda p: p.stat().st_mtime)}): "
        "pass one with --ckpt_path=<file>"
        if others
        else ""
    )
    logger.warning(
        "--ckpt_path=last: no last checkpoint in %s (ModelCheckpoint(save_last=True) writes one), so the "
        "run starts from step 0%s",
        ", ".join(map(str, folders)) or "any checkpoint folder",
        hint,
    )
    return None
