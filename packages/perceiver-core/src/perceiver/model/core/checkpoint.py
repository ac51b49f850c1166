"""The checkpoint contract shared by perceiver-lightning (which writes and reads checkpoints) and
perceiver-hf (which converts them), and reading checkpoints without running code: ours and those
of perceiver-io 0.11.

A perceiver-lightning checkpoint is a Lightning checkpoint dict with

- ``state_dict``: the core model's parameters under :data:`BACKEND_PREFIX` (``"backend_model."``);
- ``hyper_parameters``: plain data only (:func:`plain_data`), among them the fields of the task's
  core config dataclass;
- :data:`TASK_KEY` (``"perceiver_task"``): the task tag, the module path of the task below
  ``perceiver.lightning`` (``"text.clm"``, ``"vision.image_classifier"`` ...).

:func:`read_backend` turns such a checkpoint, or one of perceiver-io 0.11, into the core config
and state dict of a task; :func:`check_task` refuses a checkpoint of another task.

Checkpoints written by perceiver-lightning hold tensors and plain data only and are read with
``torch.load(weights_only=True)``. Checkpoints written by krasserm/perceiver-io 0.11 also pickle
the config dataclasses of its modules (``perceiver.model.text.common.backend.TextEncoderConfig``
...) in their hyperparameters, and the ``Task`` enum of its text data modules. :func:`load_checkpoint`
reads both with torch's restricted unpickler, in which exactly those known classes are replaced
by stand-ins that become plain dicts (enums become their names); any other global is refused
with a ``ValueError`` that names the file and the global.

:func:`legacy_backend` turns a perceiver-io 0.11 checkpoint into the config and the state dict
of our core model of a task (via :mod:`perceiver.model.core.legacy`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import re
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

import torch

from perceiver.model.core.config import ConfigBase

logger = logging.getLogger(__name__)

__all__ = [
    "BACKEND_PREFIX",
    "LEGACY_CONFIG_CLASSES",
    "LEGACY_ENUMS",
    "TASK_KEY",
    "backend_state_dict",
    "check_task",
    "is_legacy_checkpoint",
    "legacy_backend",
    "legacy_model_config",
    "legacy_tasks",
    "load_checkpoint",
    "plain_data",
    "read_backend",
]

# key of the task tag ("text.clm" ...) that perceiver-lightning writes into every checkpoint
TASK_KEY = "perceiver_task"

# prefix of the core model's parameters in perceiver-lightning's state dicts (the Lit* wrappers
# hold the core model as ``backend_model``)
BACKEND_PREFIX = "backend_model."

# the config dataclasses of perceiver-io 0.11 (module path and class name as pickled)
LEGACY_CONFIG_CLASSES = (
    "perceiver.model.core.config.EncoderConfig",
    "perceiver.model.core.config.DecoderConfig",
    "perceiver.model.core.config.ClassificationDecoderConfig",
    "perceiver.model.core.config.PerceiverIOConfig",
    "perceiver.model.core.config.PerceiverARConfig",
    "perceiver.model.core.config.CausalSequenceModelConfig",
    "perceiver.model.text.common.backend.TextEncoderConfig",
    "perceiver.model.text.mlm.backend.TextDecoderConfig",
    "perceiver.model.text.clm.backend.CausalLanguageModelConfig",
    "perceiver.model.audio.symbolic.backend.SymbolicAudioModelConfig",
    "perceiver.model.vision.image_classifier.backend.ImageEncoderConfig",
    "perceiver.model.vision.optical_flow.backend.OpticalFlowEncoderConfig",
    "perceiver.model.vision.optical_flow.backend.OpticalFlowDecoderConfig",
)

# enums of perceiver-io 0.11 found in data module hyperparameters: value -> name
LEGACY_ENUMS: dict[str, dict[Any, str]] = {
    "perceiver.data.text.common.Task": {0: "mlm", 1: "clm", 2: "clf"},
}

# prefix of the core model's parameters in perceiver-io 0.11's Lightning state dicts
LEGACY_PREFIX = "model."

# hyperparameters of perceiver-io 0.11's Lit* wrappers that configure the model, per kind
_IO_FIELDS = (
    "encoder",
    "decoder",
    "num_latents",
    "num_latent_channels",
    "activation_checkpointing",
    "activation_offloading",
)
_AR_FIELDS = (
    "vocab_size",
    "max_seq_len",
    "max_latents",
    "num_channels",
    "num_heads",
    "max_heads_parallel",
    "num_self_attention_layers",
    "num_self_attention_rotary_layers",
    "self_attention_widening_factor",
    "cross_attention_widening_factor",
    "cross_attention_dropout",
    "post_attention_dropout",
    "residual_dropout",
    "output_norm",
    "output_bias",
    "abs_pos_emb",
    "init_scale",
    "activation_checkpointing",
    "activation_offloading",
)
_AR_TASKS = ("text.clm", "audio.symbolic")


class _LegacyConfig(dict):
    """Stand-in of a perceiver-io 0.11 config dataclass: unpickles into a dict of its fields."""

    legacy_class: ClassVar[str] = ""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"unexpected state of {self.legacy_class}: {type(state).__name__}")
        self.update(state)


def _enum_stand_in(name: str, values: Mapping[Any, str]) -> Any:
    def stand_in(value: Any) -> str:
        if value not in values:
            raise pickle.UnpicklingError(f"{name} has no member with value {value!r}")
        return values[value]

    stand_in.__qualname__ = stand_in.__name__ = name.rsplit(".", 1)[-1]
    return stand_in


def _stand_ins() -> list[tuple[Any, str]]:
    result: list[tuple[Any, str]] = []
    for name in LEGACY_CONFIG_CLASSES:
        cls = type(name.rsplit(".", 1)[-1], (_LegacyConfig,), {"legacy_class": name})
        result.append((cls, name))
    for name, values in LEGACY_ENUMS.items():
        result.append((_enum_stand_in(name, values), name))
    return result


_STAND_INS = _stand_ins()
_GLOBAL = re.compile(r"GLOBAL (\S+)")


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A Lightning checkpoint (ours or perceiver-io 0.11's) as plain data and tensors on the CPU.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is empty, truncated or no checkpoint, or its pickle refers to a
            global other than tensors, plain data and the known config classes (the message
            names the file and the global).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {os.fspath(path)!r} does not exist")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"checkpoint file {os.fspath(path)!r} is empty (0 bytes)")
    unreadable = f"checkpoint file {os.fspath(path)!r} ({size} bytes) cannot be read: it is truncated, corrupt or not a checkpoint"
    try:
        with torch.serialization.safe_globals(_STAND_INS):
            try:
                checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as error:
                if "zip" not in str(error).lower() and "mmap" not in str(error).lower():
                    raise
                # torch's legacy (non-zip) format cannot be memory-mapped
                checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if _damaged_pickle(path):
            # torch's advice (weights_only=False) would not help a damaged file: not shown
            raise ValueError(f"{unreadable} ({_first_line(error)})") from None
        found = _GLOBAL.search(str(error))
        if found is None:
            raise ValueError(
                f"refusing to load checkpoint {os.fspath(path)!r}: its pickle holds something other than "
                f"tensors and plain data, and loading it could run code ({_first_line(error)})"
            ) from None
        raise ValueError(
            f"refusing to load checkpoint {os.fspath(path)!r}: its pickle refers to the global "
            f"{found.group(1)!r}, which is neither a tensor, plain data nor a known perceiver-io 0.11 "
            "config class, and loading it could run code"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as error:
        raise ValueError(f"{unreadable} ({type(error).__name__}: {_first_line(error)})") from None
    if not isinstance(checkpoint, dict):
        raise ValueError(
            f"checkpoint file {os.fspath(path)!r} holds a {type(checkpoint).__name__}, not a checkpoint dict"
        )
    return _plain(checkpoint)


# pickle opcodes that import or call something: a pickle that ends or breaks before any of them is
# damaged, not one that would run code
_CODE_OPCODES = frozenset({"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD"})


def _damaged_pickle(path: Path) -> bool:
    """Whether a pickle that the safe loader refused is damaged rather than unsafe. Reads the
    opcodes only (``pickletools``), executing nothing; a zip checkpoint's inner pickle is read
    from the archive."""
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                data = archive.read(name)
        else:
            data = path.read_bytes()
        for opcode, _, _ in pickletools.genops(data):
            if opcode.name in _CODE_OPCODES:
                return False
    except Exception:
        return True
    return False


def _first_line(error: BaseException) -> str:
    """The informative line of torch's long error messages."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = next((line for line in lines if "Unsupported" in line or "truncated" in line), None)
    return detail or (lines[0] if lines else repr(error))


def _plain(value: Any) -> Any:
    """Stand-ins to plain dicts, recursively (tensors and other leaves unchanged)."""
    if isinstance(value, _LegacyConfig):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict | list | tuple):
                value[k] = _plain(v)
        return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple) and any(isinstance(v, dict | list | tuple) for v in value):
        return tuple(_plain(v) for v in value)
    return value


def is_legacy_checkpoint(checkpoint: Mapping[str, Any]) -> bool:
    """Whether a checkpoint dict was written by perceiver-io 0.11's Lightning wrappers."""
    if TASK_KEY in checkpoint:
        return False
    state = checkpoint.get("state_dict")
    if not isinstance(state, Mapping) or not state:
        return False
    return all(key.startswith(LEGACY_PREFIX) for key in state)


def legacy_tasks(checkpoint: Mapping[str, Any]) -> tuple[str, ...]:
    """The tasks a perceiver-io 0.11 checkpoint can be of, from the shape of its hyperparameters.

    One task for Perceiver IO models; ``("text.clm", "audio.symbolic")`` for Perceiver AR models
    (their checkpoints do not tell the two apart); ``()`` when nothing fits.
    """
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, Mapping):
        return ()
    encoder, decoder = hparams.get("encoder"), hparams.get("decoder")
    if isinstance(encoder, Mapping) and isinstance(decoder, Mapping):
        if "num_patch_input_channels" in encoder:
            return ("vision.optical_flow",)
        if "image_shape" in encoder:
            return ("vision.image_classifier",)
        if "vocab_size" in encoder:
            return ("text.classifier",) if "num_classes" in decoder else ("text.mlm",)
        return ()
    if "vocab_size" in hparams and "max_latents" in hparams:
        return _AR_TASKS
    return ()


def legacy_model_config(checkpoint: Mapping[str, Any], task: str) -> dict[str, Any]:
    """The model config of a perceiver-io 0.11 checkpoint as plain data in that library's layout
    (``asdict`` of its ``PerceiverIOConfig`` or ``CausalSequenceModelConfig``): the input of
    :func:`perceiver.model.core.legacy.legacy_config`.

    Raises:
        ValueError: the checkpoint is not one of ``task``.
    """
    tasks = legacy_tasks(checkpoint)
    if task not in tasks:
        found = " or ".join(repr(t) for t in tasks) if tasks else "no known task"
        raise ValueError(f"this perceiver-io 0.11 checkpoint is of {found}, not of task {task!r}")
    hparams = checkpoint["hyper_parameters"]
    fields = _AR_FIELDS if task in _AR_TASKS else _IO_FIELDS
    return {name: hparams[name] for name in fields if name in hparams}


def legacy_backend(checkpoint: Mapping[str, Any], task: str) -> tuple[Any, dict[str, torch.Tensor]]:
    """(our core config, our core state dict) of a perceiver-io 0.11 Lightning checkpoint of ``task``.

    Raises:
        ValueError: the checkpoint is not one of ``task``, or has a config field, a field value
            or a parameter name that the tables of :mod:`perceiver.model.core.legacy` do not map.
    """
    from perceiver.model.core.legacy import legacy_config, legacy_state_dict

    config = legacy_config(task, legacy_model_config(checkpoint, task))
    state = {
        key.removeprefix(LEGACY_PREFIX): value
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(LEGACY_PREFIX)
    }
    return config, legacy_state_dict(task, state)


# ---------------------------------------------------------------- perceiver-lightning's checkpoints


def plain_data(value: Any) -> Any:
    """``value`` as plain data that ``torch.load(weights_only=True)`` reads: configs and other
    dataclasses become dicts, tuples lists, paths strings and enums their values, recursively."""
    if isinstance(value, ConfigBase):
        return plain_data(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_data(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Enum):
        return value.value
    return value


def check_task(checkpoint: Mapping[str, Any], task: str, source: str) -> None:
    """Refuse a checkpoint whose task tag is not ``task``; warn when it has none.

    Raises:
        ValueError: the checkpoint is tagged with another task (``source`` names it).
    """
    found = checkpoint.get(TASK_KEY)
    if found is None:
        logger.warning("%s has no task tag; assuming it is a checkpoint of task %r", source, task)
    elif found != task:
        raise ValueError(f"{source} is a checkpoint of task {found!r}, not of task {task!r}")


def backend_state_dict(checkpoint: Mapping[str, Any], source: str) -> dict[str, torch.Tensor]:
    """The core model's state dict: the entries of ``state_dict`` under :data:`BACKEND_PREFIX`,
    without it.

    Raises:
        ValueError: the checkpoint has no ``state_dict`` (``source`` names it).
    """
    state = checkpoint.get("state_dict")
    if not isinstance(state, Mapping):
        raise ValueError(f"{source} is not a Lightning checkpoint (no 'state_dict')")
    return {k.removeprefix(BACKEND_PREFIX): v for k, v in state.items() if k.startswith(BACKEND_PREFIX)}


def read_backend(
    checkpoint: Mapping[str, Any], task: str, config_class: type[ConfigBase], source: str
) -> tuple[ConfigBase | None, dict[str, torch.Tensor]]:
    """(core config, core state dict) of a checkpoint of ``task``, written by perceiver-lightning
    or by perceiver-io 0.11 (converted on the fly).

    The config is built from the hyperparameters that are fields of ``config_class``; it is
    None where the checkpoint records no hyperparameters.

    Raises:
        ValueError: the checkpoint is of another task, has no state dict, or its
            hyperparameters are no valid ``config_class`` (``source`` names the checkpoint).
    """
    if is_legacy_checkpoint(checkpoint):
        try:
            return legacy_backend(checkpoint, task)
        except ValueError as e:
            raise ValueError(f"{source} (a perceiver-io 0.11 checkpoint): {e}") from None
    state = backend_state_dict(checkpoint, source)
    check_task(checkpoint, task, source)
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, Mapping):
        return None, state
    fields = {f.name for f in dataclasses.fields(config_class)}  # type: ignore[arg-type]
    try:
        config = config_class.from_dict({k: v for k, v in hparams.items() if k in fields})
    except (TypeError, ValueError) as error:
        raise type(error)(f"{source}: invalid hyper_parameters: {error}") from error
    return config, state
