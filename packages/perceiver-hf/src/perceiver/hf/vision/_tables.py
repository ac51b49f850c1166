"""Key tables and encoder settings shared by the conversions of the vision and multimodal models.

Every official transformers Perceiver (``PerceiverModel`` under ``perceiver.``) has the same
encoder: trainable latents, one cross-attention layer and ``num_self_attends_per_block``
self-attention layers shared by all ``num_blocks`` blocks. The decoders differ only in what
surrounds their single cross-attention layer.
"""

from __future__ import annotations

from typing import Any

from transformers import PerceiverConfig

from perceiver.hf._convert import perceiver_layer_table

__all__ = ["classification_decoder_table", "decoder_table", "encoder_kwargs", "encoder_table"]


def encoder_kwargs(config: PerceiverConfig) -> dict[str, Any]:
    """Keyword arguments of a core ``EncoderConfig`` that a transformers config determines."""
    if not config.use_query_residual:
        raise ValueError("use_query_residual=False in the encoder is not supported")
    # transformers: cross-attention qk channels follow the inputs ("kv", None here means the
    # adapted input's channels, as in core) or the latents ("q"); v channels follow qk
    cross_qk = config.qk_channels or (
        None if config.cross_attention_shape_for_attention == "kv" else config.d_latents
    )
    return dict(
        num_cross_attention_heads=config.num_cross_attention_heads,
        num_cross_attention_qk_channels=cross_qk,
        num_cross_attention_v_channels=config.v_channels or cross_qk,
        cross_attention_widening_factor=config.cross_attention_widening_factor,
        num_self_attention_heads=config.num_self_attention_heads,
        num_self_attention_qk_channels=config.qk_channels,
        num_self_attention_v_channels=config.v_channels or config.qk_channels,
        num_self_attention_layers_per_block=config.num_self_attends_per_block,
        num_self_attention_blocks=config.num_blocks,
        first_self_attention_block_shared=True,
        self_attention_widening_factor=config.self_attention_widening_factor,
        dropout=config.attention_probs_dropout_prob,
        init_scale=config.initializer_range,
    )


def encoder_table(config: PerceiverConfig, prefix: str = "perceiver") -> list[tuple[str, str]]:
    """Latents, cross-attention and (shared) self-attention layers of a ``PerceiverModel``."""
    table = [(f"{prefix}.embeddings.latents", "encoder.latent_provider._queries")]
    table += perceiver_layer_table(
        f"{prefix}.encoder.cross_attention", "encoder.cross_attn_1", cross_attention=True
    )
    for i in range(config.num_self_attends_per_block):
        table += perceiver_layer_table(
            f"{prefix}.encoder.self_attends.{i}", f"encoder.self_attn_1.{i}", cross_attention=False
        )
    return table


def decoder_table(source: str) -> list[tuple[str, str]]:
    """A ``PerceiverBasicDecoder`` at ``source``: its cross-attention and final linear layer."""
    table = perceiver_layer_table(
        f"{source}.decoding_cross_attention", "decoder.cross_attn", cross_attention=True
    )
    table.append((f"{source}.final_layer.", "decoder.output_adapter.linear."))
    return table


def classification_decoder_table() -> list[tuple[str, str]]:
    """``PerceiverClassificationDecoder``: a trainable query, cross-attention, logits layer."""
    source = "perceiver.decoder.decoder"
    table = [
        (f"{source}.output_position_encodings.position_embeddings", "decoder.output_query_provider._queries")
    ]
    return table + decoder_table(source)
