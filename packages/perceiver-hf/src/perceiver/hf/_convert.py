"""Pure functions for converting official transformers Perceiver state dicts.

A conversion is a key table: (source prefix, target prefix) pairs tried in order, the first
match wins. Every source key must be mapped and every target key must be filled; anything
else is an error that names the keys.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch

from perceiver.model.core.checkpoint import load_checkpoint, read_backend

__all__ = [
    "backend_from_lightning_checkpoint",
    "convert_checkpoint_to",
    "convert_state_dict",
    "load_source_model",
    "perceiver_layer_table",
    "read_lightning_checkpoint",
]


def perceiver_layer_table(source: str, target: str, cross_attention: bool) -> list[tuple[str, str]]:
    """Key table of one transformers ``PerceiverLayer`` onto a core attention layer.

    transformers: attention.self.{layernorm1, layernorm2, query, key, value},
    attention.output.dense, layernorm, mlp.{dense1, dense2}. Core: {cross_attn | self_attn}
    with q_norm / kv_norm (norm for self-attention), attention.{q,k,v,o}_proj, and
    mlp.{0 (norm), 1, 3}.
    """
    attn = f"{target}.cross_attn" if cross_attention else f"{target}.self_attn"
    table = [
        (f"{source}.attention.self.layernorm1.", f"{attn}.q_norm." if cross_attention else f"{attn}.norm."),
        (f"{source}.attention.self.query.", f"{attn}.attention.q_proj."),
        (f"{source}.attention.self.key.", f"{attn}.attention.k_proj."),
        (f"{source}.attention.self.value.", f"{attn}.attention.v_proj."),
        (f"{source}.attention.output.dense.", f"{attn}.attention.o_proj."),
        (f"{source}.layernorm.", f"{target}.mlp.0."),
        (f"{source}.mlp.dense1.", f"{target}.mlp.1."),
        (f"{source}.mlp.dense2.", f"{target}.mlp.3."),
    ]
    if cross_attention:
        table.append((f"{source}.attention.self.layernorm2.", f"{attn}.kv_norm."))
    return table


def convert_state_dict(
    source: Mapping[str, torch.Tensor],
    table: Sequence[tuple[str, str]],
    target_keys: Iterable[str],
    ignore: Iterable[str] = (),
) -> dict[str, torch.Tensor]:
    """Rename ``source`` keys by ``table``; raise on unmapped source keys or unfilled targets.

    Table entries ending in "." are prefixes; others are exact keys. ``ignore`` lists source
    keys (exact) that are deliberately dropped, e.g. buffers that are recomputed.
    """
    ignored = set(ignore)
    converted: dict[str, torch.Tensor] = {}
    unmapped = []
    for key, value in source.items():
        if key in ignored:
            continue
        for src, dst in table:
            if (src.endswith(".") and key.startswith(src)) or key == src:
                new_key = dst + key[len(src) :] if src.endswith(".") else dst
                if new_key in converted:
                    raise ValueError(f"two source keys map onto {new_key!r} (the second is {key!r})")
                converted[new_key] = value
                break
        else:
            unmapped.append(key)
    if unmapped:
        raise ValueError(f"source keys without a mapping: {sorted(unmapped)}")
    missing = sorted(set(target_keys) - set(converted))
    if missing:
        raise ValueError(f"target keys the source does not provide: {missing}")
    unexpected = sorted(set(converted) - set(target_keys))
    if unexpected:
        raise ValueError(f"converted keys the target model does not have: {unexpected}")
    return converted


def load_source_model(model_class: type, source_repo_id: str | Path, **kwargs):
    """Load an official transformers model from a Hub id or a local directory and check its class."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source_repo_id, **kwargs)
    architectures = getattr(config, "architectures", None) or []
    if architectures and model_class.__name__ not in architectures:
        raise ValueError(
            f"{source_repo_id} holds a {architectures[0]}, but this converter takes a {model_class.__name__}"
        )
    return model_class.from_pretrained(source_repo_id, **kwargs).eval()


def read_lightning_checkpoint(ckpt_url: str | Path) -> dict:
    """A Lightning checkpoint from a local path or a URL (perceiver-lightning's or krasserm/perceiver-io
    0.11's), read by ``perceiver.model.core.checkpoint.load_checkpoint``.

    A URL is downloaded into a cache keyed by the full URL and validated on each use (see
    ``perceiver.hf._download``). A checkpoint whose pickle would construct anything but tensors,
    plain data and perceiver-io 0.11's config classes (and so could run code) is refused with a
    ``ValueError``, as is an empty, truncated or otherwise unreadable file (the error names it).
    """
    from perceiver.hf._download import cached_download, is_url

    if not isinstance(ckpt_url, str | os.PathLike):
        raise TypeError(f"ckpt_url must be a path or an http(s) URL, got {ckpt_url!r}")
    if "://" in str(ckpt_url) and not is_url(ckpt_url):
        raise ValueError(f"ckpt_url {ckpt_url} is neither a local path nor an http(s) URL")
    path = cached_download(str(ckpt_url)) if is_url(ckpt_url) else Path(ckpt_url)
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {ckpt_url} is a directory, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {ckpt_url} does not exist")
    return load_checkpoint(path)


def backend_from_lightning_checkpoint(ckpt: dict, task: str, config_class: type, source: str) -> tuple:
    """(backend config, backend state dict) of a perceiver-lightning or perceiver-io 0.11 checkpoint
    of ``task`` (the checkpoint contract of ``perceiver.model.core.checkpoint``)."""
    config, state = read_backend(ckpt, task, config_class, source)
    if config is None:
        raise ValueError(f"{source} is not a perceiver-lightning checkpoint (no hyper_parameters)")
    return config, state


def convert_checkpoint_to(
    save_dir: str | Path,
    ckpt_url: str | Path,
    model_class: type,
    task: str,
    preprocessor=None,
    push_to_hub: bool = False,
):
    """Save a 🤗 ``model_class`` with the weights of a perceiver-lightning checkpoint of ``task``."""
    ckpt = read_lightning_checkpoint(ckpt_url)
    config_class = model_class.config_class
    backend_config, state = backend_from_lightning_checkpoint(
        ckpt, task, config_class.backend_config_class, str(ckpt_url)
    )
    model = model_class(config_class(backend_config))
    missing, unexpected = model.backend_model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{ckpt_url} does not fit {model_class.__name__}: missing keys {sorted(missing)}, "
            f"unexpected keys {sorted(unexpected)}"
        )
    model.save_pretrained(save_dir, push_to_hub=push_to_hub)
    if preprocessor is not None:
        preprocessor.save_pretrained(save_dir, push_to_hub=push_to_hub)
    return model.eval()
