"""Configuration dataclasses of the generic Perceiver models.

Every config validates in ``__post_init__`` (``ValueError`` naming the field and the value) and
round-trips through plain data: ``to_dict`` / ``from_dict`` and ``to_json`` / ``from_json``.
Task configs (``perceiver.model.text`` ...) subclass these.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from perceiver.model.core._validation import (
    check_divisible,
    check_non_negative,
    check_optional_positive,
    check_positive,
    check_probability,
)

__all__ = [
    "ClassificationDecoderConfig",
    "ConfigBase",
    "DecoderConfig",
    "EncoderConfig",
    "PerceiverARConfig",
    "PerceiverIOConfig",
]

T = TypeVar("T", bound="ConfigBase")
E = TypeVar("E", bound="EncoderConfig")
D = TypeVar("D", bound="DecoderConfig")


class ConfigBase:
    """Plain-data conversion shared by all config dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        hints = _field_types(cls)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown fields for {cls.__name__}: {unknown}")
        kwargs = {}
        for name, value in data.items():
            target = hints.get(name)
            if isinstance(value, dict) and isinstance(target, type) and issubclass(target, ConfigBase):
                value = target.from_dict(value)
            elif isinstance(value, list) and _is_tuple_type(target):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        return cls.from_dict(json.loads(text))

    def _fields_of(self, base: type, exclude: tuple[str, ...]) -> dict[str, Any]:
        """Values of the fields that ``base`` (a dataclass this config derives from) declares."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(base) if f.name not in exclude}


def _is_tuple_type(tp: Any) -> bool:
    """Whether a field type is a tuple or an optional tuple (JSON turns tuples into lists)."""
    origin = typing.get_origin(tp)
    if tp is tuple or origin is tuple:
        return True
    if origin in (typing.Union, types.UnionType):  # e.g. tuple[int, int] | None
        return any(_is_tuple_type(arg) for arg in typing.get_args(tp))
    return False


def _field_types(cls: type) -> dict[str, Any]:
    """Field types with TypeVars resolved through generic base classes."""
    hints = typing.get_type_hints(cls)
    bindings: dict[Any, Any] = {}
    for klass in reversed(cls.__mro__):
        for base in getattr(klass, "__orig_bases__", ()):
            origin = typing.get_origin(base)
            params = getattr(origin, "__parameters__", ())
            for param, arg in zip(params, typing.get_args(base)):
                bindings[param] = bindings.get(arg, arg)
    return {name: bindings.get(tp, tp) for name, tp in hints.items()}


@dataclass
class EncoderConfig(ConfigBase):
    # cross-attention
    num_cross_attention_heads: int = 8
    num_cross_attention_qk_channels: int | None = None
    num_cross_attention_v_channels: int | None = None
    num_cross_attention_layers: int = 1
    first_cross_attention_layer_shared: bool = False
    cross_attention_widening_factor: int = 1
    # self-attention
    num_self_attention_heads: int = 8
    num_self_attention_qk_channels: int | None = None
    num_self_attention_v_channels: int | None = None
    num_self_attention_layers_per_block: int = 6
    num_self_attention_blocks: int = 1
    first_self_attention_block_shared: bool = True
    self_attention_widening_factor: int = 1
    # regularization and initialization
    dropout: float = 0.0
    residual_dropout: float = 0.0
    init_scale: float = 0.02
    freeze: bool = False

    def __post_init__(self) -> None:
        for name in (
            "num_cross_attention_heads",
            "num_cross_attention_layers",
            "cross_attention_widening_factor",
            "num_self_attention_heads",
            "num_self_attention_layers_per_block",
            "num_self_attention_blocks",
            "self_attention_widening_factor",
        ):
            check_positive(name, getattr(self, name))
        for name in (
            "num_cross_attention_qk_channels",
            "num_cross_attention_v_channels",
            "num_self_attention_qk_channels",
            "num_self_attention_v_channels",
        ):
            check_optional_positive(name, getattr(self, name))
        for name, heads in (
            ("num_cross_attention_qk_channels", self.num_cross_attention_heads),
            ("num_cross_attention_v_channels", self.num_cross_attention_heads),
            ("num_self_attention_qk_channels", self.num_self_attention_heads),
            ("num_self_attention_v_channels", self.num_self_attention_heads),
        ):
            value = getattr(self, name)
            if value is not None:
                heads_name = name.replace("_qk_channels", "_heads").replace("_v_channels", "_heads")
                check_divisible(name, value, heads_name, heads)
        if self.num_cross_attention_layers > self.num_self_attention_blocks:
            raise ValueError(
                f"num_cross_attention_layers ({self.num_cross_attention_layers}) must not exceed "
                f"num_self_attention_blocks ({self.num_self_attention_blocks})"
            )
        check_probability("dropout", self.dropout)
        check_probability("residual_dropout", self.residual_dropout)
        check_non_negative("init_scale", self.init_scale)

    def base_kwargs(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """Keyword arguments of :class:`PerceiverEncoder` that this config holds."""
        return self._fields_of(EncoderConfig, ("freeze", *exclude))


@dataclass
class DecoderConfig(ConfigBase):
    num_cross_attention_heads: int = 8
    num_cross_attention_qk_channels: int | None = None
    num_cross_attention_v_channels: int | None = None
    cross_attention_widening_factor: int = 1
    cross_attention_residual: bool = True
    dropout: float = 0.0
    residual_dropout: float = 0.0
    init_scale: float = 0.02
    freeze: bool = False

    def __post_init__(self) -> None:
        check_positive("num_cross_attention_heads", self.num_cross_attention_heads)
        check_positive("cross_attention_widening_factor", self.cross_attention_widening_factor)
        for name in ("num_cross_attention_qk_channels", "num_cross_attention_v_channels"):
            value = getattr(self, name)
            check_optional_positive(name, value)
            if value is not None:
                check_divisible(name, value, "num_cross_attention_heads", self.num_cross_attention_heads)
        check_probability("dropout", self.dropout)
        check_probability("residual_dropout", self.residual_dropout)
        check_non_negative("init_scale", self.init_scale)

    def base_kwargs(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """Keyword arguments of :class:`PerceiverDecoder` that this config holds."""
        return self._fields_of(DecoderConfig, ("freeze", *exclude))


@dataclass
class ClassificationDecoderConfig(DecoderConfig):
    num_output_queries: int = 1
    num_output_query_channels: int = 256
    num_classes: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("num_output_queries", self.num_output_queries)
        check_positive("num_output_query_channels", self.num_output_query_channels)
        check_positive("num_classes", self.num_classes)


@dataclass
class PerceiverIOConfig(ConfigBase, Generic[E, D]):
    encoder: E
    decoder: D
    num_latents: int
    num_latent_channels: int
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        check_positive("num_latents", self.num_latents)
        check_positive("num_latent_channels", self.num_latent_channels)
        for prefix, cfg in (("encoder", self.encoder), ("decoder", self.decoder)):
            heads = [f for f in ("num_cross_attention_heads", "num_self_attention_heads") if hasattr(cfg, f)]
            for name in heads:
                check_positive(f"{prefix}.{name}", getattr(cfg, name))
        enc = self.encoder
        if enc.num_self_attention_qk_channels is None and enc.num_self_attention_v_channels is None:
            check_divisible(
                "num_latent_channels",
                self.num_latent_channels,
                "num_self_attention_heads",
                enc.num_self_attention_heads,
            )


LATENT_KV_NORMS = ("kv", "q")


@dataclass
class PerceiverARConfig(ConfigBase):
    """Perceiver AR.

    ``latent_kv_norm``: the layer norm that the latents pass through where they serve as keys
    and values of the cross-attention (they are its last keys): "kv", the norm of the prefix
    keys (the default), or "q", the norm of the queries, which the latents also are. "q" is the
    rule of krasserm/perceiver-io 0.11, whose trained models need it; loading one sets it.
    """

    num_heads: int = 8
    num_self_attention_layers: int = 6
    num_self_attention_rotary_layers: int = 1
    self_attention_widening_factor: int = 4
    cross_attention_widening_factor: int = 4
    cross_attention_dropout: float = 0.5
    post_attention_dropout: float = 0.0
    residual_dropout: float = 0.0
    activation_checkpointing: bool = False
    init_scale: float = 0.02
    latent_kv_norm: str = "kv"

    def __post_init__(self) -> None:
        check_positive("num_heads", self.num_heads)
        if self.latent_kv_norm not in LATENT_KV_NORMS:
            raise ValueError(f"latent_kv_norm must be one of {LATENT_KV_NORMS}, got {self.latent_kv_norm!r}")
        check_positive("num_self_attention_layers", self.num_self_attention_layers)
        if self.num_self_attention_rotary_layers != -1:
            check_non_negative("num_self_attention_rotary_layers", self.num_self_attention_rotary_layers)
        check_positive("self_attention_widening_factor", self.self_attention_widening_factor)
        check_positive("cross_attention_widening_factor", self.cross_attention_widening_factor)
        for name in ("cross_attention_dropout", "post_attention_dropout", "residual_dropout"):
            check_probability(name, getattr(self, name))
        check_non_negative("init_scale", self.init_scale)
