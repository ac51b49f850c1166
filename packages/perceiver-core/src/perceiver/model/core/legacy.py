"""Configs and weights of krasserm/perceiver-io 0.11 models, mapped onto this library's.

perceiver-io 0.11 (and 0.9, 0.10, which share its formats) stores a model's config as the
plain dict of its dataclasses (``dataclasses.asdict``) and its weights under parameter names
that follow its module structure: Perceiver IO models are an ``nn.Sequential`` of encoder
(``0.``) and decoder (``1.``), attention layers are ``nn.Sequential`` of a residual-wrapped
attention (``0.module.``) and a residual-wrapped MLP (``1.module.``), learned queries are
``_query``, position embeddings ``nn.Embedding`` weights.

Both mappings are explicit tables. A config field, a field value or a parameter name that no
table covers is a ``ValueError`` naming it: nothing is guessed, nothing is dropped silently.

- :func:`legacy_config`: the backend config (the ``model_config`` dict of a 🤗 directory's
  ``config.json``, or the hyperparameters of a Lightning checkpoint) -> our task config.
  Fields the dict lacks take perceiver-io's defaults (which differ from ours), and channel
  counts it left to defaults are written out, so that the model has perceiver-io's shapes.
- :func:`legacy_state_dict`: the backend state dict (keys without ``backend_model.``) -> our
  backend state dict.

Two differences are not a matter of names. perceiver-io's Perceiver AR has no biases in its
attention projections (except the cross-attention's output) and MLPs: our layers have them,
and they are filled with zeros, which computes the same function. And its cross-attention
normalizes the latents, where they are keys and values, with the query norm: the converted
config sets ``latent_kv_norm="q"`` (see :class:`perceiver.model.core.PerceiverARConfig`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import torch

from perceiver.model.core.config import ConfigBase, DecoderConfig, EncoderConfig

__all__ = ["TASKS", "legacy_config", "legacy_state_dict"]

TASKS = (
    "text.mlm",
    "text.classifier",
    "text.clm",
    "audio.symbolic",
    "vision.image_classifier",
    "vision.optical_flow",
)

# ---------------------------------------------------------------------------------------------
# perceiver-io's config dataclasses: every field and its default there
# ---------------------------------------------------------------------------------------------

_ENCODER_DEFAULTS: dict[str, Any] = {
    "num_cross_attention_heads": 8,
    "num_cross_attention_qk_channels": None,
    "num_cross_attention_v_channels": None,
    "num_cross_attention_layers": 1,
    "first_cross_attention_layer_shared": False,
    "cross_attention_widening_factor": 1,
    "num_self_attention_heads": 8,
    "num_self_attention_qk_channels": None,
    "num_self_attention_v_channels": None,
    "num_self_attention_layers_per_block": 8,
    "num_self_attention_blocks": 1,
    "first_self_attention_block_shared": True,
    "self_attention_widening_factor": 1,
    "dropout": 0.0,
    "init_scale": 0.02,
    "freeze": False,
}
_DECODER_DEFAULTS: dict[str, Any] = {
    "num_cross_attention_heads": 8,
    "num_cross_attention_qk_channels": None,
    "num_cross_attention_v_channels": None,
    "cross_attention_widening_factor": 1,
    "cross_attention_residual": True,
    "dropout": 0.0,
    "init_scale": 0.02,
    "freeze": False,
}
_TEXT_ENCODER_DEFAULTS = {
    **_ENCODER_DEFAULTS,
    "vocab_size": 10003,
    "max_seq_len": 256,
    "num_input_channels": 64,
    "params": None,  # a path the encoder's weights were initialised from in training
}
_TEXT_DECODER_DEFAULTS = {
    **_DECODER_DEFAULTS,
    "num_output_query_channels": None,
    "vocab_size": 10003,
    "max_seq_len": 512,
}
_CLASSIFICATION_DECODER_DEFAULTS = {
    **_DECODER_DEFAULTS,
    "num_output_queries": 1,
    "num_output_query_channels": 256,
    "num_classes": 100,
}
_IMAGE_ENCODER_DEFAULTS = {**_ENCODER_DEFAULTS, "image_shape": (224, 224, 3), "num_frequency_bands": 32}
_FLOW_ENCODER_DEFAULTS = {
    **_ENCODER_DEFAULTS,
    "image_shape": (368, 496),
    "num_patch_input_channels": 27,
    "num_patch_hidden_channels": 64,
    "num_frequency_bands": 64,
}
_FLOW_DECODER_DEFAULTS = {**_DECODER_DEFAULTS, "image_shape": (368, 496), "rescale_factor": 100.0}
_PERCEIVER_IO_DEFAULTS: dict[str, Any] = {
    "encoder": None,  # required
    "decoder": None,  # required
    "num_latents": None,  # required
    "num_latent_channels": None,  # required
    "activation_checkpointing": False,
    "activation_offloading": False,
}
_CAUSAL_SEQUENCE_DEFAULTS: dict[str, Any] = {
    "num_heads": 8,
    "max_heads_parallel": None,
    "num_self_attention_layers": 8,
    "num_self_attention_rotary_layers": 1,
    "self_attention_widening_factor": 4,
    "cross_attention_widening_factor": 4,
    "cross_attention_dropout": 0.5,
    "post_attention_dropout": 0.0,
    "residual_dropout": 0.0,
    "activation_checkpointing": False,
    "activation_offloading": False,
    "vocab_size": 262,
    "max_seq_len": 4096,
    "max_latents": 512,
    "num_channels": 512,
    "output_norm": False,
    "output_bias": True,
    "abs_pos_emb": True,
    "init_scale": 0.02,
}

# fields of perceiver-io that only affect how it computes or trains, not what: dropped
_COMPUTE_ONLY = ("activation_offloading", "max_heads_parallel")
# fields without a default in perceiver-io
_REQUIRED = ("encoder", "decoder", "num_latents", "num_latent_channels")


def _fields(name: str, data: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` completed with perceiver-io's ``defaults``; unknown or missing required fields raise."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{name} must be a dict of perceiver-io config fields, got {type(data).__name__}")
    unknown = sorted(set(data) - set(defaults))
    if unknown:
        raise ValueError(f"{name}: fields unknown to perceiver-io 0.11's config: {unknown}")
    merged = {**defaults, **data}
    missing = [k for k in _REQUIRED if k in defaults and merged[k] is None]
    if missing:
        raise ValueError(f"{name}: required fields missing: {missing}")
    return merged


def _encoder_kwargs(
    cfg: Mapping[str, Any], cross_qk_default: int, num_latent_channels: int
) -> dict[str, Any]:
    """Our EncoderConfig fields, with the channel counts perceiver-io derived written out.

    perceiver-io: cross-attention qk channels default to the query (latent) channels, except
    in the image and flow models (the input channels); v channels default to the qk channels;
    self-attention qk channels to the latent channels.
    """
    cross_qk = cfg["num_cross_attention_qk_channels"] or cross_qk_default
    self_qk = cfg["num_self_attention_qk_channels"] or num_latent_channels
    kwargs = {name: cfg[name] for name in EncoderConfig.__dataclass_fields__ if name in cfg}
    kwargs.update(
        num_cross_attention_qk_channels=cross_qk,
        num_cross_attention_v_channels=cfg["num_cross_attention_v_channels"] or cross_qk,
        num_self_attention_qk_channels=self_qk,
        num_self_attention_v_channels=cfg["num_self_attention_v_channels"] or self_qk,
    )
    return kwargs


def _decoder_kwargs(cfg: Mapping[str, Any], num_query_channels: int) -> dict[str, Any]:
    """Our DecoderConfig fields; perceiver-io's qk channels default to the query channels."""
    qk = cfg["num_cross_attention_qk_channels"] or num_query_channels
    kwargs = {name: cfg[name] for name in DecoderConfig.__dataclass_fields__ if name in cfg}
    kwargs.update(
        num_cross_attention_qk_channels=qk,
        num_cross_attention_v_channels=cfg["num_cross_attention_v_channels"] or qk,
    )
    return kwargs


def _io_fields(model_config: Mapping[str, Any], encoder_defaults, decoder_defaults):
    top = _fields("model_config", model_config, _PERCEIVER_IO_DEFAULTS)
    enc = _fields("model_config.encoder", top["encoder"], encoder_defaults)
    dec = _fields("model_config.decoder", top["decoder"], decoder_defaults)
    common = {
        "num_latents": top["num_latents"],
        "num_latent_channels": top["num_latent_channels"],
        "activation_checkpointing": top["activation_checkpointing"],
    }
    return enc, dec, common


def _text_encoder(enc: Mapping[str, Any], num_latent_channels: int):
    from perceiver.model.text.mlm import TextEncoderConfig

    # "params" named the weights the encoder started from in training; they are in the saved state
    return TextEncoderConfig(
        vocab_size=enc["vocab_size"],
        max_seq_len=enc["max_seq_len"],
        num_input_channels=enc["num_input_channels"],
        **_encoder_kwargs(enc, num_latent_channels, num_latent_channels),
    )


def _mlm_config(model_config: Mapping[str, Any]) -> ConfigBase:
    from perceiver.model.text.mlm import MaskedLanguageModelConfig, TextDecoderConfig

    enc, dec, common = _io_fields(model_config, _TEXT_ENCODER_DEFAULTS, _TEXT_DECODER_DEFAULTS)
    if dec["num_output_query_channels"] is not None:
        raise ValueError(
            f"model_config.decoder.num_output_query_channels={dec['num_output_query_channels']}: "
            "a masked language model with an untied output projection is not supported "
            "(only None, output weights tied to the token embedding)"
        )
    decoder = TextDecoderConfig(
        vocab_size=dec["vocab_size"],
        max_seq_len=dec["max_seq_len"],
        **_decoder_kwargs(dec, enc["num_input_channels"]),
    )
    return MaskedLanguageModelConfig(
        encoder=_text_encoder(enc, common["num_latent_channels"]), decoder=decoder, **common
    )


def _classification_decoder(dec: Mapping[str, Any], num_output_queries: int | None = None):
    from perceiver.model.core.config import ClassificationDecoderConfig

    return ClassificationDecoderConfig(
        num_output_queries=dec["num_output_queries"] if num_output_queries is None else num_output_queries,
        num_output_query_channels=dec["num_output_query_channels"],
        num_classes=dec["num_classes"],
        **_decoder_kwargs(dec, dec["num_output_query_channels"]),
    )


def _text_classifier_config(model_config: Mapping[str, Any]) -> ConfigBase:
    from perceiver.model.text.classifier import TextClassifierConfig

    enc, dec, common = _io_fields(model_config, _TEXT_ENCODER_DEFAULTS, _CLASSIFICATION_DECODER_DEFAULTS)
    return TextClassifierConfig(
        encoder=_text_encoder(enc, common["num_latent_channels"]),
        decoder=_classification_decoder(dec),
        **common,
    )


def _image_classifier_config(model_config: Mapping[str, Any]) -> ConfigBase:
    from perceiver.model.vision.image_classifier import ImageClassifierConfig, ImageEncoderConfig

    enc, dec, common = _io_fields(model_config, _IMAGE_ENCODER_DEFAULTS, _CLASSIFICATION_DECODER_DEFAULTS)
    shape = tuple(enc["image_shape"])
    if len(shape) != 3:
        raise ValueError(f"model_config.encoder.image_shape must be (height, width, channels), got {shape}")
    height, width, channels = shape  # perceiver-io takes images channels-last, we channels-first
    num_input_channels = channels + 2 * (2 * enc["num_frequency_bands"] + 1)
    encoder = ImageEncoderConfig(
        image_shape=(channels, height, width),
        position_encoding="fourier",
        num_frequency_bands=enc["num_frequency_bands"],
        **_encoder_kwargs(enc, num_input_channels, common["num_latent_channels"]),
    )
    # perceiver-io's image classifier decodes with one query, whatever num_output_queries says
    return ImageClassifierConfig(encoder=encoder, decoder=_classification_decoder(dec, 1), **common)


def _optical_flow_config(model_config: Mapping[str, Any]) -> ConfigBase:
    from perceiver.model.vision.optical_flow import (
        OpticalFlowConfig,
        OpticalFlowDecoderConfig,
        OpticalFlowEncoderConfig,
    )

    enc, dec, common = _io_fields(model_config, _FLOW_ENCODER_DEFAULTS, _FLOW_DECODER_DEFAULTS)
    image_shape = tuple(enc["image_shape"])
    if tuple(dec["image_shape"]) != image_shape:
        raise ValueError(
            f"model_config.decoder.image_shape {tuple(dec['image_shape'])} must equal "
            f"model_config.encoder.image_shape {image_shape}"
        )
    num_input_channels = enc["num_patch_hidden_channels"] + 2 * (2 * enc["num_frequency_bands"] + 1)
    encoder = OpticalFlowEncoderConfig(
        image_shape=image_shape,
        num_patch_input_channels=enc["num_patch_input_channels"],
        num_patch_hidden_channels=enc["num_patch_hidden_channels"],
        num_frequency_bands=enc["num_frequency_bands"],
        **_encoder_kwargs(enc, num_input_channels, common["num_latent_channels"]),
    )
    decoder = OpticalFlowDecoderConfig(
        rescale_factor=dec["rescale_factor"], **_decoder_kwargs(dec, num_input_channels)
    )
    return OpticalFlowConfig(encoder=encoder, decoder=decoder, **common)


def _causal_fields(model_config: Mapping[str, Any]) -> dict[str, Any]:
    cfg = _fields("model_config", model_config, _CAUSAL_SEQUENCE_DEFAULTS)
    num_heads, num_channels = cfg["num_heads"], cfg["num_channels"]
    if num_heads <= 0 or num_channels % num_heads:
        raise ValueError(f"model_config: num_heads ({num_heads}) must divide num_channels ({num_channels})")
    head_dim = num_channels // num_heads
    # perceiver-io rotates 2 * ceil(n / 2) channels at frequencies scaled by n, for n = head_dim
    # (half of it with abs_pos_emb), as our rotary_channels does where the head has room
    if not cfg["abs_pos_emb"] and head_dim % 2:
        raise ValueError(
            f"model_config: num_channels / num_heads = {head_dim} channels per head, an odd number, "
            "with abs_pos_emb=false: perceiver-io's rotary embedding would rotate "
            f"{head_dim + 1} channels of {head_dim} and cannot run such a model; not supported"
        )
    if cfg["abs_pos_emb"] and head_dim == 1:
        raise ValueError(
            "model_config: num_channels / num_heads = 1 channel per head, of which perceiver-io's "
            "rotary embedding rotates none; not supported"
        )
    fields = {k: v for k, v in cfg.items() if k not in _COMPUTE_ONLY}
    return {**fields, "latent_kv_norm": "q"}


def _clm_config(model_config: Mapping[str, Any]) -> ConfigBase:
    from perceiver.model.text.clm import CausalLanguageModelConfig

    return CausalLanguageModelConfig(**_causal_fields(model_config))


def _symbolic_audio_config(model_config: Mapping[str, Any]) -> ConfigBase:
    from perceiver.model.audio.symbolic import SymbolicAudioModelConfig

    return SymbolicAudioModelConfig(**_causal_fields(model_config))


_CONFIGS: dict[str, Callable[[Mapping[str, Any]], ConfigBase]] = {
    "text.mlm": _mlm_config,
    "text.classifier": _text_classifier_config,
    "text.clm": _clm_config,
    "audio.symbolic": _symbolic_audio_config,
    "vision.image_classifier": _image_classifier_config,
    "vision.optical_flow": _optical_flow_config,
}


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def legacy_config(task: str, model_config: Mapping[str, Any]) -> ConfigBase:
    """Our config of ``task`` for a perceiver-io 0.11 backend config (its dataclasses as a dict).

    Raises:
        ValueError: naming an unknown task, an unknown or missing field, or a value our models
            cannot reproduce.
    """
    _check_task(task)
    return _CONFIGS[task](model_config)


# ---------------------------------------------------------------------------------------------
# parameter names
# ---------------------------------------------------------------------------------------------

_W = r"(?:weight|bias)"
_ATTN = rf"(?:q_norm\.{_W}|kv_norm\.{_W}|norm\.{_W}|attention\.[qkvo]_proj\.{_W})"
_MLP = rf"(?:[013]\.{_W})"

Rule = tuple[str, str]  # (regex of a perceiver-io key, replacement: our key)


def _cross_attention_layer(src: str, dst: str) -> list[Rule]:
    # with the query residual the attention sits at "0.module.", without it at "0."
    return [
        (rf"{src}\.0\.(?:module\.)?({_ATTN})", rf"{dst}.cross_attn.\1"),
        (rf"{src}\.1\.module\.({_MLP})", rf"{dst}.mlp.\1"),
    ]


def _self_attention_block(src: str, dst: str) -> list[Rule]:
    return [
        (rf"{src}\.(\d+)\.0\.module\.({_ATTN})", rf"{dst}.\1.self_attn.\2"),
        (rf"{src}\.(\d+)\.1\.module\.({_MLP})", rf"{dst}.\1.mlp.\2"),
    ]


def _encoder(adapter: list[Rule]) -> list[Rule]:
    return [
        (r"0\.latent_provider\._query", "encoder.latent_provider._queries"),
        *adapter,
        *_cross_attention_layer(r"0\.cross_attn_1", "encoder.cross_attn_1"),
        *_cross_attention_layer(r"0\.cross_attn_n", "encoder.cross_attn_n"),
        *_self_attention_block(r"0\.self_attn_1", "encoder.self_attn_1"),
        *_self_attention_block(r"0\.self_attn_n", "encoder.self_attn_n"),
    ]


_TEXT_ADAPTER = [
    (r"0\.input_adapter\.txt_embedding\.weight", "encoder.input_adapter.txt_embedding.weight"),
    (r"0\.input_adapter\.pos_embedding\.weight", "encoder.input_adapter.pos_embedding.position_embedding"),
]
_DECODER_LAYER = _cross_attention_layer(r"1\.cross_attn", "decoder.cross_attn")
_CLASSIFIER_DECODER = [
    (r"1\.output_query_provider\._query", "decoder.output_query_provider._queries"),
    (rf"1\.output_adapter\.linear\.({_W})", r"decoder.output_adapter.linear.\1"),
    *_DECODER_LAYER,
]
_CAUSAL = [
    (r"input_adapter\.txt_embedding\.weight", "perceiver_ar.input_adapter.txt_embedding.weight"),
    (r"input_adapter\.pos_embedding\.weight", "perceiver_ar.input_adapter.pos_embedding.position_embedding"),
    *_cross_attention_layer(r"cross_attention", "perceiver_ar.cross_attn"),
    *_self_attention_block(r"self_attention", "perceiver_ar.self_attn"),
    (rf"out_norm\.({_W})", r"out_norm.\1"),
    (r"output_adapter\.bias", "output_adapter.bias"),
]

_RULES: dict[str, list[Rule]] = {
    "text.mlm": [
        *_encoder(_TEXT_ADAPTER),
        (
            r"1\.output_query_provider\._query",
            "decoder.output_query_provider.position_encoding.position_embedding",
        ),
        (r"1\.output_adapter\.bias", "decoder.output_adapter.bias"),
        *_DECODER_LAYER,
    ],
    "text.classifier": [*_encoder(_TEXT_ADAPTER), *_CLASSIFIER_DECODER],
    "text.clm": _CAUSAL,
    "audio.symbolic": _CAUSAL,
    "vision.image_classifier": [*_encoder([]), *_CLASSIFIER_DECODER],
    "vision.optical_flow": [
        *_encoder([(rf"0\.input_adapter\.linear\.({_W})", r"encoder.input_adapter.linear.\1")]),
        (rf"1\.output_adapter\.linear\.({_W})", r"decoder.output_adapter.linear.\1"),
        *_DECODER_LAYER,
    ],
}

# buffers perceiver-io saved that our models recompute from the config
_DERIVED: dict[str, tuple[str, ...]] = {
    "text.clm": (r"input_adapter\.frq_pos_encoding\.inv_freq",),
    "audio.symbolic": (r"input_adapter\.frq_pos_encoding\.inv_freq",),
    "vision.image_classifier": (r"0\.input_adapter\.position_encoding\.position_encoding",),
    "vision.optical_flow": (r"0\.input_adapter\.position_encoding\.position_encoding",),
}

# our biases that perceiver-io's Perceiver AR layers do not have (a bias of zeros is no bias):
# the cross-attention's q, k, v projections and MLP, the self-attention's projections and MLPs
_ZERO_BIASES = (
    r"perceiver_ar\.cross_attn\.cross_attn\.attention\.[qkv]_proj",
    r"perceiver_ar\.cross_attn\.mlp\.[13]",
    r"perceiver_ar\.self_attn\.\d+\.self_attn\.attention\.[qkvo]_proj",
    r"perceiver_ar\.self_attn\.\d+\.mlp\.[13]",
)


def legacy_state_dict(task: str, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our backend state dict of ``task`` for a perceiver-io 0.11 backend state dict.

    ``state``'s keys are perceiver-io's backend keys, without the ``backend_model.`` prefix
    of its 🤗 and Lightning wrappers.

    Raises:
        ValueError: naming keys no table maps, or two keys mapped onto one.
    """
    _check_task(task)
    rules = [(re.compile(pattern), replacement) for pattern, replacement in _RULES[task]]
    derived = [re.compile(pattern) for pattern in _DERIVED.get(task, ())]
    converted: dict[str, torch.Tensor] = {}
    unmapped = []
    for key, value in state.items():
        if any(p.fullmatch(key) for p in derived):
            continue
        for pattern, replacement in rules:
            match = pattern.fullmatch(key)
            if match:
                new_key = match.expand(replacement)
                if new_key in converted:
                    raise ValueError(f"two perceiver-io keys map onto {new_key!r} (the second is {key!r})")
                converted[new_key] = value
                break
        else:
            unmapped.append(key)
    if unmapped:
        raise ValueError(f"perceiver-io {task} parameters without a mapping: {sorted(unmapped)}")
    if task in ("text.clm", "audio.symbolic"):
        _add_zero_biases(converted)
    return converted


def _add_zero_biases(state: dict[str, torch.Tensor]) -> None:
    layers = [re.compile(pattern) for pattern in _ZERO_BIASES]
    for key in list(state):
        layer = key.removesuffix(".weight")
        if layer != key and any(p.fullmatch(layer) for p in layers):
            bias = f"{layer}.bias"
            if bias in state:
                raise ValueError(f"perceiver-io's Perceiver AR has no {bias!r}, but the state holds one")
            weight = state[key]
            state[bias] = torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device)
