"""The optimizer and learning rate schedule of a ``Lit*`` wrapper, built from its hyperparameters.

Every wrapper takes ``optimizer`` and ``lr_scheduler`` arguments and builds them in its
``configure_optimizers``, so that a plain ``pl.Trainer().fit(model)`` trains it; the training
scripts pass their ``--optimizer`` and ``--lr_scheduler`` options into these arguments, so a
checkpoint records what it was trained with. A specification is one of:

- a class name (``"AdamW"``, ``"Lamb"``, ``"CosineWithWarmupLR"``): an optimizer of
  ``torch.optim`` or ``pytorch_optimizer``, a schedule of :mod:`perceiver.scripts.lrs` or
  ``torch.optim.lr_scheduler``, with the class's own default arguments;
- a dotted class path (``"torch.optim.SGD"``);
- a dict ``{"class_path": <name or path>, "init_args": {...}}``, the form of LightningCLI and of
  YAML configs (``{"class_path": "AdamW", "init_args": {"lr": 3e-4}}``);
- ``None`` for ``lr_scheduler``: a constant learning rate.

The defaults equal the training scripts': ``AdamW`` with lr 1e-3 (AdamW's own default), and
``CosineWithWarmupLR`` (Perceiver AR, optical flow, multimodal) or ``ConstantWithWarmupLR``
(the Perceiver IO text and image models, as in krasserm/perceiver-io 0.11), stepped after every
optimizer step. ``CosineWithWarmupLR(training_steps=None)`` runs over the trainer's estimated
number of optimizer steps; ``ReduceLROnPlateau`` is stepped per epoch on ``val_loss``.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_OPTIMIZER",
    "build_lr_scheduler",
    "build_optimizer",
    "optimizer_config",
    "resolve_class",
    "set_training_steps",
    "spec_of",
]

DEFAULT_OPTIMIZER = {"class_path": "torch.optim.AdamW", "init_args": {"lr": 1e-3}}

# where a class name without a module is looked up, in this order
_OPTIMIZER_MODULES = ("torch.optim", "pytorch_optimizer")
_LR_SCHEDULER_MODULES = ("perceiver.scripts.lrs", "torch.optim.lr_scheduler")


def resolve_class(name: str, modules: Iterable[str], base: type | tuple[type, ...], argument: str) -> type:
    """The class ``name`` (a dotted path, or a name looked up in ``modules``), a subclass of ``base``.

    Raises:
        ValueError: naming ``argument`` and ``name`` when no such class exists.
    """
    candidates = [name] if "." in name else [f"{module}.{name}" for module in modules]
    for path in candidates:
        module_name, _, class_name = path.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, class_name, None)
        if isinstance(cls, type) and issubclass(cls, base):
            return cls
    where = "" if "." in name else f" (looked up in {', '.join(modules)})"
    raise ValueError(f"{argument}={name!r} is not a known class{where}")


def spec_of(value: Any, argument: str) -> dict[str, Any] | None:
    """``value`` (see the module docstring) as ``{"class_path": ..., "init_args": {...}}`` plain data."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"class_path": value, "init_args": {}}
    if isinstance(value, Mapping) or hasattr(value, "class_path"):
        get = (
            value.get
            if isinstance(value, Mapping)
            else lambda key, default=None: getattr(value, key, default)
        )
        class_path = get("class_path")
        init_args = get("init_args") or {}
        if not isinstance(class_path, str):
            raise ValueError(f"{argument} needs a 'class_path' (a class name or path), got {value!r}")
        if not isinstance(init_args, Mapping):
            init_args = vars(init_args)  # a jsonargparse Namespace
        unknown = set(value) - {"class_path", "init_args"} if isinstance(value, Mapping) else set()
        if unknown:
            raise ValueError(
                f"{argument} has the keys {sorted(unknown)}; expected 'class_path' and 'init_args'"
            )
        return {"class_path": class_path, "init_args": dict(init_args)}
    raise TypeError(
        f"{argument} must be a class name, a dict with 'class_path' and 'init_args', or None; "
        f"got {type(value).__name__}: {value!r}"
    )


def build_optimizer(spec: Any, params: Iterable[torch.nn.Parameter]) -> Optimizer:
    """The optimizer ``spec`` (``DEFAULT_OPTIMIZER`` when None) over ``params``."""
    spec = spec_of(spec, "optimizer") or DEFAULT_OPTIMIZER
    cls = resolve_class(spec["class_path"], _OPTIMIZER_MODULES, Optimizer, "optimizer")
    try:
        return cls(params, **spec["init_args"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"optimizer={spec!r}: {e}") from e


def build_lr_scheduler(spec: Any, optimizer: Optimizer) -> LRScheduler | ReduceLROnPlateau | None:
    """The learning rate schedule ``spec`` of ``optimizer`` (None: a constant learning rate)."""
    spec = spec_of(spec, "lr_scheduler")
    if spec is None:
        return None
    cls = resolve_class(
        spec["class_path"], _LR_SCHEDULER_MODULES, (LRScheduler, ReduceLROnPlateau), "lr_scheduler"
    )
    try:
        return cls(optimizer, **spec["init_args"])
    except TypeError as e:
        raise ValueError(f"lr_scheduler={spec!r}: {e}") from e


def check_spec(value: Any, argument: str, modules: Iterable[str], base: type | tuple[type, ...]) -> None:
    """Refuse an unknown class at construction, before any training."""
    spec = spec_of(value, argument)
    if spec is not None:
        resolve_class(spec["class_path"], modules, base, argument)


def check_optimizer_args(optimizer: Any, lr_scheduler: Any) -> None:
    check_spec(optimizer, "optimizer", _OPTIMIZER_MODULES, Optimizer)
    check_spec(lr_scheduler, "lr_scheduler", _LR_SCHEDULER_MODULES, (LRScheduler, ReduceLROnPlateau))


def optimizer_config(optimizer: Optimizer, lr_scheduler: Any, trainer: Any) -> Any:
    """What ``configure_optimizers`` returns: the schedule stepped per optimizer step (per epoch on
    ``val_loss`` for ``ReduceLROnPlateau``), ``training_steps=None`` filled in from ``trainer``."""
    if lr_scheduler is None:
        return optimizer
    if isinstance(lr_scheduler, ReduceLROnPlateau):
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": lr_scheduler, "monitor": "val_loss", "interval": "epoch"},
        }
    if getattr(lr_scheduler, "training_steps", 0) is None and trainer is not None:
        set_training_steps(lr_scheduler, trainer)
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": lr_scheduler, "interval": "step", "frequency": 1},
    }


def set_training_steps(lr_scheduler: Any, trainer: Any) -> None:
    """Fill in a schedule's ``training_steps`` from the trainer's estimate of the run's optimizer steps."""
    name = type(lr_scheduler).__name__
    estimate = trainer.estimated_stepping_batches
    if not math.isfinite(estimate):
        # max_time without max_steps / max_epochs (or max_epochs=-1): no step count
        logger.warning(
            "the run is bounded by time only (--trainer.max_time, no max_steps or max_epochs): %s has no "
            "number of training steps and holds the learning rate after warmup. Give "
            "--lr_scheduler.training_steps=<steps expected in the time budget> for a decay",
            name,
        )
        return
    lr_scheduler.training_steps = int(estimate)
    warmup_steps = getattr(lr_scheduler, "warmup_steps", 0)
    if warmup_steps > lr_scheduler.training_steps:  # e.g. a short trial run of a long configuration
        logger.warning(
            "%s: warmup_steps (%d) exceeds the run's %d training steps: the learning rate never reaches "
            "its peak",
            name,
            warmup_steps,
            lr_scheduler.training_steps,
        )
