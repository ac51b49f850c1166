"""Fused attention (SDPA) against the eager oracle, masks, rotary embedding and the KV cache."""

import pytest
import torch
from torch.testing import assert_close

from perceiver.model.core import KVCache, MultiHeadAttention, RotaryPositionEmbedding
from perceiver.model.core.attention import eager_attention_reference
from perceiver.model.core.masks import attend_mask
from perceiver.model.core.position import FrequencyPositionEncoding, rotary_channels


def mha(**kwargs) -> MultiHeadAttention:
    defaults = dict(num_heads=4, num_q_input_channels=16, num_kv_input_channels=24, num_qk_channels=32)
    return MultiHeadAttention(**(defaults | kwargs)).eval()


def rotary(positions: torch.Tensor, dim: int = 4) -> RotaryPositionEmbedding:
    return RotaryPositionEmbedding(FrequencyPositionEncoding(dim)(positions))


def both(module, *args, **kwargs):
    fused = module(*args, **kwargs)
    with eager_attention_reference():
        eager = module(*args, **kwargs)
    return fused, eager


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("rotated", [False, True])
def test_fused_attention_equals_eager_reference(causal, padded, rotated):
    attn = mha(causal_attention=causal, num_kv_input_channels=16)
    x_kv = torch.randn(3, 10, 16)
    x_q = x_kv[:, -4:]  # queries are the last keys: bottom-right causal alignment
    pad_mask = torch.zeros(3, 10, dtype=torch.bool)
    pad_mask[1, :3] = True
    pos = torch.arange(10).expand(3, -1)
    kwargs = dict(pad_mask=pad_mask if padded else None)
    if rotated:
        kwargs |= dict(rot_pos_emb_q=rotary(pos[:, -4:]), rot_pos_emb_k=rotary(pos))
    fused, eager = both(attn, x_q, x_kv, **kwargs)
    assert_close(fused, eager, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("num_queries", [10, 4])
def test_causal_mask_without_padding_is_left_to_sdpa(monkeypatch, num_queries):
    import perceiver.model.core.attention as attention

    calls = []
    sdpa = attention.F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, is_causal=False, **kwargs):
        calls.append((attn_mask, is_causal))
        return sdpa(q, k, v, attn_mask=attn_mask, is_causal=is_causal, **kwargs)

    monkeypatch.setattr(attention.F, "scaled_dot_product_attention", spy)
    attn = mha(causal_attention=True, num_kv_input_channels=16).train()
    x_kv = torch.randn(3, 10, 16, requires_grad=True)
    x_q = x_kv[:, -num_queries:]
    fused, eager = both(attn, x_q, x_kv)
    assert_close(fused, eager, atol=1e-5, rtol=1e-5)
    (g_fused,) = torch.autograd.grad(fused.square().sum(), x_kv)
    (g_eager,) = torch.autograd.grad(eager.square().sum(), x_kv)
    assert_close(g_fused, g_eager, atol=1e-5, rtol=1e-5)
    ((mask, is_causal),) = calls
    if num_queries == 10:  # queries are the keys: SDPA's own (top-left) causal mask is the same
        assert mask is None and is_causal
    else:  # on CPU the bottom-right mask is materialized for the queries that are the last keys
        assert not is_causal and torch.equal(mask, attend_mask(None, num_queries, 10, causal=True))


def test_causal_mask_is_aligned_bottom_right():
    mask = attend_mask(None, num_queries=2, num_keys=5, causal=True)
    expected = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(mask[0, 0], expected)
    # a single query that is the last key sees every key: no mask needed at all
    assert attend_mask(None, num_queries=1, num_keys=5, causal=True) is None


def test_query_without_visible_keys_gives_zeros_not_nan():
    attn = mha(causal_attention=True, num_kv_input_channels=16)
    x = torch.randn(2, 6, 16)
    pad_mask = torch.zeros(2, 6, dtype=torch.bool)
    pad_mask[0, :3] = True  # left padding: queries 0..2 of sequence 0 see only padding
    fused, eager = both(attn, x, x, pad_mask=pad_mask)
    assert torch.isfinite(fused).all()
    expected_blind = attn.o_proj.bias.expand(3, -1)  # zero attention output -> bias of o_proj
    assert_close(fused[0, :3], expected_blind)
    assert_close(fused, eager, atol=1e-5, rtol=1e-5)


def test_causal_queries_before_the_first_key_give_zeros_without_padding():
    # more queries than keys: bottom-right alignment leaves the first n - m queries no key
    attn = mha(causal_attention=True, num_kv_input_channels=16)
    x_q, x_kv = torch.randn(2, 6, 16), torch.randn(2, 4, 16)
    fused, eager = both(attn, x_q, x_kv)
    assert_close(fused[:, :2], attn.o_proj.bias.expand(2, 2, -1))
    assert_close(fused, eager, atol=1e-5, rtol=1e-5)


def test_batch_one_queries_broadcast_like_repeated_queries():
    attn = mha()
    latents = torch.randn(1, 5, 16)
    x_kv = torch.randn(3, 7, 24)
    assert_close(attn(latents, x_kv), attn(latents.expand(3, -1, -1).contiguous(), x_kv))


def test_attention_dropout_only_in_training():
    attn = mha(dropout=0.5)
    x_q, x_kv = torch.randn(2, 5, 16), torch.randn(2, 7, 24)
    assert_close(attn(x_q, x_kv), attn(x_q, x_kv))
    attn.train()
    assert not torch.allclose(attn(x_q, x_kv), attn(x_q, x_kv))


@pytest.mark.parametrize("rotated", [False, True])
def test_incremental_decoding_with_cache_equals_full_attention(rotated):
    attn = mha(causal_attention=True, num_kv_input_channels=16)
    x = torch.randn(2, 9, 16)
    pos = torch.arange(9).expand(2, -1)
    rot = (lambda p: rotary(p)) if rotated else (lambda p: None)
    full = attn(x, x, rot_pos_emb_q=rot(pos), rot_pos_emb_k=rot(pos))

    cache = KVCache(capacity=16)
    steps = [
        attn(x[:, :5], x[:, :5], rot_pos_emb_q=rot(pos[:, :5]), rot_pos_emb_k=rot(pos[:, :5]), kv_cache=cache)
    ]
    buffer = cache._k.data_ptr()
    for t in range(5, 9):
        p = pos[:, t : t + 1]
        steps.append(
            attn(x[:, t : t + 1], x[:, t : t + 1], rot_pos_emb_q=rot(p), rot_pos_emb_k=rot(p), kv_cache=cache)
        )
        assert cache._k.data_ptr() == buffer  # keys are written in place, never re-allocated
    assert len(cache) == 9
    assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_cache_capacity_and_batch_size_are_checked():
    cache = KVCache(capacity=4)
    k = torch.randn(2, 1, 3, 8)
    cache.append(k, k)
    with pytest.raises(ValueError, match="capacity"):
        cache.append(k, k)
    with pytest.raises(ValueError, match="batch size"):
        cache.append(torch.randn(3, 1, 1, 8), torch.randn(3, 1, 1, 8))
    with pytest.raises(ValueError, match="capacity must be positive"):
        KVCache(0)


def test_cache_pad_mask_across_reuse_and_mixed_appends():
    cache = KVCache(capacity=8)
    k = torch.randn(2, 1, 3, 4)
    padded = torch.tensor([[True, False, False], [False, False, False]])
    assert cache.append(k, k, padded)[2].tolist() == padded.tolist()
    cache.reset()  # the buffer keeps stale padding from the first use
    assert cache.append(k, k)[2] is None  # no padding: no mask at all
    assert cache.append(k[:, :, :1], k[:, :, :1], torch.zeros(2, 1, dtype=torch.bool))[2] is None
    late = torch.tensor([[False], [True]])
    mask = cache.append(k[:, :, :1], k[:, :, :1], late)[2]
    assert mask.tolist() == [[False] * 4 + [False], [False] * 4 + [True]]
    assert cache.append(k[:, :, :1], k[:, :, :1])[2][:, -1].tolist() == [False, False]


def test_rotary_rotates_interleaved_pairs_and_is_relative():
    angles = torch.full((1, 1, 2), torch.pi / 2)  # one pair rotated by 90 degrees
    x = torch.tensor([1.0, 0.0, 5.0])[None, None, None]  # third channel is not rotated
    assert_close(RotaryPositionEmbedding(angles).rotate(x), torch.tensor([0.0, 1.0, 5.0])[None, None, None])

    q, k = torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8)
    pos = torch.arange(6)[None]
    scores = rotary(pos, 8).rotate(q) @ rotary(pos, 8).rotate(k).transpose(-2, -1)
    shifted = rotary(pos + 100, 8).rotate(q) @ rotary(pos + 100, 8).rotate(k).transpose(-2, -1)
    assert_close(scores, shifted, atol=1e-4, rtol=1e-4)


def _rotate_by_stacking(rot: RotaryPositionEmbedding, x: torch.Tensor) -> torch.Tensor:
    """The earlier implementation of ``rotate``: select, negate and stack each pair."""
    x_rot, x_pass = x[..., : rot.dim], x[..., rot.dim :]
    pairs = x_rot.unflatten(-1, (-1, 2))
    rotated_half = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return torch.cat((x_rot * rot.cos + rotated_half * rot.sin, x_pass), dim=-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rotary_equals_the_stacking_implementation_exactly(dtype):
    """Forward and gradients bit for bit (tolerance 0): the swapped pair times (-sin, +sin)
    computes the same products and sums as negating a channel and stacking."""
    torch.manual_seed(0)
    rot = RotaryPositionEmbedding(FrequencyPositionEncoding(6)(torch.arange(5)[None].expand(2, -1)).to(dtype))
    x = torch.randn(2, 3, 5, 8, dtype=dtype, requires_grad=True)
    g = torch.randn(2, 3, 5, 8, dtype=dtype)
    ours = rot.rotate(x)
    (grad,) = torch.autograd.grad(ours, x, g)
    reference = _rotate_by_stacking(rot, x)
    (reference_grad,) = torch.autograd.grad(reference, x, g)
    assert_close(ours, reference, rtol=0, atol=0)
    assert_close(grad, reference_grad, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_heads=3), r"num_heads \(3\) must divide num_qk_channels \(32\)"),
        (dict(num_heads=0), "num_heads must be positive, got 0"),
        (dict(num_qk_channels=-8), "num_qk_channels must be positive, got -8"),
        (dict(dropout=1.5), r"dropout must be in \[0, 1\), got 1.5"),
    ],
)
def test_invalid_attention_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mha(**kwargs)


@pytest.mark.gpu
def test_fused_attention_under_bf16_autocast_on_cuda():
    attn = mha(causal_attention=True, num_kv_input_channels=16).cuda()
    x = torch.randn(2, 64, 16, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        fused, eager = both(attn, x, x)
    assert fused.dtype == torch.bfloat16
    assert_close(fused.float(), eager.float(), atol=2e-2, rtol=2e-2)


@pytest.mark.gpu
@pytest.mark.parametrize("num_queries", [64, 16])
def test_causal_attention_runs_flash_attention_on_cuda(num_queries):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    attn = mha(causal_attention=True, num_kv_input_channels=16).cuda().train()
    x_kv = torch.randn(2, 64, 16, device="cuda", requires_grad=True)
    x_q = x_kv[:, -num_queries:]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):  # fails if an explicit mask were passed
            fused = attn(x_q, x_kv)
            fused.float().square().sum().backward()
        with eager_attention_reference():
            eager = attn(x_q, x_kv)
    assert_close(fused.float(), eager.float(), atol=2e-2, rtol=2e-2)
    assert torch.isfinite(x_kv.grad).all()


@pytest.mark.parametrize(
    ("head_dim", "fraction", "expected"),
    [
        (64, 0.5, (32, 32)),
        (64, 1.0, (64, 64)),
        (6, 0.5, (4, 3)),  # an odd half rounds up to whole pairs, frequencies scaled by 3
        (10, 0.5, (6, 5)),
        (2, 0.5, (2, 1)),
        (7, 1.0, (6, 6)),  # no room for a fourth pair
        (3, 0.5, (2, 1)),
    ],
)
def test_rotary_channels_round_to_whole_pairs(head_dim, fraction, expected):
    assert rotary_channels(head_dim, fraction) == expected


def test_frequencies_are_scaled_by_the_frequency_dim():
    encoding = FrequencyPositionEncoding(4, frequency_dim=3)
    torch.testing.assert_close(encoding.inv_freq, torch.tensor([1.0, 10000.0 ** (-2 / 3)]), rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match="1 channels per head leave no channel pair"):
        rotary_channels(1, 0.5)
