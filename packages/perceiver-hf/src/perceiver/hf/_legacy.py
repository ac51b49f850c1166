"""Loading 🤗 directories that krasserm/perceiver-io 0.11 saved.

Their ``config.json`` holds perceiver-io's ``model_type`` (the same strings as ours) and its
backend config under ``model_config``; their weights are perceiver-io's backend parameters,
prefixed ``backend_model.``, in ``model.safetensors`` or ``pytorch_model.bin`` (possibly
sharded, with an index). Configs and parameter names are mapped by the tables of
:mod:`perceiver.model.core.legacy`; every parameter of our model must be covered, with its
shape, or loading fails naming the keys.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from perceiver.model.core.legacy import legacy_state_dict

__all__ = ["load_perceiver_io_weights", "read_weights"]

PREFIX = "backend_model."

_WEIGHT_FILES = (
    ("model.safetensors", None),
    ("model.safetensors.index.json", "model.safetensors"),
    ("pytorch_model.bin", None),
    ("pytorch_model.bin.index.json", "pytorch_model.bin"),
)

# from_pretrained arguments that say where the files are; anything else that changes how a
# model is built or placed (device_map, quantization, ...) is refused by name
HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")
_ACCEPTED = (*HUB_KWARGS, "dtype", "torch_dtype", "output_loading_info", "trust_remote_code", "_from_auto", "_from_pipeline", "_commit_hash")  # fmt: skip


def _resolve(path_or_id: str | os.PathLike, filename: str, hub_kwargs: dict[str, Any]) -> str | None:
    from transformers.utils import cached_file

    return cached_file(
        path_or_id,
        filename,
        _raise_exceptions_for_missing_entries=False,
        _raise_exceptions_for_connection_errors=False,
        **hub_kwargs,
    )


def _read_file(path: str) -> dict[str, torch.Tensor]:
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            return load_file(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt, truncated or not a plain-data pickle
        raise ValueError(f"cannot read the weights file {path}: {error}") from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return state


def read_weights(
    path_or_id: str | os.PathLike, hub_kwargs: dict[str, Any]
) -> tuple[dict[str, torch.Tensor], str]:
    """The weights of a 🤗 directory or Hub repository, and the file (or index) they came from."""
    for filename, shard_kind in _WEIGHT_FILES:
        resolved = _resolve(path_or_id, filename, hub_kwargs)
        if resolved is None:
            continue
        if shard_kind is None:
            return _read_file(resolved), resolved
        weight_map = json.loads(Path(resolved).read_text())["weight_map"]
        state: dict[str, torch.Tensor] = {}
        for shard in sorted(set(weight_map.values())):
            shard_path = _resolve(path_or_id, shard, hub_kwargs)
            if shard_path is None:
                raise ValueError(f"{resolved} names the shard {shard}, which does not exist")
            state.update(_read_file(shard_path))
        return state, resolved
    names = ", ".join(name for name, _ in _WEIGHT_FILES)
    raise ValueError(f"{path_or_id} holds no weights file ({names})")


def load_perceiver_io_weights(model, path_or_id: str | os.PathLike, task: str, kwargs: dict[str, Any]):
    """Fill ``model`` (ours, built from the converted config) with the weights perceiver-io saved.

    Returns the model in eval mode, and the loading info when ``output_loading_info`` is set.
    """
    refused = sorted(k for k, v in kwargs.items() if k not in _ACCEPTED and v is not None)
    if refused:
        raise ValueError(
            f"from_pretrained arguments {refused} are not supported when loading a krasserm/perceiver-io "
            f"0.11 directory ({path_or_id}); load it without them, save it with save_pretrained and "
            "load that copy with them"
        )
    hub_kwargs = {k: kwargs[k] for k in HUB_KWARGS if kwargs.get(k) is not None}
    source, source_file = read_weights(path_or_id, hub_kwargs)
    foreign = sorted(k for k in source if not k.startswith(PREFIX))
    if foreign:
        raise ValueError(f"{source_file}: keys outside perceiver-io's '{PREFIX}' prefix: {foreign}")
    try:
        state = legacy_state_dict(task, {k.removeprefix(PREFIX): v for k, v in source.items()})
    except ValueError as error:
        raise ValueError(f"{source_file}: {error}") from error

    target = model.backend_model.state_dict()
    missing = sorted(set(target) - set(state))
    unexpected = sorted(set(state) - set(target))
    mismatched = sorted(
        f"{k}: {tuple(state[k].shape)} in the file, {tuple(target[k].shape)} in the model"
        for k in set(state) & set(target)
        if state[k].shape != target[k].shape
    )
    problems = [
        f"{label}: {keys}"
        for label, keys in (
            ("parameters the file does not provide", missing),
            ("parameters the model does not have", unexpected),
            ("shapes that differ from the config's", mismatched),
        )
        if keys
    ]
    if problems:
        raise ValueError(
            f"{source_file} does not fit the model its config.json describes; " + "; ".join(problems)
        )
    model.backend_model.load_state_dict(state, strict=True)
    dtype = kwargs.get("dtype") or kwargs.get("torch_dtype")
    if isinstance(dtype, str) and dtype != "auto":
        dtype = getattr(torch, dtype)
    if isinstance(dtype, torch.dtype):
        model.to(dtype)
    model.eval()
    if kwargs.get("output_loading_info"):
        info = {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}
        return model, info
    return model
