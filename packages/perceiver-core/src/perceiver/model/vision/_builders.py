"""Builders that wire :class:`PerceiverEncoder` / :class:`PerceiverDecoder` from task configs.

They apply the channel defaults of DeepMind's official Perceiver IO models (as implemented in
transformers): a cross-attention without explicit qk/v channels projects queries and keys to the
channel count of its key/value input (``cross_attention_shape_for_attention="kv"``), values to
the qk channels, and the output back to the query channels.
"""

from __future__ import annotations

from torch import nn

from perceiver.model.core import (
    DecoderConfig,
    EncoderConfig,
    InputAdapter,
    OutputAdapter,
    PerceiverDecoder,
    PerceiverEncoder,
    QueryProvider,
)

__all__ = ["build_decoder", "build_encoder", "freeze"]


def build_encoder(
    config: EncoderConfig,
    *,
    input_adapter: InputAdapter,
    num_latents: int,
    num_latent_channels: int,
    activation_checkpointing: bool = False,
) -> PerceiverEncoder:
    kwargs = config.base_kwargs()
    if kwargs["num_cross_attention_qk_channels"] is None:
        kwargs["num_cross_attention_qk_channels"] = input_adapter.num_input_channels
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
) -> PerceiverDecoder:
    kwargs = config.base_kwargs()
    if kwargs["num_cross_attention_qk_channels"] is None:
        kwargs["num_cross_attention_qk_channels"] = num_latent_channels
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
