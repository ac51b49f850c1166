"""Builders that wire :class:`PerceiverEncoder` / :class:`PerceiverDecoder` from task configs.

A cross-attention without explicit qk channels (``num_cross_attention_qk_channels=None``)
projects queries and keys to the channels that ``qk_channels_default`` names, the task config's
``cross_attention_qk_channels_default``: "queries" (the query input's channels, the text models)
or "keys" (the key/value input's channels, as ``cross_attention_shape_for_attention="kv"`` in
DeepMind's official vision, optical-flow and multimodal models). Values default to the qk
channels, the output to the query channels. ``config.freeze`` excludes the built encoder's or
decoder's parameters from training.
"""

from __future__ import annotations

from torch import nn

from perceiver.model.core.adapter import InputAdapter, OutputAdapter, QueryProvider
from perceiver.model.core.config import DecoderConfig, EncoderConfig, cross_attention_qk_channels
from perceiver.model.core.perceiver_io import PerceiverDecoder, PerceiverEncoder

__all__ = ["build_decoder", "build_encoder", "freeze"]


def build_encoder(
    config: EncoderConfig,
    *,
    input_adapter: InputAdapter,
    num_latents: int,
    num_latent_channels: int,
    activation_checkpointing: bool = False,
    qk_channels_default: str = "queries",
) -> PerceiverEncoder:
    kwargs = config.base_kwargs()
    kwargs["num_cross_attention_qk_channels"] = cross_attention_qk_channels(
        config.num_cross_attention_qk_channels,
        qk_channels_default,
        num_query_channels=num_latent_channels,
        num_kv_channels=input_adapter.num_input_channels,
    )
    encoder = PerceiverEncoder(
        input_adapter=input_adapter,
        num_latents=num_latents,
        num_latent_channels=num_latent_channels,
        activation_checkpointing=activation_checkpointing,
        **kwargs,
    )
    if config.freeze:
        freeze(encoder)
    return encoder


def build_decoder(
    config: DecoderConfig,
    *,
    output_adapter: OutputAdapter,
    output_query_provider: QueryProvider,
    num_latent_channels: int,
    activation_checkpointing: bool = False,
    output_chunk_size: int | None = None,
    qk_channels_default: str = "queries",
) -> PerceiverDecoder:
    kwargs = config.base_kwargs()
    kwargs["num_cross_attention_qk_channels"] = cross_attention_qk_channels(
        config.num_cross_attention_qk_channels,
        qk_channels_default,
        num_query_channels=output_query_provider.num_query_channels,
        num_kv_channels=num_latent_channels,
    )
    decoder = PerceiverDecoder(
        output_adapter=output_adapter,
        output_query_provider=output_query_provider,
        num_latent_channels=num_latent_channels,
        activation_checkpointing=activation_checkpointing,
        output_chunk_size=output_chunk_size,
        **kwargs,
    )
    if config.freeze:
        freeze(decoder)
    return decoder


def freeze(module: nn.Module) -> None:
    """Exclude ``module``'s parameters from training."""
    module.requires_grad_(False)
