"""Perceiver encoder, Perceiver IO decoder and their composition.

The encoder cross-attends from a latent array (n_lat, c_lat) to the adapted input (b, m, c_in)
and refines the latents with self-attention blocks. With several cross-attention layers and
blocks they are interleaved (the original Perceiver); with one cross-attention layer it is
Perceiver IO. The decoder cross-attends from output queries (b|1, n, c_q) to the latents.
"""

from __future__ import annotations

import torch
from torch import nn

from perceiver.model.core._validation import check_positive_int
from perceiver.model.core.adapter import InputAdapter, OutputAdapter, QueryProvider, TrainableQueryProvider
from perceiver.model.core.layers import CrossAttentionLayer, SelfAttentionBlock, run_layer
from perceiver.model.core.masks import check_pad_mask, effective_pad_mask

__all__ = ["PerceiverDecoder", "PerceiverEncoder", "PerceiverIO"]


class PerceiverEncoder(nn.Module):
    """Input adapter, trainable latents, cross-attention and self-attention blocks.

    Args:
        input_adapter: maps task input to (b, m, c_in).
        num_latents, num_latent_channels: shape of the latent array.
        num_cross_attention_layers: cross-attention layers, interleaved with self-attention blocks.
        first_cross_attention_layer_shared: later cross-attention layers reuse the first one's
            weights (else they share a second set of weights).
        num_self_attention_blocks: applications of a block of ``num_self_attention_layers_per_block``.
        first_self_attention_block_shared: later blocks reuse the first block's weights (else they
            share a second set).
        dropout: attention-probability dropout; residual_dropout: dropout on residual branches.
    """

    def __init__(
        self,
        *,
        input_adapter: InputAdapter,
        num_latents: int,
        num_latent_channels: int,
        num_cross_attention_heads: int = 4,
        num_cross_attention_qk_channels: int | None = None,
        num_cross_attention_v_channels: int | None = None,
        num_cross_attention_layers: int = 1,
        first_cross_attention_layer_shared: bool = False,
        cross_attention_widening_factor: int = 1,
        num_self_attention_heads: int = 4,
        num_self_attention_qk_channels: int | None = None,
        num_self_attention_v_channels: int | None = None,
        num_self_attention_layers_per_block: int = 6,
        num_self_attention_blocks: int = 1,
        first_self_attention_block_shared: bool = True,
        self_attention_widening_factor: int = 1,
        dropout: float = 0.0,
        residual_dropout: float = 0.0,
        init_scale: float | None = 0.02,
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        check_positive_int("num_cross_attention_layers", num_cross_attention_layers)
        check_positive_int("num_self_attention_blocks", num_self_attention_blocks)
        if num_cross_attention_layers > num_self_attention_blocks:
            raise ValueError(
                f"num_cross_attention_layers ({num_cross_attention_layers}) must not exceed "
                f"num_self_attention_blocks ({num_self_attention_blocks})"
            )
        self.input_adapter = input_adapter
        self.latent_provider = TrainableQueryProvider(num_latents, num_latent_channels, init_scale)
        self.num_cross_attention_layers = num_cross_attention_layers
        self.num_self_attention_blocks = num_self_attention_blocks
        self.activation_checkpointing = activation_checkpointing

        def cross_attention_layer() -> CrossAttentionLayer:
            return CrossAttentionLayer(
                num_heads=num_cross_attention_heads,
                num_q_input_channels=num_latent_channels,
                num_kv_input_channels=input_adapter.num_input_channels,
                num_qk_channels=num_cross_attention_qk_channels,
                num_v_channels=num_cross_attention_v_channels,
                widening_factor=cross_attention_widening_factor,
                dropout=dropout,
                residual_dropout=residual_dropout,
            )

        def self_attention_block() -> SelfAttentionBlock:
            return SelfAttentionBlock(
                num_layers=num_self_attention_layers_per_block,
                num_heads=num_self_attention_heads,
                num_channels=num_latent_channels,
                num_qk_channels=num_self_attention_qk_channels,
                num_v_channels=num_self_attention_v_channels,
                widening_factor=self_attention_widening_factor,
                dropout=dropout,
                residual_dropout=residual_dropout,
                activation_checkpointing=activation_checkpointing,
            )

        self.cross_attn_1 = cross_attention_layer()
        self.self_attn_1 = self_attention_block()
        # weights of the later layers and blocks (None: there are none, or they reuse the first)
        self.cross_attn_n = None
        if num_cross_attention_layers > 1 and not first_cross_attention_layer_shared:
            self.cross_attn_n = cross_attention_layer()
        self.self_attn_n = None
        if num_self_attention_blocks > 1 and not first_self_attention_block_shared:
            self.self_attn_n = self_attention_block()

    def encode(self, x_adapted: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Latents (b, n_lat, c_lat) of an already adapted input (b, m, c_in)."""
        b, m, _ = x_adapted.shape
        check_pad_mask(pad_mask, (b, m))
        pad_mask = effective_pad_mask(pad_mask)
        x_latent = self.latent_provider()  # (1, n_lat, c_lat), broadcast over the batch
        checkpointed = self.activation_checkpointing
        for i in range(self.num_self_attention_blocks):
            if i < self.num_cross_attention_layers:
                cross_attn = self.cross_attn_1 if i == 0 or self.cross_attn_n is None else self.cross_attn_n
                x_latent = run_layer(cross_attn, checkpointed, x_latent, x_adapted, pad_mask)
            self_attn = self.self_attn_1 if i == 0 or self.self_attn_n is None else self.self_attn_n
            x_latent = self_attn(x_latent)
        return x_latent

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.encode(self.input_adapter(x), pad_mask)


class PerceiverDecoder(nn.Module):
    """Output queries cross-attend to the latents; an output adapter maps the result.

    Args:
        output_query_provider: makes the output queries from the adapted encoder input.
        cross_attention_residual: add the queries to the attention output.
        output_chunk_size: decode at most this many queries at a time, to bound the memory of
            large output grids (None: all at once). Results are identical either way.
    """

    def __init__(
        self,
        *,
        output_adapter: OutputAdapter,
        output_query_provider: QueryProvider,
        num_latent_channels: int,
        num_cross_attention_heads: int = 4,
        num_cross_attention_qk_channels: int | None = None,
        num_cross_attention_v_channels: int | None = None,
        cross_attention_widening_factor: int = 1,
        cross_attention_residual: bool = True,
        dropout: float = 0.0,
        residual_dropout: float = 0.0,
        init_scale: float | None = 0.02,
        activation_checkpointing: bool = False,
        output_chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        if output_chunk_size is not None:
            check_positive_int("output_chunk_size", output_chunk_size)
        self.output_query_provider = output_query_provider
        self.output_adapter = output_adapter
        self.activation_checkpointing = activation_checkpointing
        self.output_chunk_size = output_chunk_size
        self.init_scale = init_scale
        self.cross_attn = CrossAttentionLayer(
            num_heads=num_cross_attention_heads,
            num_q_input_channels=output_query_provider.num_query_channels,
            num_kv_input_channels=num_latent_channels,
            num_qk_channels=num_cross_attention_qk_channels,
            num_v_channels=num_cross_attention_v_channels,
            widening_factor=cross_attention_widening_factor,
            dropout=dropout,
            residual_dropout=residual_dropout,
            attention_residual=cross_attention_residual,
        )

    def decode(self, x_latent: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """Decode queries (b|1, n, c_q) against latents (b, n_lat, c_lat)."""
        if self.output_chunk_size is None:
            # all at once, without a split (whose chunk count would be a guard on the number of
            # queries when that is a symbolic size, as in torch.export and ONNX export)
            return self._decode_chunk(x_latent, queries)
        chunks = queries.split(self.output_chunk_size, dim=1)
        outputs = [self._decode_chunk(x_latent, x_q) for x_q in chunks]
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)

    def _decode_chunk(self, x_latent: torch.Tensor, x_q: torch.Tensor) -> torch.Tensor:
        return self.output_adapter(run_layer(self.cross_attn, self.activation_checkpointing, x_q, x_latent))

    def forward(self, x_latent: torch.Tensor, x_adapted: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(x_latent, self.output_query_provider(x_adapted))


class PerceiverIO(nn.Module):
    """Encoder and decoder; the decoder's query provider sees the adapted input."""

    def __init__(self, encoder: PerceiverEncoder, decoder: PerceiverDecoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        x_adapted = self.encoder.input_adapter(x)
        x_latent = self.encoder.encode(x_adapted, pad_mask)
        return self.decoder(x_latent, x_adapted)
