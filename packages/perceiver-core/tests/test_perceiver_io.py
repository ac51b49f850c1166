"""Perceiver IO encoder and decoder composed from adapters."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from perceiver.model.core import (
    ClassificationOutputAdapter,
    FourierPositionEncoding,
    InputAdapter,
    PerceiverDecoder,
    PerceiverEncoder,
    PerceiverIO,
    TrainableQueryProvider,
)
from perceiver.model.core.attention import eager_attention_reference


class SequenceInputAdapter(InputAdapter):
    def __init__(self, num_features: int, seq_len: int):
        positions = FourierPositionEncoding((seq_len,), num_frequency_bands=4)
        super().__init__(num_features + positions.num_position_encoding_channels)
        self.positions = positions

    def forward(self, x):
        return torch.cat([x, self.positions(x.shape[0])[:, : x.shape[1]]], dim=-1)


def perceiver_io(num_classes=3, num_queries=1, **encoder_kwargs) -> PerceiverIO:
    adapter = SequenceInputAdapter(num_features=5, seq_len=12)
    encoder = PerceiverEncoder(
        input_adapter=adapter,
        num_latents=6,
        num_latent_channels=16,
        num_cross_attention_heads=2,
        num_self_attention_heads=2,
        num_self_attention_layers_per_block=2,
        **encoder_kwargs,
    )
    decoder = PerceiverDecoder(
        output_adapter=ClassificationOutputAdapter(num_classes, 8, num_queries),
        output_query_provider=TrainableQueryProvider(num_queries, 8),
        num_latent_channels=16,
        num_cross_attention_heads=2,
    )
    return PerceiverIO(encoder, decoder).eval()


def test_forward_shapes():
    assert perceiver_io()(torch.randn(4, 12, 5)).shape == (4, 3)
    assert perceiver_io(num_queries=7)(torch.randn(4, 12, 5)).shape == (4, 7, 3)


def test_padding_with_pad_mask_does_not_change_the_result():
    model = perceiver_io()
    x = torch.randn(2, 9, 5)
    padded = torch.cat([x, torch.randn(2, 3, 5)], dim=1)
    pad_mask = torch.zeros(2, 12, dtype=torch.bool)
    pad_mask[:, 9:] = True
    assert_close(model(padded, pad_mask=pad_mask), model(x), atol=1e-5, rtol=1e-5)


def test_pad_mask_without_padding_runs_attention_unmasked(monkeypatch):
    import perceiver.model.core.attention as attention

    masks = []
    sdpa = attention.F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kwargs):
        masks.append(attn_mask)
        return sdpa(q, k, v, attn_mask=attn_mask, **kwargs)

    model = perceiver_io()
    x = torch.randn(2, 12, 5)
    expected = model(x)
    monkeypatch.setattr(attention.F, "scaled_dot_product_attention", spy)
    assert torch.equal(model(x, pad_mask=torch.zeros(2, 12, dtype=torch.bool)), expected)
    assert masks and all(mask is None for mask in masks)  # no mask: flash attention on CUDA
    masks.clear()
    pad_mask = torch.zeros(2, 12, dtype=torch.bool)
    pad_mask[0, -1] = True
    model(x, pad_mask=pad_mask)
    assert masks[0] is not None  # the cross-attention over the inputs


def test_chunked_decoding_equals_decoding_all_queries_at_once():
    model = perceiver_io(num_queries=10)
    x = torch.randn(2, 12, 5)
    expected = model(x)
    model.decoder.output_chunk_size = 3
    assert_close(model(x), expected)


def test_fused_equals_eager_reference():
    model = perceiver_io(num_cross_attention_layers=2, num_self_attention_blocks=3)
    x = torch.randn(2, 12, 5)
    with eager_attention_reference():
        eager = model(x)
    assert_close(model(x), eager, atol=1e-5, rtol=1e-5)


def test_weight_sharing_of_repeated_cross_attention_and_blocks():
    def count(**kwargs):
        return sum(p.numel() for p in perceiver_io(**kwargs).encoder.parameters())

    one = count()
    cross = sum(p.numel() for p in perceiver_io().encoder.cross_attn_1.parameters())
    block = sum(p.numel() for p in perceiver_io().encoder.self_attn_1.parameters())
    # Perceiver IO style: blocks repeat with shared weights
    assert count(num_self_attention_blocks=3) == one
    # original Perceiver: a second set of cross-attention and block weights for the later ones
    kwargs = dict(
        num_cross_attention_layers=3, num_self_attention_blocks=3, first_self_attention_block_shared=False
    )
    assert count(**kwargs) == one + cross + block
    assert count(**kwargs, first_cross_attention_layer_shared=True) == one + block


def test_encoder_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = perceiver_io()
    checkpointed = perceiver_io(activation_checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 12, 5)
    grads = []
    for model in (plain, checkpointed):
        model.train()
        model(x).sum().backward()
        grads.append([p.grad for p in model.parameters()])
    for g1, g2 in zip(*grads):
        assert_close(g1, g2, atol=1e-6, rtol=1e-5)


def test_bad_configuration_and_input_are_named():
    with pytest.raises(
        ValueError, match=r"num_cross_attention_layers \(2\) must not exceed num_self_attention_blocks \(1\)"
    ):
        perceiver_io(num_cross_attention_layers=2)
    with pytest.raises(ValueError, match=r"pad_mask has shape \(2, 5\), expected \(2, 12\)"):
        perceiver_io()(torch.randn(2, 12, 5), pad_mask=torch.zeros(2, 5, dtype=torch.bool))


def test_fourier_features_layout():
    enc = FourierPositionEncoding((3, 4), num_frequency_bands=2, max_resolution=(6, 8))
    assert enc.num_position_encoding_channels == 2 + 2 * (2 * 2)
    features = enc(1)[0]  # (12, 10)
    coords = features[:, :2]
    assert_close(coords[0], torch.tensor([-1.0, -1.0]))
    assert_close(coords[-1], torch.tensor([1.0, 1.0]))
    # dimension-major frequencies: dim 0 bands [1, 3], dim 1 bands [1, 4]
    freqs = torch.tensor([1.0, 3.0, 1.0, 4.0])
    expected = torch.cat([coords.repeat_interleave(2, dim=1) * freqs], dim=1) * torch.pi
    assert_close(features[:, 2:6], expected.sin(), atol=1e-5, rtol=1e-5)
    assert_close(features[:, 6:], expected.cos(), atol=1e-5, rtol=1e-5)
    assert isinstance(enc, nn.Module) and enc(3).stride(0) == 0  # batch broadcast, no copy


def test_derived_buffers_are_recomputed_after_meta_device_construction():
    from perceiver.model.core import FrequencyPositionEncoding

    for make in (
        lambda: FourierPositionEncoding((4, 5), num_frequency_bands=3),
        lambda: FrequencyPositionEncoding(8),
    ):
        expected = dict(make().named_buffers())
        with torch.device("meta"):
            module = make()
        module = module.to_empty(device="cpu")  # buffers hold garbage now, as in from_pretrained
        module.reset_buffers()
        for name, buffer in module.named_buffers():
            assert_close(buffer, expected[name])
