"""What every ``Lit*`` wrapper shares: construction from a core config, ``params`` loading,
plain-data hyperparameters, the task tag in checkpoints and the pre-training input checks.

A wrapper owns a core model (``backend_model``, alias ``model``), its loss and its metrics;
the optimizer comes from the LightningCLI (``--optimizer``) or from ``configure_optimizers``
added by the user (as in the seed docs). Hyperparameters are stored as plain data so that
``load_from_checkpoint`` works under ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from torch import nn

from perceiver.lightning._batch_checks import check_finite, floating_tensors
from perceiver.lightning._checkpoint import AtomicCheckpointIO, naming_checkpoint
from perceiver.model.core.config import ConfigBase

logger = logging.getLogger(__name__)

__all__ = ["LitModel", "read_checkpoint_task"]

TASK_KEY = "perceiver_task"


def _plain(value: Any) -> Any:
    """Configs to dicts and tuples to lists, recursively: what ``weights_only`` loading accepts."""
    if isinstance(value, ConfigBase):
        return _plain(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    with naming_checkpoint(path):
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # not a zip-format checkpoint: no mmap
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict):
        raise ValueError(
            f"{os.fspath(path)!r} is not a Lightning checkpoint (it holds a {type(checkpoint).__name__})"
        )
    return checkpoint


def read_checkpoint_task(path: str | os.PathLike) -> str | None:
    """The task tag (``"text.clm"`` ...) of a checkpoint written by a ``Lit*`` wrapper."""
    return _load_checkpoint(path).get(TASK_KEY)


class LitModel(pl.LightningModule):
    """Base class of the ``Lit*`` wrappers.

    Subclasses set ``task`` (the module path below ``perceiver.lightning``), ``config_class``
    and ``model_class``, and call :meth:`_build` from ``__init__``.
    """

    task: ClassVar[str]
    config_class: ClassVar[type[ConfigBase]]
    model_class: ClassVar[type[nn.Module]]
    # hyperparameters that are not fields of config_class
    extra_hparams: ClassVar[tuple[str, ...]] = ("params",)
    # constructor arguments naming files of initial weights (not needed to load a checkpoint)
    weight_sources: ClassVar[tuple[str, ...]] = ("params",)

    backend_model: nn.Module

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(cls, config: ConfigBase, params: str | None = None, **kwargs: Any) -> LitModel:
        """A wrapper of a new core model built from ``config``.

        Args:
            config: the core model's config (``CausalLanguageModelConfig`` ...).
            params: initial weights: a Lightning checkpoint of the same task, or a local
                directory holding ``model.safetensors`` (a saved 🤗 wrapper of the model).
            kwargs: further ``__init__`` arguments of the wrapper (metrics, sampling ...).
        """
        if not isinstance(config, cls.config_class):
            raise TypeError(
                f"{cls.__name__}.create expects a {cls.config_class.__name__}, got {type(config).__name__}"
            )
        return cls(**config.to_dict(), params=params, **kwargs)

    def _build(self, hparams: dict[str, Any]) -> None:
        """Save ``hparams`` (plain data), build the config and the core model, load ``params``."""
        hparams = _plain({k: v for k, v in hparams.items() if k not in ("self", "__class__")})
        self.save_hyperparameters(hparams)
        fields = {f.name for f in dataclasses.fields(self.config_class)}
        config = self.config_class.from_dict({k: v for k, v in hparams.items() if k in fields})
        self.backend_model = self.model_class(config)
        if hparams.get("params") is not None:
            self.load_params(hparams["params"])

    @property
    def model(self) -> nn.Module:
        """The core model (the seed docs' name for ``backend_model``)."""
        return self.backend_model

    @property
    def config(self) -> ConfigBase:
        return self.backend_model.config

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.backend_model(*args, **kwargs)

    # ------------------------------------------------------------------ weights

    def load_params(self, params: str | os.PathLike) -> None:
        """Load the core model's weights from a checkpoint file or a local model directory."""
        if not isinstance(params, str | os.PathLike):
            raise TypeError(
                f"params must be a path (str or os.PathLike), got {type(params).__name__}: {params!r}"
            )
        path = Path(params)
        if path.is_file():
            state = self._checked_checkpoint(path)["state_dict"]
        elif path.is_dir():
            state = _load_model_dir(path)
        else:
            raise FileNotFoundError(
                f"params={os.fspath(params)!r} is neither a Lightning checkpoint file nor a local directory "
                "with model.safetensors. Loading a 🤗 Hub model by id needs perceiver-hf (not part of "
                "perceiver-lightning): download the model to a directory and pass that instead"
            )
        prefix = "backend_model."
        state = {k.removeprefix(prefix): v for k, v in state.items()}
        try:
            missing, unexpected = self.backend_model.load_state_dict(state, strict=False)
        except RuntimeError as e:  # tensors of other shapes: a model of another config
            raise ValueError(
                f"params={os.fspath(params)!r} does not fit {type(self.backend_model).__name__} "
                f"(another model config?): {e}"
            ) from e
        if missing or unexpected:
            raise ValueError(
                f"params={os.fspath(params)!r} does not fit {type(self.backend_model).__name__}: "
                f"missing keys {missing[:8]}, unexpected keys {unexpected[:8]}"
            )

    @classmethod
    def _check_task(cls, task: str | None, source: Any) -> None:
        if task is not None and task != cls.task:
            raise ValueError(
                f"{source} is a checkpoint of task {task!r}, not of {cls.__name__} (task {cls.task!r})"
            )
        if task is None:
            logger.warning("%s has no task tag; assuming it is a %s checkpoint", source, cls.__name__)

    @classmethod
    def _checked_checkpoint(cls, path: str | os.PathLike) -> dict[str, Any]:
        checkpoint = _load_checkpoint(path)
        if "state_dict" not in checkpoint:
            raise ValueError(f"{os.fspath(path)!r} is not a Lightning checkpoint (no 'state_dict')")
        cls._check_task(checkpoint.get(TASK_KEY), repr(os.fspath(path)))
        return checkpoint

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Lightning's ``load_from_checkpoint``, refusing checkpoints of another task first."""
        if isinstance(checkpoint_path, str | os.PathLike) and Path(checkpoint_path).is_file():
            cls._checked_checkpoint(checkpoint_path)
        # the checkpoint holds the weights: do not read the initial weights (params=) again,
        # whose file may be gone by now
        for name in cls.weight_sources:
            kwargs.setdefault(name, None)
        return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[TASK_KEY] = self.task
        # data module hyperparameters may hold enums (perceiver-data's Task): store plain data so
        # that the checkpoint loads with torch.load(weights_only=True)
        key = "datamodule_hyper_parameters"
        if key in checkpoint:
            checkpoint[key] = _plain(dict(checkpoint[key]))

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._check_task(checkpoint.get(TASK_KEY), "the checkpoint to resume from")

    # ------------------------------------------------------------------ checks before training

    def setup(self, stage: str) -> None:
        trainer = self.trainer
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is not None:
            self.check_data(datamodule)

    def check_data(self, datamodule: Any) -> None:
        """Raise ``ValueError`` when the data does not fit the model (before any training)."""
        for name, limit in self.data_limits().items():
            value = getattr(datamodule, name, None)
            if isinstance(value, int) and value > limit:
                raise ValueError(
                    f"the data's {name} ({value}) exceeds the model's {name} ({limit}) of "
                    f"{type(self).__name__}; build the model with {name}>={value}"
                )

    def data_limits(self) -> dict[str, int]:
        """Data module properties that must not exceed the model's values."""
        return {}

    # ------------------------------------------------------------------ checks of each batch

    def _on_before_batch_transfer(self, batch: Any, dataloader_idx: int = 0) -> Any:
        """Check training and validation batches on the CPU, before they move to the accelerator.

        Lightning's loops call this private method, which runs the public ``on_before_batch_transfer``
        hook of the data module or of this module. Checking here (after that hook) instead of
        overriding the public hook leaves the hook to users, checks batches whose data module
        overrides it, and keeps Lightning from warning about a hook overridden by the model
        (tests/test_bad_input.py fails when Lightning stops calling it).
        """
        batch = super()._on_before_batch_transfer(batch, dataloader_idx)
        trainer = self._trainer
        if trainer is not None and trainer.training:
            batch_idx = trainer.fit_loop.epoch_loop.batch_idx + 1
            where = f"training batch {batch_idx} of epoch {trainer.current_epoch} (global step {trainer.global_step})"
            self.check_batch(batch, where)
        elif trainer is not None and (trainer.validating or trainer.sanity_checking):
            self.check_batch(batch, f"validation batch at global step {trainer.global_step}")
        return batch

    def check_batch(self, batch: Any, where: str) -> None:
        """Raise ``ValueError`` for a batch the model must not train on (``where`` names the batch).

        Runs on the CPU copy of each training and validation batch (see ``_batch_checks``); the
        base class refuses non-finite floating-point tensors, subclasses add labels and token ids.
        """
        check_finite(floating_tensors(batch), where)


def _load_model_dir(path: Path) -> dict[str, torch.Tensor]:
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(
            f"{os.fspath(path)!r} has no model.safetensors; expected a directory saved by a 🤗 wrapper "
            "(perceiver-hf's save_pretrained) or a safetensors file of the core model's state_dict"
        )
    try:
        from safetensors.torch import load_file
    except ImportError as e:  # pragma: no cover - safetensors comes with transformers
        raise ImportError(f"loading {weights} needs the safetensors package: pip install safetensors") from e
    try:
        return load_file(str(weights))
    except Exception as e:  # safetensors' own error type: a truncated or corrupt file
        raise ValueError(f"{os.fspath(weights)!r} is not a readable safetensors file: {e}") from e
