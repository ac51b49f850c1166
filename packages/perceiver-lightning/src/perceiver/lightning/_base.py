"""What every ``Lit*`` wrapper shares: construction from a core config, ``params`` loading,
plain-data hyperparameters, the task tag in checkpoints and the pre-training input checks.

A wrapper owns a core model (``backend_model``, alias ``model``), its loss and its metrics, and
builds its optimizer and learning rate schedule from its ``optimizer`` and ``lr_scheduler``
arguments (:mod:`perceiver.lightning.optim`; the training scripts set them from ``--optimizer``
and ``--lr_scheduler``). Hyperparameters are stored as plain data so that
``load_from_checkpoint`` works under ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import io
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from torch import nn

from perceiver.lightning._batch_checks import check_finite, floating_tensors
from perceiver.lightning._checkpoint import AtomicCheckpointIO
from perceiver.lightning._legacy_resume import convert_legacy_checkpoint
from perceiver.lightning.optim import (
    build_lr_scheduler,
    build_optimizer,
    check_optimizer_args,
    optimizer_config,
)
from perceiver.model.core.checkpoint import (
    BACKEND_PREFIX,
    TASK_KEY,
    check_task,
    is_legacy_checkpoint,
    legacy_backend,
    load_checkpoint,
    plain_data,
    read_backend,
)
from perceiver.model.core.config import ConfigBase, field_docs
from perceiver.model.core.data_spec import DATA_HPARAMS_KEY

logger = logging.getLogger(__name__)

__all__ = ["HF_CLASSES", "LitModel", "as_config", "read_checkpoint_task"]

C = TypeVar("C", bound=ConfigBase)

# documentation of the __init__ arguments every wrapper has besides its config's fields
WRAPPER_ARGUMENT_DOCS = {
    "params": "initial weights of the model: a Lightning checkpoint of the same task (ours or "
    "krasserm/perceiver-io 0.11's), a local 🤗 directory or a 🤗 Hub id.",
    "optimizer": "the optimizer configure_optimizers builds: a class path and its init_args "
    "(see perceiver.lightning.optim; the CLI fills it from --optimizer).",
    "lr_scheduler": "the learning-rate schedule configure_optimizers builds, as a class path and "
    "init_args (None: a constant learning rate; the CLI fills it from --lr_scheduler).",
}


def as_config(config_class: type[C], value: Any, argument: str) -> C:
    """``value``, a ``config_class`` instance, another dataclass or a mapping of its fields, as a
    ``config_class`` instance (``--model.encoder`` gives a dataclass, ``create`` a dict)."""
    if type(value) is config_class:
        return value
    if isinstance(value, Mapping) or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        try:
            return config_class.from_dict(plain_data(value))
        except ValueError as e:
            raise ValueError(f"{argument}: {e}") from None
    raise TypeError(
        f"{argument} must be a {config_class.__name__} or a dict of its fields, got {type(value).__name__}: {value!r}"
    )


def read_checkpoint_task(path: str | os.PathLike) -> str | None:
    """The task tag (``"text.clm"`` ...) of a checkpoint written by a ``Lit*`` wrapper."""
    return load_checkpoint(path).get(TASK_KEY)


# the 🤗 wrapper of each task in perceiver-hf, for params= given a 🤗 directory or Hub id
HF_CLASSES = {
    "text.mlm": ("perceiver.hf.text.mlm", "PerceiverMaskedLanguageModel"),
    "text.classifier": ("perceiver.hf.text.classifier", "PerceiverTextClassifier"),
    "text.clm": ("perceiver.hf.text.clm", "PerceiverCausalLanguageModel"),
    "audio.symbolic": ("perceiver.hf.audio.symbolic", "PerceiverSymbolicAudioModel"),
    "vision.image_classifier": ("perceiver.hf.vision.image_classifier", "PerceiverImageClassifier"),
    "vision.optical_flow": ("perceiver.hf.vision.optical_flow", "OpticalFlowPerceiver"),
    "multimodal.autoencoder": ("perceiver.hf.multimodal.autoencoder", "PerceiverMultimodalAutoencoder"),
}

# config fields that do not change which function the weights compute (regularization,
# initialization, memory): they may differ between params= and the model
NON_ARCHITECTURE_FIELDS = frozenset(
    {
        "dropout",
        "residual_dropout",
        "cross_attention_dropout",
        "post_attention_dropout",
        "init_scale",
        "freeze",
        "activation_checkpointing",
    }
)


class LitModel(pl.LightningModule):
    """Base class of the ``Lit*`` wrappers.

    Subclasses set ``task`` (the module path below ``perceiver.lightning``), ``config_class``
    and ``model_class``. Their ``__init__`` builds the core config from its arguments, saves it
    and the other arguments with :meth:`save_config_hyperparameters`, builds ``backend_model``
    and loads ``params``. The ``__init__`` arguments that are fields of ``config_class`` are
    documented by the config's docstring.

    Args:
        params: initial weights of the model: a Lightning checkpoint of the same task (ours or
            krasserm/perceiver-io 0.11's), a local 🤗 directory or a 🤗 Hub id.
    """

    task: ClassVar[str]
    config_class: ClassVar[type[ConfigBase]]
    model_class: ClassVar[type[nn.Module]]

    backend_model: nn.Module

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Document the ``__init__`` arguments that are config fields with the config's field
        docs (``Args:`` of the class docstring), where the CLI's ``--help`` reads them, and the
        arguments every wrapper has with :data:`WRAPPER_ARGUMENT_DOCS`."""
        super().__init_subclass__(**kwargs)
        config_class = getattr(cls, "config_class", None)
        if config_class is None:
            return
        docs, documented = {**field_docs(config_class), **WRAPPER_ARGUMENT_DOCS}, field_docs(cls)
        entries = [
            f"    {name}: {docs[name]}"
            for name in inspect.signature(cls.__init__).parameters
            if name in docs and name not in documented
        ]
        if not entries:
            return
        # dedented first: Python 3.13 strips a docstring's indentation when it compiles it,
        # earlier versions keep it; either way the Args section is then "\nArgs:\n"
        doc = inspect.cleandoc(cls.__doc__ or "")
        if "\nArgs:\n" in doc:  # one Args section: docstring parsers read only one
            head, tail = doc.split("\nArgs:\n", 1)
            cls.__doc__ = head + "\nArgs:\n" + "\n".join(entries) + "\n" + tail + "\n"
        else:
            cls.__doc__ = doc + "\n\nArgs:\n" + "\n".join(entries) + "\n"

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(cls, config: ConfigBase, params: str | None = None, **kwargs: Any) -> LitModel:
        """A wrapper of a new core model built from ``config``.

        Args:
            config: the core model's config (``CausalLanguageModelConfig`` ...).
            params: initial weights: a Lightning checkpoint of the same task, or a local
                directory holding ``model.safetensors`` (a saved 🤗 wrapper of the model).
            kwargs: further ``__init__`` arguments of the wrapper (``optimizer``, sampling ...).
        """
        arguments = cls._config_attribute_arguments(config)
        config = cls._task_config(config)
        if not isinstance(config, cls.config_class):
            raise TypeError(
                f"{cls.__name__}.create expects a {cls.config_class.__name__}, got {type(config).__name__}"
            )
        if params is not None:
            arguments["params"] = _same_weights("params", params, arguments.get("params"))
        for name, value in kwargs.items():
            if name in arguments:
                kwargs[name] = _same_weights(name, value, arguments.pop(name))
        return cls(**config.to_dict(), **{"params": None, **arguments, **kwargs})

    # attributes that perceiver-io 0.11's recipes set on a config although they are no fields of
    # it (``config.params = ...``), and the __init__ argument each stands for
    config_attributes: ClassVar[dict[str, str]] = {"params": "params"}

    @classmethod
    def _task_config(cls, config: Any) -> Any:
        """``config`` as this wrapper's ``config_class`` where it can be converted (subclasses)."""
        return config

    @classmethod
    def _config_attribute_arguments(cls, config: Any) -> dict[str, Any]:
        """The __init__ arguments given by attributes set on ``config`` outside its fields (see
        :attr:`config_attributes`); any other such attribute is an error, as it would be ignored."""
        arguments, unknown = {}, []
        for path, value in _non_field_attributes(config).items():
            if path in cls.config_attributes:
                arguments[cls.config_attributes[path]] = value
            else:
                unknown.append(path)
        if unknown:
            raise ValueError(
                f"{cls.__name__}.create: config.{', config.'.join(unknown)} "
                f"{'is no config field' if len(unknown) == 1 else 'are no config fields'} and would be "
                f"ignored; the fields are those of {type(config).__name__} and its parts"
                + (
                    f"; set as attributes, only config.{', config.'.join(cls.config_attributes)} are read"
                    if cls.config_attributes
                    else ""
                )
            )
        return arguments

    def save_config_hyperparameters(self, config: ConfigBase, **others: Any) -> None:
        """Save the core model's ``config`` and the wrapper's ``others`` arguments as hyperparameters.

        Stored as plain data (dicts, lists, strings, numbers), so that ``load_from_checkpoint``
        works under ``torch.load(weights_only=True)`` and rebuilds the wrapper with
        ``cls(**hparams)``: every key must be an ``__init__`` argument.
        """
        check_optimizer_args(others.get("optimizer"), others.get("lr_scheduler"))
        self.save_hyperparameters(plain_data({**config.to_dict(), **others}))

    @property
    def model(self) -> nn.Module:
        """The core model (krasserm/perceiver-io 0.11's name for ``backend_model``)."""
        return self.backend_model

    @property
    def config(self) -> ConfigBase:
        return self.backend_model.config

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.backend_model(*args, **kwargs)

    def configure_optimizers(self) -> Any:
        """The ``optimizer`` and ``lr_scheduler`` hyperparameters (see :mod:`perceiver.lightning.optim`).

        Override it as in any LightningModule; the training scripts set both hyperparameters
        from their ``--optimizer`` and ``--lr_scheduler`` options.
        """
        optimizer = build_optimizer(self.hparams.get("optimizer"), self.parameters())
        lr_scheduler = build_lr_scheduler(self.hparams.get("lr_scheduler"), optimizer)
        return optimizer_config(optimizer, lr_scheduler, self._trainer)

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Lightning's gradient clipping (``--trainer.gradient_clip_val``), also under FSDP.

        Lightning's FSDP precision plugin refuses to clip by norm, since the norm of each
        process's gradient shard is not the norm of the gradient. Under FSDP the norm is clipped
        by the root FSDP module's ``clip_grad_norm_``, which reduces the norm over all shards.
        """
        algorithm = (
            gradient_clip_algorithm or getattr(self._trainer, "gradient_clip_algorithm", None) or "norm"
        )
        model = getattr(getattr(self._trainer, "strategy", None), "model", None)
        if gradient_clip_val and algorithm == "norm" and _is_fsdp_root(model):
            model.clip_grad_norm_(gradient_clip_val)
            return
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    # ------------------------------------------------------------------ weights

    def load_params(self, params: str | os.PathLike) -> None:
        """Load the core model's weights from ``params`` (see :meth:`read_params`).

        Raises:
            ValueError: the weights are of another task or another architecture (the message
                names the differing config fields and parameters).
        """
        if not isinstance(params, str | os.PathLike):
            raise TypeError(
                f"params must be a path (str or os.PathLike), got {type(params).__name__}: {params!r}"
            )
        config, state = self.read_params(params)
        load_checked(self.backend_model, state, config, f"params={os.fspath(params)!r}")

    @classmethod
    def read_params(cls, params: str | os.PathLike) -> tuple[ConfigBase | None, dict[str, torch.Tensor]]:
        """(config, core state dict) of a model of this task, from one of:

        - a Lightning checkpoint file of this task, written by perceiver-lightning or by
          krasserm/perceiver-io 0.11 (read without running code, converted on the fly);
        - a local 🤗 directory (``save_pretrained`` of perceiver-hf, or perceiver-io 0.11's
          format), or a 🤗 Hub id; with perceiver-hf installed through its 🤗 wrapper of the
          task, without it from ``config.json`` and ``model.safetensors`` / ``pytorch_model.bin``.

        The config is ``None`` where the source does not record one.
        """
        path = Path(params)
        source = repr(os.fspath(params))
        if path.is_file():
            return cls._read_checkpoint_params(path)
        hf_class = _hf_class(cls.task)
        if hf_class is not None and (path.is_dir() or _looks_like_hub_id(os.fspath(params))):
            model = hf_class.from_pretrained(os.fspath(params))
            return model.backend_model.config, model.backend_model.state_dict()
        if path.is_dir():
            return _read_model_dir(path, cls.task, cls.config_class)
        raise FileNotFoundError(
            f"params={source} is neither a checkpoint file nor a local directory. A 🤗 Hub id needs "
            "perceiver-hf (pip install perceiver-hf), or download the model and pass its directory"
        )

    @classmethod
    def _read_checkpoint_params(cls, path: Path) -> tuple[ConfigBase | None, dict[str, torch.Tensor]]:
        return read_backend(load_checkpoint(path), cls.task, cls.config_class, repr(os.fspath(path)))

    @classmethod
    def _legacy_backend(
        cls, checkpoint: dict[str, Any], path: Path
    ) -> tuple[ConfigBase, dict[str, torch.Tensor]]:
        try:
            return legacy_backend(checkpoint, cls.task)
        except ValueError as e:
            raise ValueError(f"{os.fspath(path)!r} (a perceiver-io 0.11 checkpoint): {e}") from None

    # hyperparameters of perceiver-io 0.11's wrapper that this wrapper takes over when loading
    # one of its checkpoints (the model config is converted)
    legacy_hparams: ClassVar[tuple[str, ...]] = ()
    # __init__ arguments naming weights to load: None when loading a checkpoint (its own weights win)
    weight_arguments: ClassVar[tuple[str, ...]] = ("params",)

    @classmethod
    def _checkpoint_from_legacy(cls, checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
        """A checkpoint of this wrapper with the weights and config of a perceiver-io 0.11 one."""
        config, state = cls._legacy_backend(checkpoint, path)
        old = checkpoint.get("hyper_parameters", {})
        hparams = {**config.to_dict(), **{k: old[k] for k in cls.legacy_hparams if k in old}}
        return {
            "state_dict": {BACKEND_PREFIX + k: v for k, v in state.items()},
            "hyper_parameters": hparams,
            "hparams_name": "kwargs",
            TASK_KEY: cls.task,
            "epoch": checkpoint.get("epoch", 0),
            "global_step": checkpoint.get("global_step", 0),
            "pytorch-lightning_version": pl.__version__,
        }

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Lightning's ``load_from_checkpoint``, also for krasserm/perceiver-io 0.11's checkpoints.

        Checkpoints of another task are refused. The weights come from the checkpoint: the
        weight arguments it was created with (``params`` ...) are not loaded again, unless given.
        """
        for name in cls.weight_arguments:
            kwargs.setdefault(name, None)
        if isinstance(checkpoint_path, str | os.PathLike) and Path(checkpoint_path).is_file():
            path = Path(checkpoint_path)
            checkpoint = load_checkpoint(path)
            if is_legacy_checkpoint(checkpoint):
                buffer = io.BytesIO()
                torch.save(cls._checkpoint_from_legacy(checkpoint, path), buffer)
                buffer.seek(0)
                return super().load_from_checkpoint(buffer, *args, **kwargs)
            if "state_dict" not in checkpoint:
                raise ValueError(f"{os.fspath(path)!r} is not a Lightning checkpoint (no 'state_dict')")
            check_task(checkpoint, cls.task, repr(os.fspath(path)))
        return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[TASK_KEY] = self.task
        # data module hyperparameters may hold enums (perceiver-data's Task): store plain data so
        # that the checkpoint loads with torch.load(weights_only=True)
        if DATA_HPARAMS_KEY in checkpoint:
            checkpoint[DATA_HPARAMS_KEY] = plain_data(dict(checkpoint[DATA_HPARAMS_KEY]))

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        trainer = self._trainer
        path = getattr(trainer, "ckpt_path", None) if trainer is not None else None
        path = os.fspath(path) if isinstance(path, str | os.PathLike) else None
        source = repr(path) if path is not None else "the checkpoint to resume from"
        if is_legacy_checkpoint(checkpoint):  # a krasserm/perceiver-io 0.11 run
            fitting = trainer is not None and trainer.state.fn == "fit"
            convert_legacy_checkpoint(self, checkpoint, path, fitting, architecture_diff)
        check_task(checkpoint, self.task, source)

    # ------------------------------------------------------------------ evaluation

    def compute_epoch_metrics(self) -> dict[str, torch.Tensor]:
        """The evaluation metrics of the epoch (names without the ``val_`` / ``test_`` prefix),
        reset for the next epoch. ``validation_step`` updates them."""
        raise NotImplementedError

    def log_epoch_metrics(self, prefix: str) -> None:
        metrics = self.compute_epoch_metrics()
        # already reduced over processes by torchmetrics; sync_dist keeps Lightning from warning
        self.log_dict({f"{prefix}_{k}": v for k, v in metrics.items()}, prog_bar=True, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self.log_epoch_metrics("val")

    def test_step(self, batch: Any, batch_idx: int) -> Any:
        """Evaluates a test batch as ``validation_step`` does; the metrics are logged as ``test_*``."""
        return self.validation_step(batch, batch_idx)

    def on_test_epoch_end(self) -> None:
        self.log_epoch_metrics("test")

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
        elif trainer is not None and trainer.testing:
            self.check_batch(batch, "test batch")
        return batch

    def check_batch(self, batch: Any, where: str) -> None:
        """Raise ``ValueError`` for a batch the model must not train on (``where`` names the batch).

        Runs on the CPU copy of each training and validation batch (see ``_batch_checks``); the
        base class refuses non-finite floating-point tensors, subclasses add labels and token ids.
        """
        check_finite(floating_tensors(batch), where)


def _non_field_attributes(config: Any, prefix: str = "") -> dict[str, Any]:
    """Attributes set on a config dataclass (and its nested configs) that are none of its fields,
    by dotted path: ``config.encoder.params = ...`` on a config without such a field."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        return {}
    fields = {f.name for f in dataclasses.fields(config)}
    found = {f"{prefix}{k}": v for k, v in vars(config).items() if k not in fields and not k.startswith("_")}
    for name in sorted(fields):
        found.update(_non_field_attributes(getattr(config, name), f"{prefix}{name}."))
    return found


def _same_weights(name: str, given: Any, from_config: Any) -> Any:
    """``given``, unless the config's attribute names other weights."""
    if from_config is not None and given is not None and os.fspath(given) != os.fspath(from_config):
        raise ValueError(
            f"{name}={given!r} and the config's attribute ({from_config!r}) name different weights: give one of them"
        )
    return given if given is not None else from_config


def _is_fsdp_root(model: Any) -> bool:
    """Whether ``model`` is a module wrapped by torch's ``FullyShardedDataParallel``."""
    if model is None:
        return False
    from torch.distributed.fsdp import FullyShardedDataParallel

    return isinstance(model, FullyShardedDataParallel)


def _hf_class(task: str) -> type | None:
    """perceiver-hf's 🤗 wrapper of ``task``, or None when perceiver-hf is not installed."""
    module_name, name = HF_CLASSES[task]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        if getattr(e, "name", None) and not str(e.name).startswith(("perceiver.hf", "transformers")):
            raise  # perceiver-hf is installed but broken: say so
        return None
    return getattr(module, name)


def _looks_like_hub_id(name: str) -> bool:
    """``owner/name`` or ``name`` without a file system meaning: a 🤗 Hub id."""
    parts = name.split("/")
    if name.endswith((".ckpt", ".pt", ".pth", ".bin", ".safetensors")):
        return False
    return 1 <= len(parts) <= 2 and all(parts) and not name.startswith((".", "~")) and "\\" not in name


def _config_of(config_class: type[ConfigBase], hparams: Any) -> ConfigBase | None:
    """The config recorded in a checkpoint's hyperparameters (None when there is none that fits)."""
    if not isinstance(hparams, Mapping):
        return None
    fields = {f.name for f in dataclasses.fields(config_class)}
    try:
        return config_class.from_dict({k: v for k, v in hparams.items() if k in fields})
    except (TypeError, ValueError):
        return None


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            result.update(_flat(value, f"{prefix}{key}."))
        else:
            result[f"{prefix}{key}"] = value
    return result


def architecture_diff(
    theirs: ConfigBase | Mapping[str, Any], ours: ConfigBase | Mapping[str, Any]
) -> list[str]:
    """``field: theirs != ours`` for every config field that differs and shapes the model's function."""
    a = _flat(theirs.to_dict() if isinstance(theirs, ConfigBase) else theirs)
    b = _flat(ours.to_dict() if isinstance(ours, ConfigBase) else ours)
    return [
        f"{key}={a.get(key)!r} (the model has {b.get(key)!r})"
        for key in sorted(a.keys() | b.keys())
        if key.rsplit(".", 1)[-1] not in NON_ARCHITECTURE_FIELDS and a.get(key) != b.get(key)
    ]


def load_checked(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    config: ConfigBase | Mapping[str, Any] | None,
    source: str,
    model_config: ConfigBase | Mapping[str, Any] | None = None,
) -> None:
    """``module.load_state_dict(state)`` after checking that the weights are of its architecture.

    Raises:
        ValueError: naming the config fields that differ from ``model_config`` (the module's
            ``config`` by default) and the missing, unexpected and mis-shaped parameters.
    """
    if model_config is None:
        model_config = getattr(module, "config", None)
    own = module.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    shapes = [
        f"{k} {tuple(state[k].shape)} (the model has {tuple(own[k].shape)})"
        for k in sorted(own.keys() & state.keys())
        if state[k].shape != own[k].shape
    ]
    fields = (
        architecture_diff(config, model_config) if config is not None and model_config is not None else []
    )
    if missing or unexpected or shapes or fields:
        problems = []
        if fields:
            problems.append(f"config fields {', '.join(fields)}")
        if missing:
            problems.append(f"missing parameters {missing[:8]}{' ...' if len(missing) > 8 else ''}")
        if unexpected:
            problems.append(f"unexpected parameters {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
        if shapes:
            problems.append(f"parameter shapes {shapes[:8]}{' ...' if len(shapes) > 8 else ''}")
        raise ValueError(
            f"{source} holds weights of another architecture than this {type(module).__name__}: "
            + "; ".join(problems)
        )
    module.load_state_dict(state)


def _read_model_dir(path: Path, task: str, config_class: type[ConfigBase]) -> tuple[ConfigBase | None, dict]:
    """(config, core state dict) of a 🤗 directory, without perceiver-hf.

    Reads perceiver-hf's format (``model.safetensors`` with ``backend_model.`` keys) and
    krasserm/perceiver-io 0.11's (``config.json`` with ``model_config``, weights in
    ``model.safetensors`` or ``pytorch_model.bin``), which is converted.
    """
    config_json = path / "config.json"
    meta = json.loads(config_json.read_text(encoding="utf-8")) if config_json.is_file() else {}
    weights = path / "model.safetensors"
    if weights.is_file():
        try:
            from safetensors.torch import load_file
        except ImportError as e:  # pragma: no cover - safetensors comes with transformers
            raise ImportError(
                f"reading {weights} needs the safetensors package: pip install safetensors"
            ) from e
        try:
            state = load_file(str(weights))
        except Exception as e:  # safetensors' own error type: a truncated or corrupt file
            raise ValueError(f"{os.fspath(weights)!r} is not a readable safetensors file: {e}") from e
    elif (path / "pytorch_model.bin").is_file():
        state = load_checkpoint(path / "pytorch_model.bin")
    else:
        raise FileNotFoundError(
            f"{os.fspath(path)!r} has neither model.safetensors nor pytorch_model.bin; expected a 🤗 "
            "directory saved by perceiver-hf or krasserm/perceiver-io 0.11"
        )
    state = {k.removeprefix(BACKEND_PREFIX): v for k, v in state.items()}
    if "model_config" in meta:  # krasserm/perceiver-io 0.11's format
        from perceiver.model.core.legacy import legacy_config, legacy_state_dict

        try:
            return legacy_config(task, meta["model_config"]), legacy_state_dict(task, state)
        except ValueError as e:
            raise ValueError(f"{os.fspath(path)!r} (a perceiver-io 0.11 model directory): {e}") from None
    backend_config = meta.get("backend_config")
    return (_config_of(config_class, backend_config) if backend_config is not None else None), state
