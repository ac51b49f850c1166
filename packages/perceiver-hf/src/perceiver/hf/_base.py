"""Base classes of the 🤗 wrappers: a ``PreTrainedConfig`` that stores a perceiver-core config
dataclass, and a ``PreTrainedModel`` that owns the perceiver-core model built from it.

The wrappers stay thin: no model math here, only the transformers contract (config class,
base model prefix, weight initialisation for meta-device loading, outputs, losses).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init

from perceiver.hf._legacy import HUB_KWARGS, load_perceiver_io_weights
from perceiver.model.core import ConfigBase, init_std
from perceiver.model.core.layers import EMBEDDING_INIT_SCALE
from perceiver.model.core.legacy import legacy_config

__all__ = [
    "PerceiverBackendConfig",
    "PerceiverBackendModel",
    "check_class_labels",
    "encoder_attributes",
]

# 🤗's standard config attribute names and what they mean here
STANDARD_ATTRIBUTES = {
    "vocab_size": "number of token ids",
    "hidden_size": "channels of the latents",
    "num_hidden_layers": "latent self-attention layers",
    "num_attention_heads": "heads of the latent self-attention",
    "max_position_embeddings": "longest input sequence",
}


def check_class_labels(
    labels: torch.Tensor, shape: tuple[int, ...], num_classes: int, ignore_index: int | None = None
) -> None:
    """Class-index ``labels`` for a cross-entropy loss: an integer tensor of ``shape`` with values
    in [0, num_classes) (or ``ignore_index``). The values are checked where that needs no wait for
    a device (labels on the CPU); on an accelerator the loss itself reports bad values."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a tensor of class indices, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must hold integer class indices, got dtype {labels.dtype}")
    if tuple(labels.shape) != tuple(shape):
        raise ValueError(f"labels has shape {tuple(labels.shape)}, expected {tuple(shape)}")
    if labels.device.type == "cpu" and labels.numel():
        valid = (labels >= 0) & (labels < num_classes)
        if ignore_index is not None:
            valid |= labels == ignore_index
        if not bool(valid.all()):
            bad = int(labels[~valid][0])
            ignored = "" if ignore_index is None else f" (or {ignore_index} = ignore)"
            raise ValueError(f"labels holds {bad}, outside the classes [0, {num_classes}){ignored}")


class PerceiverBackendConfig(PreTrainedConfig):
    """A 🤗 config whose content is a perceiver-core config dataclass (``backend_config``).

    Subclasses set ``model_type`` (namespaced, never transformers' own ``perceiver``) and
    ``backend_config_class``. ``backend_config`` may be given as the dataclass or as the plain
    dict it serializes to; without it the backend config's defaults apply.

    A ``config.json`` that krasserm/perceiver-io 0.11 saved has the same ``model_type`` and its
    backend config under ``model_config``: it is converted by the tables of
    :mod:`perceiver.model.core.legacy` for the subclass's ``legacy_task`` (a ``ValueError``
    names whatever they do not cover), and the model's ``from_pretrained`` then maps the
    weights too. ``to_dict`` (and so ``save_pretrained``) writes our format.
    """

    backend_config_class: ClassVar[type[ConfigBase]]
    legacy_task: ClassVar[str | None] = None  # perceiver.model.core.legacy.TASKS, None: no such format
    # 🤗's standard attribute names (vocab_size, hidden_size, ...) -> how each is read from the
    # backend config: read-only properties, never stored, so they cannot drift from it
    standard_attributes: ClassVar[Mapping[str, Callable[[Any], int]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # transformers wraps the __init__ of config subclasses that do not define one so that it
        # only takes keywords; ``PerceiverXConfig(backend_config)`` must keep working
        if "__init__" not in cls.__dict__:
            cls.__init__ = next(k.__dict__["__init__"] for k in cls.__mro__[1:] if "__init__" in k.__dict__)
        for name, read in cls.__dict__.get("standard_attributes", {}).items():
            setattr(cls, name, _derived_attribute(name, read))
        super().__init_subclass__(**kwargs)

    def __init__(self, backend_config: ConfigBase | dict[str, Any] | None = None, **kwargs: Any) -> None:
        derived = sorted(set(kwargs) & set(self.standard_attributes))
        if derived:
            raise ValueError(
                f"{derived} of {type(self).__name__} are derived from backend_config "
                f"({_derived_note(derived[0])}): set them there, not as config arguments"
            )
        model_config = kwargs.pop("model_config", None)
        perceiver_io_format = model_config is not None
        if perceiver_io_format:
            backend_config = self._from_perceiver_io(model_config, backend_config)
        if backend_config is None:
            backend_config = self.default_backend_config()
        elif isinstance(backend_config, dict):
            backend_config = self.backend_config_class.from_dict(backend_config)
        elif not isinstance(backend_config, self.backend_config_class):
            raise ValueError(
                f"backend_config must be a {self.backend_config_class.__name__} or a dict, "
                f"got {type(backend_config).__name__}"
            )
        self.backend_config = backend_config
        super().__init__(**kwargs)
        # not serialized: a config saved from this one is in our format
        self.perceiver_io_format = perceiver_io_format

    def _from_perceiver_io(self, model_config: Any, backend_config: Any) -> ConfigBase:
        if backend_config is not None:
            raise ValueError(
                "a config holds either backend_config (this library's format) or model_config "
                "(krasserm/perceiver-io 0.11's format), not both"
            )
        if self.legacy_task is None:
            raise ValueError(
                f"model_config (the format of krasserm/perceiver-io 0.11) is not supported for "
                f"model_type {self.model_type!r}: perceiver-io had no such model"
            )
        try:
            return legacy_config(self.legacy_task, model_config)
        except ValueError as error:
            raise ValueError(f"krasserm/perceiver-io 0.11 config of {self.model_type!r}: {error}") from error

    @classmethod
    def default_backend_config(cls) -> ConfigBase:
        return cls.backend_config_class()

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output.pop("perceiver_io_format", None)
        for name in self.standard_attributes:  # derived, not stored
            output.pop(name, None)
        output["backend_config"] = self.backend_config.to_dict()
        return output


def _derived_note(name: str) -> str:
    return f"{name}: {STANDARD_ATTRIBUTES.get(name, name)}"


def _derived_attribute(name: str, read: Callable[[Any], int]) -> property:
    def getter(config: PerceiverBackendConfig) -> int:
        return read(config.backend_config)

    def setter(config: PerceiverBackendConfig, value: Any) -> None:
        raise AttributeError(
            f"{name} of {type(config).__name__} is derived from backend_config ({_derived_note(name)}, "
            f"now {getter(config)}): set it in backend_config, e.g. with dataclasses.replace, not to {value!r}"
        )

    return property(getter, setter, doc=f"{STANDARD_ATTRIBUTES.get(name, name)}, read from backend_config")


def encoder_attributes(with_sequence: bool = False) -> dict[str, Callable[[Any], int]]:
    """Standard attributes of a Perceiver IO backend config (an encoder and latents); with
    ``with_sequence``, also those of a token encoder (vocab_size, max_position_embeddings)."""
    attributes: dict[str, Callable[[Any], int]] = {
        "hidden_size": lambda c: c.num_latent_channels,
        "num_hidden_layers": lambda c: (
            c.encoder.num_self_attention_layers_per_block * c.encoder.num_self_attention_blocks
        ),
        "num_attention_heads": lambda c: c.encoder.num_self_attention_heads,
    }
    if with_sequence:
        attributes["vocab_size"] = lambda c: c.encoder.vocab_size
        attributes["max_position_embeddings"] = lambda c: c.encoder.max_seq_len
    return attributes


class PerceiverBackendModel(PreTrainedModel):
    """A 🤗 model that owns a perceiver-core model at ``backend_model``.

    Subclasses set ``config_class`` and ``backend_class`` (the perceiver-core model class, built
    from ``config.backend_config``).
    """

    backend_class: ClassVar[type[nn.Module]]
    base_model_prefix = "backend_model"
    # gradient_checkpointing_enable() switches on perceiver-core's activation checkpointing
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    # the Auto class and pipeline task the model card's usage example names
    auto_class_name: ClassVar[str] = "AutoModel"
    pipeline_tag: ClassVar[str | None] = None

    def __init__(self, config: PerceiverBackendConfig) -> None:
        for name in ("output_attentions", "output_hidden_states"):
            if getattr(config, name, False):
                raise ValueError(
                    f"{type(self).__name__} does not return {name.removeprefix('output_')}: "
                    f"the config sets {name}=True"
                )
        super().__init__(config)
        _check_attn_implementation(type(self), getattr(config, "_attn_implementation", None))
        self.backend_model = self.backend_class(config.backend_config)
        self.post_init()

    def get_correct_attn_implementation(
        self, requested_attention: str | None, is_init_check: bool = False
    ) -> str:
        """Attention is always torch's ``scaled_dot_product_attention`` ("sdpa"); any other
        ``attn_implementation`` (e.g. "eager") raises instead of being accepted and ignored."""
        return _check_attn_implementation(type(self), requested_attention)

    # --- activation checkpointing, transformers' gradient_checkpointing_enable() ---------------

    @property
    def gradient_checkpointing(self) -> bool:
        """Whether the core model recomputes its layers' activations in the backward pass."""
        return any(getattr(m, "activation_checkpointing", False) for m in self._checkpointed_modules())

    @gradient_checkpointing.setter
    def gradient_checkpointing(self, enable: bool) -> None:
        for module in self._checkpointed_modules():
            module.activation_checkpointing = bool(enable)

    def _checkpointed_modules(self) -> list[nn.Module]:
        # the core modules that run their layers through perceiver-core's run_layer
        backend = self.__dict__.get("_modules", {}).get("backend_model")
        if backend is None:
            return []
        return [
            m for m in backend.modules() if isinstance(getattr(m, "activation_checkpointing", None), bool)
        ]

    def _set_gradient_checkpointing(
        self,
        enable: bool = True,
        gradient_checkpointing_func: Callable | None = None,
        every_n_layers: int = 1,
    ) -> None:
        """transformers' hook behind ``gradient_checkpointing_enable()`` /
        ``activation_checkpointing_enable()`` and ``Trainer(gradient_checkpointing=True)``.

        perceiver-core checkpoints every attention layer with ``torch.utils.checkpoint.checkpoint``
        (``use_reentrant=False``; ``use_reentrant=True`` computes the same gradients and is accepted).
        Other checkpoint functions (``offload=True``, custom ones) and ``every_n_layers`` other
        than 1 raise ``ValueError`` rather than being ignored.
        """
        if enable:
            if every_n_layers != 1:
                raise ValueError(
                    f"{type(self).__name__} checkpoints every layer; every_n_layers={every_n_layers} is not supported"
                )
            _check_checkpoint_function(type(self), gradient_checkpointing_func)
        self.gradient_checkpointing = enable

    # --- saving: the model card -------------------------------------------------------------

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        *args: Any,
        push_to_hub: bool = False,
        model_card: bool | str = True,
        **kwargs: Any,
    ) -> None:
        """transformers' ``save_pretrained``, which also writes a model card (``README.md``) that
        says how to load the model (``pip install perceiver-hf`` and ``import perceiver.hf``).

        Args:
            model_card: True writes the card unless the directory already holds a ``README.md``
                (a card of your own is never overwritten); "overwrite" writes it in any case;
                False writes none.
            push_to_hub: upload the directory (with the card) to the Hub repository ``repo_id``
                (default: the directory's name), as transformers does.
        """
        if model_card not in (True, False, "overwrite"):
            raise ValueError(f"model_card must be True, False or 'overwrite', got {model_card!r}")
        from perceiver.hf._model_card import model_card_text, upload_folder

        hub_options = {}
        if push_to_hub:  # transformers would replace the card with its generic one: upload here
            hub_options = {k: kwargs.pop(k) for k in _HUB_UPLOAD_OPTIONS if k in kwargs}
        super().save_pretrained(save_directory, *args, **kwargs)
        repo_id = hub_options.pop("repo_id", None) or Path(save_directory).name
        card_path = Path(save_directory) / "README.md"
        main_process = kwargs.get("is_main_process", True)
        if main_process and (model_card == "overwrite" or (model_card and not card_path.exists())):
            name = repo_id if push_to_hub else str(save_directory)
            card_path.write_text(model_card_text(self, name), encoding="utf-8")
        if push_to_hub and main_process:
            upload_folder(save_directory, repo_id, keep_remote_card=model_card != "overwrite", **hub_options)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        private: bool | None = None,
        token: bool | str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        max_shard_size: int | str | None = "50GB",
        model_card: bool | str = True,
        **kwargs: Any,
    ) -> Any:
        """Upload the model with its model card (see :meth:`save_pretrained`) to the Hub
        repository ``repo_id``; a card the repository already holds is kept unless
        ``model_card="overwrite"``."""
        import tempfile

        from perceiver.hf._model_card import upload_folder

        if kwargs:
            raise TypeError(f"push_to_hub got unexpected keyword arguments {sorted(kwargs)}")
        with tempfile.TemporaryDirectory() as tmp_dir:
            save_dir = Path(tmp_dir) / repo_id.split("/")[-1]
            self.save_pretrained(save_dir, max_shard_size=max_shard_size, model_card=model_card)
            text = (save_dir / "README.md").read_text(encoding="utf-8") if model_card else None
            if text is not None:  # the example loads from the Hub repository, not the temporary folder
                (save_dir / "README.md").write_text(text.replace(str(save_dir), repo_id), encoding="utf-8")
            return upload_folder(
                save_dir,
                repo_id,
                commit_message=commit_message,
                create_pr=create_pr,
                private=private,
                token=token,
                revision=revision,
                keep_remote_card=model_card != "overwrite",
            )

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any, **kwargs: Any
    ):
        """transformers' ``from_pretrained``, which also loads krasserm/perceiver-io 0.11 🤗
        directories, and which never leaves a parameter at its random initialisation (except
        mis-shaped ones when ``ignore_mismatched_sizes=True`` asks for it explicitly).

        Raises:
            ValueError: the weights miss parameters of the model, have parameters it lacks, or
                shapes that differ from its config (each named); perceiver-io's config or
                parameter names that the conversion tables do not cover.
        """
        config = kwargs.get("config")
        if config is None:
            # the format decides how the weights are read: look at config.json first
            hub_kwargs = {k: kwargs[k] for k in HUB_KWARGS if kwargs.get(k) is not None}
            found = cls.config_class.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
            if getattr(found, "perceiver_io_format", False):
                config = found
        if getattr(config, "perceiver_io_format", False):
            if model_args:
                raise ValueError(
                    "positional model arguments are not supported for a krasserm/perceiver-io directory"
                )
            options = {k: v for k, v in kwargs.items() if k != "config"}
            return load_perceiver_io_weights(
                cls(config), pretrained_model_name_or_path, config.legacy_task, options
            )

        output_loading_info = kwargs.pop("output_loading_info", False)
        # transformers raises a RuntimeError on mis-shaped weights after logging them: they are
        # reported here instead, as a ValueError that names them (unless the caller asked for
        # them to be re-initialised, e.g. a classifier head with another number of classes)
        ignore_mismatched_sizes = kwargs.pop("ignore_mismatched_sizes", False)
        model, info = super().from_pretrained(
            pretrained_model_name_or_path,
            *model_args,
            output_loading_info=True,
            ignore_mismatched_sizes=True,
            **kwargs,
        )
        if ignore_mismatched_sizes:
            info = {**info, "mismatched_keys": []}
        _check_loading_info(info, pretrained_model_name_or_path)
        return (model, info) if output_loading_info else model

    @property
    def init_scale(self) -> float | None:
        """std of the initial weights; None: scaled to each layer (perceiver-core's ``init_std``)."""
        scale = getattr(self.config.backend_config, "init_scale", None)
        return scale if scale is not None else _encoder_init_scale(self.config)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # perceiver-core's scheme (init_parameters), module by module, through transformers'
        # guarded init functions: weights loaded from a checkpoint keep their values, missing ones
        # are initialised as in a fresh core model, and derived buffers (position encodings, which
        # are not saved) are recomputed after meta-device construction.
        std = self.init_scale
        if hasattr(module, "reset_buffers"):
            module.reset_buffers()
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Embedding):
            init.normal_(module.weight, std=init_std(module, std))
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm | nn.modules.batchnorm._NormBase | nn.GroupNorm):
            if getattr(module, "weight", None) is not None:
                init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)
            if getattr(module, "running_mean", None) is not None:
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
        else:  # learned latents, queries, positions and other parameters a module owns directly
            for param in module.parameters(recurse=False):
                init.normal_(param, std=EMBEDDING_INIT_SCALE if std is None else std)


_HUB_UPLOAD_OPTIONS = ("repo_id", "commit_message", "create_pr", "private", "token", "revision")


def _check_attn_implementation(model_class: type, requested: str | None) -> str:
    if requested not in (None, "sdpa"):
        raise ValueError(
            f"{model_class.__name__} does not support attn_implementation={requested!r}: perceiver "
            "models compute attention with torch's scaled_dot_product_attention "
            '(attn_implementation="sdpa", the default) and return no attention weights'
        )
    return "sdpa"


def _check_checkpoint_function(model_class: type, function: Callable | None) -> None:
    """Accept transformers' checkpoint function where it is the one perceiver-core uses."""
    from torch.utils.checkpoint import checkpoint

    if function is None or function is checkpoint:
        return
    keywords = getattr(function, "keywords", None) or {}
    if getattr(function, "func", None) is checkpoint and set(keywords) <= {"use_reentrant"}:
        return
    detail = (
        f"keyword arguments {dict(keywords)}"
        if getattr(function, "func", None) is checkpoint
        else repr(function)
    )
    raise ValueError(
        f"{model_class.__name__} checkpoints its layers with torch.utils.checkpoint.checkpoint "
        f"(perceiver-core's activation checkpointing); it cannot use {detail} "
        "(offload=True and checkpoint arguments other than use_reentrant are not supported)"
    )


def _check_loading_info(info: dict[str, Any], source: str | os.PathLike) -> None:
    """Raise where transformers would only report: weights that do not cover the model."""
    problems = [
        f"{label}: {sorted(str(k) for k in info.get(key) or ())}"
        for key, label in (
            ("missing_keys", "parameters the weights do not provide"),
            ("mismatched_keys", "parameters whose shapes differ from the config's"),
            ("unexpected_keys", "weights the model has no parameter for"),
            ("error_msgs", "errors"),
        )
        if info.get(key)
    ]
    if problems:
        raise ValueError(
            f"the weights of {source} do not fit the model its config describes (no parameter is "
            "left at its random initialisation): " + "; ".join(problems)
        )


def _encoder_init_scale(config: PerceiverBackendConfig) -> float | None:
    encoder = getattr(config.backend_config, "encoder", None)
    return getattr(encoder, "init_scale", EMBEDDING_INIT_SCALE)


def refuse_pipeline_arguments(
    task: str, kwargs: dict[str, Any], replaced: dict[str, str] | None = None
) -> None:
    """Raise ``TypeError`` naming the arguments a pipeline call does not take (nothing is ignored).

    ``replaced`` maps arguments of krasserm/perceiver-io 0.11's pipelines that this library does
    not take to what to use instead.
    """
    if not kwargs:
        return
    replaced = replaced or {}
    notes = [f"{name} ({replaced[name]})" for name in sorted(kwargs) if name in replaced]
    unknown = sorted(name for name in kwargs if name not in replaced)
    parts = []
    if unknown:
        parts.append(f"unknown arguments {unknown}")
    if notes:
        parts.append("perceiver-io 0.11 arguments it does not take: " + "; ".join(notes))
    raise TypeError(f"the {task} pipeline got " + " and ".join(parts))


# keyword arguments transformers' generate(), pipelines and Trainer pass to every model's forward
# that have no meaning here: accepted and unused (a Perceiver has no token types or position ids
# of its own; the wrappers return neither attentions nor hidden states)
_UNUSED_FORWARD_ARGUMENTS = frozenset(
    {"use_cache", "token_type_ids", "num_items_in_batch", "cache_position", "position_ids"}
)
_UNSUPPORTED_OUTPUTS = ("output_attentions", "output_hidden_states")


def check_forward_arguments(model: nn.Module, kwargs: dict[str, Any]) -> None:
    """Raise for a keyword argument of ``model.forward`` that would otherwise be ignored.

    A misspelt argument (``attention_masks=``) must not run the model without it.
    """
    for name in _UNSUPPORTED_OUTPUTS:
        if kwargs.get(name):
            raise ValueError(
                f"{type(model).__name__} does not return {name.removeprefix('output_')}: {name}=True"
            )
    unknown = sorted(
        k for k in kwargs if k not in _UNUSED_FORWARD_ARGUMENTS and k not in _UNSUPPORTED_OUTPUTS
    )
    if unknown:
        raise TypeError(f"{type(model).__name__}.forward got unexpected keyword arguments {unknown}")
