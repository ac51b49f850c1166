"""Pure functions for converting official transformers Perceiver state dicts.

A conversion is a key table: (source prefix, target prefix) pairs tried in order, the first
match wins. Every source key must be mapped and every target key must be filled; anything
else is an error that names the keys.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from perceiver.model.core.checkpoint import load_checkpoint, read_backend
from perceiver.model.core.data_spec import DATA_HPARAMS_KEY, inference_spec, recorded_class_names

__all__ = [
    "backend_from_lightning_checkpoint",
    "class_names_from_labels",
    "class_names_of",
    "convert_checkpoint_to",
    "convert_state_dict",
    "convert_text_checkpoint",
    "data_hyperparameters",
    "hub_options",
    "label_config",
    "load_source_model",
    "perceiver_layer_table",
    "read_lightning_checkpoint",
    "split_hub_options",
]

logger = logging.getLogger(__name__)

# the push_to_hub options that krasserm/perceiver-io 0.11's convert functions passed on to
# save_pretrained (its **kwargs): those that transformers' model, tokenizer and image processor
# save_pretrained all take
HUB_OPTIONS = ("repo_id", "commit_message", "private", "token")


def hub_options(function: str, push_to_hub: bool, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` checked as the keyword arguments of ``save_pretrained(..., push_to_hub=True)``.

    Raises:
        TypeError: an option that is not one of :data:`HUB_OPTIONS`.
        ValueError: options given without ``push_to_hub=True`` (they would be ignored).
    """
    if not isinstance(push_to_hub, bool):
        value = repr(push_to_hub) if len(repr(push_to_hub)) <= 60 else "an object"
        raise TypeError(
            f"{function}(): push_to_hub must be True or False, got {type(push_to_hub).__name__} "
            f"{value}. perceiver-io 0.11's image classifier converter took image_processor as its "
            "third argument: pass it as image_processor=..."
        )
    unknown = sorted(set(options) - set(HUB_OPTIONS))
    if unknown:
        raise TypeError(
            f"{function}() got unexpected keyword arguments {unknown}; besides its own arguments it "
            f"takes the options of push_to_hub=True: {', '.join(HUB_OPTIONS)}"
        )
    if options and not push_to_hub:
        raise ValueError(
            f"{function}(): {', '.join(sorted(options))} {'is an option' if len(options) == 1 else 'are options'} "
            "of pushing to the 🤗 Hub and would be ignored without push_to_hub=True"
        )
    return dict(options)


def split_hub_options(
    function: str, push_to_hub: bool, kwargs: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(options of ``push_to_hub=True``, the others) of a ``convert_model``'s ``**kwargs``, whose
    others go to ``from_pretrained`` of the source model. ``token`` serves both."""
    hub = {k: v for k, v in kwargs.items() if k in HUB_OPTIONS and k != "token"}
    loading = {k: v for k, v in kwargs.items() if k not in hub}
    if push_to_hub and "token" in kwargs:
        hub["token"] = kwargs["token"]
    return hub_options(function, push_to_hub, hub), loading


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


def data_hyperparameters(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters of the data module a checkpoint's model was trained with (plain data that
    Lightning stores next to the model's), or ``{}`` when it was trained without a data module.

    The LightningCLI scripts add the data module's class as ``_class_path``."""
    hparams = ckpt.get(DATA_HPARAMS_KEY)
    return dict(hparams) if isinstance(hparams, Mapping) else {}


def _data_module_class(data_hparams: Mapping[str, Any]) -> type | None:
    """The data module class of ``_class_path`` when it is one of perceiver-data's (imported only
    from there, so that a checkpoint cannot name code to import), else None."""
    class_path = data_hparams.get("_class_path")
    if not isinstance(class_path, str) or not class_path.startswith("perceiver.data."):
        return None
    module_name, _, class_name = class_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        logger.info("cannot import %s to read its class names: %s", module_name, error)
        return None
    found = getattr(module, class_name, None)
    return found if isinstance(found, type) else None


def class_names_of(data_hparams: Mapping[str, Any], num_classes: int, source: str) -> list[str] | None:
    """The class names of the data a classifier was trained with, read from the data module's
    hyperparameters by perceiver-core's :mod:`perceiver.model.core.data_spec`: the ``class_names``
    hyperparameter, else those of a data module of fixed classes that the hyperparameters identify
    (MNIST's digits), else the ``class_names`` of the data module's class when perceiver-data is
    installed (e.g. ``ImdbDataModule``'s), else None.

    Raises:
        ValueError: the names do not match the model's ``num_classes`` or repeat a name.
    """
    try:
        names = recorded_class_names(data_hparams)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
    if names is None:
        try:
            names = inference_spec(data_hparams).class_names
        except ValueError:  # not the hyperparameters of one known data module
            names = None
    if names is None:
        names = getattr(_data_module_class(data_hparams), "class_names", None)
        if not isinstance(names, list | tuple):
            return None
    return _checked_names([str(n) for n in names], num_classes, f"{source}: the data module's class_names")


def class_names_from_labels(
    id2label: Mapping[Any, Any] | None, label2id: Mapping[Any, Any] | None, class_names: Sequence[str] | None
) -> Sequence[str] | None:
    """``class_names`` from perceiver-io 0.11's ``id2label`` / ``label2id`` arguments of its
    classifier converters (None: ``class_names`` as given).

    Raises:
        ValueError: both ``class_names`` and ``id2label`` / ``label2id`` are given, ``id2label``
            does not map the ids 0 ... n-1, or ``label2id`` is not its inverse.
    """
    if id2label is None and label2id is None:
        return class_names
    if class_names is not None:
        raise ValueError("give class_names or perceiver-io 0.11's id2label / label2id, not both")
    if id2label is None:
        id2label = {i: name for name, i in label2id.items()}  # type: ignore[union-attr]
    try:
        by_id = {int(i): str(name) for i, name in id2label.items()}
    except (TypeError, ValueError):
        raise ValueError(f"id2label must map integer class ids to names, got {dict(id2label)!r}") from None
    if sorted(by_id) != list(range(len(by_id))):
        raise ValueError(f"id2label must map the class ids 0 ... {len(by_id) - 1}, got ids {sorted(by_id)}")
    names = [by_id[i] for i in range(len(by_id))]
    if label2id is not None:
        inverse = {str(name): int(i) for name, i in label2id.items()}
        if inverse != {name: i for i, name in enumerate(names)}:
            raise ValueError(f"label2id {dict(label2id)!r} is not the inverse of id2label {dict(id2label)!r}")
    return names


def _checked_names(names: Sequence[str], num_classes: int, what: str) -> list[str]:
    if len(names) != num_classes:
        raise ValueError(f"{what} has {len(names)} names, but the model has {num_classes} classes")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what} repeats names {repeated}")
    return list(names)


def label_config(names: Sequence[str] | None, num_classes: int) -> dict[str, dict]:
    """``id2label`` and ``label2id`` of a 🤗 config for ``num_classes`` classes named ``names``
    (transformers' ``LABEL_<i>`` where there are no names)."""
    if names is None:
        names = [f"LABEL_{i}" for i in range(num_classes)]
    else:
        names = _checked_names([str(n) for n in names], num_classes, f"class_names ({list(names)!r})")
    return {"id2label": dict(enumerate(names)), "label2id": {name: i for i, name in enumerate(names)}}


def _num_classes(backend_config: Any) -> int | None:
    """The classes of a classifier's decoder (or of the multimodal autoencoder's label input)."""
    for part in ("decoder", "encoder"):
        num_classes = getattr(getattr(backend_config, part, None), "num_classes", None)
        if isinstance(num_classes, int) and not isinstance(num_classes, bool):
            return num_classes
    return None


def convert_checkpoint_to(
    save_dir: str | Path,
    ckpt_url: str | Path,
    model_class: type,
    task: str,
    preprocessor=None,
    push_to_hub: bool = False,
    class_names: Sequence[str] | None = None,
    hub: Mapping[str, Any] | None = None,
    data_config: Callable[[Mapping[str, Any], str], dict[str, Any]] | None = None,
):
    """Save a 🤗 ``model_class`` with the weights of a perceiver-lightning checkpoint of ``task``.

    Args:
        preprocessor: a tokenizer or image processor saved alongside, or a function that makes it
            from ``(backend config, data module hyperparameters)``; None: none.
        class_names: a classifier's class names (``id2label``); None: the names the checkpoint's
            data module records (see :func:`class_names_of`), else ``LABEL_<i>``.
        hub: options of ``push_to_hub=True`` (``repo_id``, ``commit_message``, ``private``,
            ``token``), checked by :func:`hub_options`.
        data_config: a function of ``(data module hyperparameters, checkpoint name)`` that returns
            further arguments of the 🤗 config: the training's preprocessing settings that
            inference must repeat (e.g. the MIDI encoding of a symbolic audio model).
    """
    hub = hub_options("convert_checkpoint", push_to_hub, hub or {})
    ckpt = read_lightning_checkpoint(ckpt_url)
    config_class = model_class.config_class
    backend_config, state = backend_from_lightning_checkpoint(
        ckpt, task, config_class.backend_config_class, str(ckpt_url)
    )
    data_hparams = data_hyperparameters(ckpt)
    config_kwargs = {}
    num_classes = _num_classes(backend_config)
    if num_classes is not None:
        if class_names is None:
            class_names = class_names_of(data_hparams, num_classes, str(ckpt_url))
            if class_names is None:
                logger.warning(
                    "%s records no class names: the classes are named LABEL_0 ... LABEL_%d "
                    "(pass class_names to name them)",
                    ckpt_url,
                    num_classes - 1,
                )
        config_kwargs = label_config(class_names, num_classes)
    elif class_names is not None:
        raise ValueError(f"class_names is given, but {ckpt_url} is not a checkpoint of a classifier")
    if data_config is not None:
        config_kwargs.update(data_config(data_hparams, str(ckpt_url)))
    model = model_class(config_class(backend_config, **config_kwargs))
    missing, unexpected = model.backend_model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{ckpt_url} does not fit {model_class.__name__}: missing keys {sorted(missing)}, "
            f"unexpected keys {sorted(unexpected)}"
        )
    if callable(preprocessor) and not hasattr(preprocessor, "save_pretrained"):
        preprocessor = preprocessor(backend_config, data_hparams)
    model.save_pretrained(save_dir, push_to_hub=push_to_hub, **hub)
    if preprocessor is not None:
        preprocessor.save_pretrained(save_dir, push_to_hub=push_to_hub, **hub)
    return model.eval()


def _max_seq_len(backend_config: Any) -> int:
    found = getattr(backend_config, "max_seq_len", None)
    if found is None:
        found = getattr(getattr(backend_config, "encoder", None), "max_seq_len", None)
    if not isinstance(found, int):
        raise ValueError(f"{type(backend_config).__name__} has no max_seq_len")
    return found


def convert_text_checkpoint(
    save_dir: str | Path,
    ckpt_url: str | Path,
    model_class: type,
    task: str,
    tokenizer_name: str | bool | None = True,
    push_to_hub: bool = False,
    class_names: Sequence[str] | None = None,
    hub: Mapping[str, Any] | None = None,
    data_config: Callable[[Mapping[str, Any], str], dict[str, Any]] | None = None,
):
    """:func:`convert_checkpoint_to` for a text model, with its tokenizer saved alongside.

    Args:
        tokenizer_name: True: the tokenizer the checkpoint's data module names (the UTF-8 bytes
            tokenizer where it names none); a name or path: that tokenizer; None or False: none.
            It is set up as in training (see :func:`perceiver.hf.tokenizer.training_tokenizer`).
    """
    from perceiver.hf.tokenizer import training_tokenizer

    if tokenizer_name is None or tokenizer_name is False:
        preprocessor = None
    elif tokenizer_name is True or isinstance(tokenizer_name, str | os.PathLike):
        name = None if tokenizer_name is True else os.fspath(tokenizer_name)

        def preprocessor(backend_config, data_hparams):
            causal = task in ("text.clm", "audio.symbolic")
            return training_tokenizer(name, data_hparams, _max_seq_len(backend_config), causal)
    else:
        raise TypeError(f"tokenizer_name must be a name, a path, True or None, got {tokenizer_name!r}")
    return convert_checkpoint_to(
        save_dir,
        ckpt_url,
        model_class,
        task,
        preprocessor,
        push_to_hub,
        class_names=class_names,
        hub=hub,
        data_config=data_config,
    )
