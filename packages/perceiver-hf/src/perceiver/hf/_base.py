"""Base classes of the 🤗 wrappers: a ``PreTrainedConfig`` that stores a perceiver-core config
dataclass, and a ``PreTrainedModel`` that owns the perceiver-core model built from it.

The wrappers stay thin: no model math here, only the transformers contract (config class,
base model prefix, weight initialisation for meta-device loading, outputs, losses).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init

from perceiver.hf._legacy import HUB_KWARGS, load_perceiver_io_weights
from perceiver.model.core import ConfigBase
from perceiver.model.core.legacy import legacy_config

__all__ = ["PerceiverBackendConfig", "PerceiverBackendModel", "check_class_labels"]


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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # transformers wraps the __init__ of config subclasses that do not define one so that it
        # only takes keywords; ``PerceiverXConfig(backend_config)`` must keep working
        if "__init__" not in cls.__dict__:
            cls.__init__ = PerceiverBackendConfig.__init__
        super().__init_subclass__(**kwargs)

    def __init__(self, backend_config: ConfigBase | dict[str, Any] | None = None, **kwargs: Any) -> None:
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
        output["backend_config"] = self.backend_config.to_dict()
        return output


class PerceiverBackendModel(PreTrainedModel):
    """A 🤗 model that owns a perceiver-core model at ``backend_model``.

    Subclasses set ``config_class`` and ``backend_class`` (the perceiver-core model class, built
    from ``config.backend_config``).
    """

    backend_class: ClassVar[type[nn.Module]]
    base_model_prefix = "backend_model"
    supports_gradient_checkpointing = False
    _supports_sdpa = True

    def __init__(self, config: PerceiverBackendConfig) -> None:
        super().__init__(config)
        self.backend_model = self.backend_class(config.backend_config)
        self.post_init()

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
    def init_scale(self) -> float:
        return getattr(self.config.backend_config, "init_scale", None) or _encoder_init_scale(self.config)

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
            init.normal_(module.weight, std=std)
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
                init.normal_(param, std=std)


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


def _encoder_init_scale(config: PerceiverBackendConfig) -> float:
    encoder = getattr(config.backend_config, "encoder", None)
    return getattr(encoder, "init_scale", 0.02)


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
