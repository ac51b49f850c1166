"""Configuration dataclasses of the generic Perceiver models.

Every config validates in ``__post_init__`` (``ValueError`` naming the field and the value) and
round-trips through plain data: ``to_dict`` / ``from_dict`` and ``to_json`` / ``from_json``.
Task configs (``perceiver.model.text`` ...) subclass these.

Field types are checked first, for every config in one place (:meth:`ConfigBase.__post_init__`,
which each config's ``__post_init__`` calls before its own checks), against the field's
annotation: an ``int`` field takes an integer (not a bool, not ``8.0``, not ``"8"``), a ``float``
field a finite real number (stored as float), a ``bool`` field only True or False, a tuple field a
tuple or list of such values (stored as tuple), a nested config field the config or the dict it
serializes to. A wrong type raises :class:`ArgumentTypeError` (a ``TypeError`` and a
``ValueError``) naming the config, the field and the value, whether the value came from the
constructor, ``from_dict`` / ``from_json``, a 🤗 ``config.json`` or a checkpoint's hyperparameters.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import numbers
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, NamedTuple, TypeVar

from perceiver.model.core._validation import (
    ArgumentTypeError,
    check_divisible,
    check_non_negative,
    check_optional_positive,
    check_positive,
    check_probability,
)

__all__ = [
    "QK_CHANNELS_DEFAULTS",
    "ClassificationDecoderConfig",
    "ConfigBase",
    "DecoderConfig",
    "DerivedChannels",
    "EncoderConfig",
    "PerceiverARConfig",
    "PerceiverIOConfig",
    "cross_attention_qk_channels",
    "field_docs",
]

T = TypeVar("T", bound="ConfigBase")
E = TypeVar("E", bound="EncoderConfig")
D = TypeVar("D", bound="DecoderConfig")


class ConfigBase:
    """Field type checks and plain-data conversion shared by all config dataclasses."""

    def __post_init__(self) -> None:
        # type checks before any value check: a value check then never meets a wrong type
        owner = type(self).__name__
        for name, hint in _field_types(type(self)).items():
            value = getattr(self, name)
            checked = _checked_value(f"{owner}.{name}", value, hint)
            if checked is not value:
                object.__setattr__(self, name, checked)

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


_NO_MATCH = object()


def _checked_value(name: str, value: Any, hint: Any) -> Any:
    """``value`` if it fits the annotation ``hint`` (normalized: ints to float in float fields,
    lists to tuples in tuple fields, dicts to nested configs), else an error naming ``name``."""
    result = _match(name, value, hint)
    if result is _NO_MATCH:
        raise ArgumentTypeError(f"{name} must be {_describe(hint)}, got {value!r} ({type(value).__name__})")
    return result


def _match(name: str, value: Any, hint: Any) -> Any:
    """``value`` normalized to ``hint``, ``_NO_MATCH`` if it does not fit; a value of the right
    type but out of range (a non-finite float) raises ``ValueError`` at once."""
    if isinstance(hint, TypeVar):
        hint = hint.__bound__ if hint.__bound__ is not None else Any
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if hint is type(None):
        return value if value is None else _NO_MATCH
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return value if type(None) in args else _NO_MATCH
        for arg in args:
            if arg is not type(None):
                result = _match(name, value, arg)
                if result is not _NO_MATCH:
                    return result
        return _NO_MATCH
    if origin is Literal:
        return value if any(value == a and type(value) is type(a) for a in args) else _NO_MATCH
    if hint is bool:
        return value if isinstance(value, bool) else _NO_MATCH
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return _NO_MATCH
        return value if type(value) is int else int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return _NO_MATCH
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value}")
        return value if type(value) is float else float(value)
    if hint is str:
        return value if isinstance(value, str) else _NO_MATCH
    if origin is tuple or hint is tuple:
        if not isinstance(value, tuple | list):
            return _NO_MATCH
        if args and args[-1] is not Ellipsis and len(args) != len(value):
            return _NO_MATCH
        item_types = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if not args:
            return tuple(value)
        items = [_match(f"{name}[{i}]", v, t) for i, (v, t) in enumerate(zip(value, item_types))]
        return _NO_MATCH if any(item is _NO_MATCH for item in items) else tuple(items)
    if origin is list or hint is list:
        if not isinstance(value, list | tuple):
            return _NO_MATCH
        if not args:
            return value
        items = [_match(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value)]
        if any(item is _NO_MATCH for item in items):
            return _NO_MATCH
        return value if isinstance(value, list) and all(a is b for a, b in zip(items, value)) else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            return _NO_MATCH
        if not args:
            return value
        result = {}
        for key, item in value.items():
            k, v = _match(name, key, args[0]), _match(f"{name}[{key!r}]", item, args[1])
            if k is _NO_MATCH or v is _NO_MATCH:
                return _NO_MATCH
            result[k] = v
        return value if all(result[k] is value[k] for k in value) else result
    if isinstance(hint, type) and issubclass(hint, ConfigBase):
        if isinstance(value, dict):
            return hint.from_dict(value)
        return value if isinstance(value, hint) else _NO_MATCH
    if isinstance(hint, type):
        return value if isinstance(value, hint) else _NO_MATCH
    return value  # an annotation this check does not interpret


def _describe(hint: Any) -> str:
    if isinstance(hint, TypeVar) and hint.__bound__ is not None:
        hint = hint.__bound__
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("None" if a is type(None) else _describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    names = {bool: "True or False", int: "an int", float: "a finite number", str: "a string"}
    if hint in names:
        return names[hint]
    if isinstance(hint, type) and issubclass(hint, ConfigBase):
        return f"a {hint.__name__} (or a dict of its fields)"
    if origin is tuple and args and args[-1] is not Ellipsis:
        return f"{len(args)} values ({', '.join(getattr(a, '__name__', str(a)) for a in args)})"
    return f"a {getattr(hint, '__name__', None) or str(hint)}" if origin is None else f"a {hint}"


@functools.cache
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


_ARG = re.compile(r"^    (\w+)(?: \([^)]*\))?: (.*)$")


def field_docs(cls: type) -> dict[str, str]:
    """The description of each field of a config dataclass, from the ``Args:`` sections
    (Google style) of its class docstring and those of its base classes (a subclass's
    description wins). This is where jsonargparse, and so the CLI's ``--help``, reads them."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = klass.__dict__.get("__doc__")
        if not doc:
            continue
        name, in_args = None, False
        for line in inspect.cleandoc(doc).splitlines():
            if not line.startswith(" "):
                in_args, name = line.strip() == "Args:", None
                continue
            match = _ARG.match(line) if in_args else None
            if match:
                name = match.group(1)
                docs[name] = match.group(2).strip()
            elif in_args and name is not None and line.startswith("        "):
                docs[name] += " " + line.strip()
    return docs


@dataclass
class EncoderConfig(ConfigBase):
    """The encoder of a Perceiver IO model: latents cross-attend to the adapted input, then
    self-attend in blocks of layers.

    Args:
        num_cross_attention_heads: attention heads of the cross-attention; must divide its qk
            and v channels.
        num_cross_attention_qk_channels: channels of queries and keys in the cross-attention;
            None: the query channels (the latents') or the key/value channels (the adapted
            input's), as the model config's ``cross_attention_qk_channels_default`` says
            ("queries" in the text models, "keys" in the vision, optical-flow and multimodal ones).
        num_cross_attention_v_channels: channels of values in the cross-attention (None: its qk
            channels).
        num_cross_attention_layers: cross-attention layers, interleaved with the self-attention
            blocks (at most num_self_attention_blocks).
        first_cross_attention_layer_shared: later cross-attention layers reuse the first one's
            weights (else they share a second set).
        cross_attention_widening_factor: hidden size of the cross-attention's MLP, in multiples
            of the latent channels.
        num_self_attention_heads: attention heads of the self-attention; must divide its qk and
            v channels.
        num_self_attention_qk_channels: channels of queries and keys in the self-attention
            (None: the latent channels).
        num_self_attention_v_channels: channels of values in the self-attention (None: its qk
            channels).
        num_self_attention_layers_per_block: self-attention layers in each block.
        num_self_attention_blocks: applications of the block of self-attention layers.
        first_self_attention_block_shared: later blocks reuse the first block's weights (else
            they share a second set).
        self_attention_widening_factor: hidden size of the self-attention's MLP, in multiples of
            the latent channels.
        dropout: dropout on attention probabilities, in training only.
        residual_dropout: dropout on the residual branches, in training only.
        init_scale: standard deviation of the normal initialization of the weights; None, where
            a subclass allows it (the image encoder's default): scaled to each layer's fan-in
            (:func:`~perceiver.model.core.init_std`).
        freeze: exclude the encoder's parameters from training (e.g. a pretrained encoder).
    """

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
        super().__post_init__()
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
        if self.init_scale is not None:  # None where a subclass allows it: scaled to each layer
            check_non_negative("init_scale", self.init_scale)

    def base_kwargs(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """Keyword arguments of :class:`PerceiverEncoder` that this config holds."""
        return self._fields_of(EncoderConfig, ("freeze", *exclude))


@dataclass
class DecoderConfig(ConfigBase):
    """The decoder of a Perceiver IO model: output queries cross-attend to the latents.

    Args:
        num_cross_attention_heads: attention heads of the cross-attention; must divide its qk
            and v channels.
        num_cross_attention_qk_channels: channels of queries and keys in the cross-attention;
            None: the query channels (the output queries') or the key/value channels (the
            latents'), as the model config's ``cross_attention_qk_channels_default`` says
            ("queries" in the text models, "keys" in the vision, optical-flow and multimodal ones).
        num_cross_attention_v_channels: channels of values in the cross-attention (None: its qk
            channels).
        cross_attention_widening_factor: hidden size of the cross-attention's MLP, in multiples
            of the query channels.
        cross_attention_residual: add the output queries to the attention output.
        dropout: dropout on attention probabilities, in training only.
        residual_dropout: dropout on the residual branches, in training only.
        init_scale: standard deviation of the normal initialization of the weights.
        freeze: exclude the decoder's parameters from training.
    """

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
        super().__post_init__()
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
    """A decoder whose learned output queries are mapped to class logits.

    Args:
        num_output_queries: learned output queries (1: one prediction per input).
        num_output_query_channels: channels of each output query.
        num_classes: number of classes, the size of the logits.
    """

    num_output_queries: int = 1
    num_output_query_channels: int = 256
    num_classes: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("num_output_queries", self.num_output_queries)
        check_positive("num_output_query_channels", self.num_output_query_channels)
        check_positive("num_classes", self.num_classes)


# what None means for a cross-attention's qk channels: the channels of its query input or of its
# key/value input (see PerceiverIOConfig.cross_attention_qk_channels_default)
QK_CHANNELS_DEFAULTS = ("queries", "keys")


def cross_attention_qk_channels(
    num_qk_channels: int | None, default: str, num_query_channels: int, num_kv_channels: int
) -> int:
    """The qk channels of a cross-attention: ``num_qk_channels``, or where it is None the channels
    of the queries (``default="queries"``) or of the keys and values (``default="keys"``)."""
    if num_qk_channels is not None:
        return num_qk_channels
    if default not in QK_CHANNELS_DEFAULTS:
        raise ValueError(f"the qk channels default must be one of {QK_CHANNELS_DEFAULTS}, got {default!r}")
    return num_query_channels if default == "queries" else num_kv_channels


class DerivedChannels(NamedTuple):
    """A channel count that a model derives from config fields, and how (in those fields)."""

    value: int
    derivation: str  # e.g. "image_shape[0] (1) + 2 x (2 x num_frequency_bands (8) + 1)"
    fields: tuple[str, ...]  # the fields it is derived from, e.g. ("encoder.num_frequency_bands",)


@dataclass
class PerceiverIOConfig(ConfigBase, Generic[E, D]):
    """A Perceiver IO model: encoder, decoder and latent array.

    Args:
        encoder: the encoder's config (input adapter, cross-attention to the input, self-attention).
        decoder: the decoder's config (output queries cross-attending to the latents).
        num_latents: number of latent vectors, the length of the latent array.
        num_latent_channels: channels of each latent vector.
        activation_checkpointing: recompute the activations of each layer in the backward pass
            instead of storing them (less memory, more compute).
    """

    encoder: E
    decoder: D
    num_latents: int
    num_latent_channels: int
    activation_checkpointing: bool = False

    # What ``num_cross_attention_qk_channels=None`` means in this model's encoder and decoder:
    # "queries", the cross-attention's query channels (the latents' in the encoder, the output
    # queries' in the decoder), or "keys", the channels of its key/value input (the adapted
    # input's in the encoder, the latents' in the decoder), the layout of DeepMind's official
    # vision, optical-flow and multimodal models. A class constant, not a field.
    cross_attention_qk_channels_default: ClassVar[str] = "queries"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("num_latents", self.num_latents)
        check_positive("num_latent_channels", self.num_latent_channels)
        for prefix, cfg in (("encoder", self.encoder), ("decoder", self.decoder)):
            heads = [f for f in ("num_cross_attention_heads", "num_self_attention_heads") if hasattr(cfg, f)]
            for name in heads:
                check_positive(f"{prefix}.{name}", getattr(cfg, name))
        self._check_derived_channels()

    # ---------------------------------------------------------------- derived channel counts

    def encoder_input_channels(self) -> DerivedChannels | None:
        """Channels of the adapted input (the encoder's keys and values), where the config knows
        them; task configs override this."""
        return None

    def decoder_query_channels(self) -> DerivedChannels | None:
        """Channels of the decoder's output queries, where the config knows them; task configs
        override this."""
        return None

    def _latent_channels(self) -> DerivedChannels:
        n = self.num_latent_channels
        return DerivedChannels(n, f"num_latent_channels ({n})", ("num_latent_channels",))

    def _check_derived_channels(self) -> None:
        """Heads must divide the qk and v channels that the model derives where a config leaves
        them None; the error names the fields the user set, not only the derived number."""
        enc, dec = self.encoder, self.decoder
        latents = self._latent_channels()
        if hasattr(enc, "num_self_attention_heads"):
            self._check_heads(
                "encoder", "self_attention", enc.num_self_attention_heads, latents, "the latent channels"
            )
        default = self.cross_attention_qk_channels_default
        for prefix, cfg, queries, keys in (
            ("encoder", enc, latents, self.encoder_input_channels()),
            ("decoder", dec, self.decoder_query_channels(), latents),
        ):
            side = (queries, "query") if default == "queries" else (keys, "key/value input")
            if side[0] is not None:
                heads = cfg.num_cross_attention_heads
                self._check_heads(prefix, "cross_attention", heads, side[0], f"the {side[1]} channels")

    def _check_heads(self, prefix: str, kind: str, heads: int, default: DerivedChannels, what: str) -> None:
        cfg = getattr(self, prefix)
        qk_name = f"num_{kind}_qk_channels"
        # v channels default to the qk channels: with explicit qk or v channels, the encoder or
        # decoder config has checked them; only the derived default is checked here
        qk = getattr(cfg, qk_name)
        heads_name = f"{prefix}.num_{kind}_heads"
        if qk is None and default.value % heads:
            changes = ", ".join(dict.fromkeys([*default.fields, heads_name]))
            raise ValueError(
                f"{heads_name} ({heads}) must divide the {kind.replace('_', '-')} qk channels, which "
                f"{prefix}.{qk_name}=None sets to {what}: {default.derivation} = {default.value}; "
                f"set {prefix}.{qk_name} to a multiple of {heads}, or change {changes}"
            )


LATENT_KV_NORMS = ("kv", "q")


@dataclass
class PerceiverARConfig(ConfigBase):
    """Perceiver AR: the last tokens (the latents) cross-attend to the whole window (prefix and
    latents), then self-attend causally.

    Args:
        num_heads: attention heads of every attention; must divide the channels.
        num_self_attention_layers: causal self-attention layers over the latents.
        num_self_attention_rotary_layers: self-attention layers with rotary position embedding,
            counted from the first (-1: all of them).
        self_attention_widening_factor: hidden size of the self-attention MLPs, in multiples of
            the channels.
        cross_attention_widening_factor: hidden size of the cross-attention MLP, in multiples of
            the channels.
        cross_attention_dropout: fraction of the prefix tokens dropped from the cross-attention
            in training (prefix dropout); never in evaluation.
        post_attention_dropout: dropout on attention probabilities, in training only.
        residual_dropout: dropout on the residual branches, in training only.
        activation_checkpointing: recompute the activations of each layer in the backward pass
            instead of storing them (less memory, more compute).
        init_scale: standard deviation of the normal initialization of the weights.
        latent_kv_norm: the layer norm that the latents pass through where they serve as keys
            and values of the cross-attention (they are its last keys): "kv", the norm of the
            prefix keys (the default), or "q", the norm of the queries, which the latents also
            are. "q" is the rule of krasserm/perceiver-io 0.11, whose trained models need it;
            loading one sets it.
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
        super().__post_init__()
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
