"""Perceiver AR semantics: causality, left padding, the KV cache, prefix dropout, checkpointing."""

import pytest
import torch
from torch.testing import assert_close

from perceiver.model.core import CausalSequenceModel

VOCAB, MAX_SEQ_LEN, MAX_LATENTS = 50, 24, 8


def model(**kwargs) -> CausalSequenceModel:
    defaults = dict(
        vocab_size=VOCAB,
        max_seq_len=MAX_SEQ_LEN,
        max_latents=MAX_LATENTS,
        num_channels=32,
        num_heads=4,
        num_self_attention_layers=2,
        cross_attention_dropout=0.5,
    )
    return CausalSequenceModel(**(defaults | kwargs)).eval()


@pytest.mark.parametrize("abs_pos_emb", [True, False])
def test_logits_at_position_t_do_not_see_later_tokens(abs_pos_emb):
    m = model(abs_pos_emb=abs_pos_emb)
    x = torch.randint(0, VOCAB, (2, 20))
    logits = m(x, prefix_len=12)
    for t in range(8):
        changed = x.clone()
        changed[:, 12 + t + 1 :] = torch.randint(0, VOCAB, (2, 20 - 12 - t - 1))
        assert_close(m(changed, prefix_len=12)[:, : t + 1], logits[:, : t + 1], atol=1e-5, rtol=1e-5)


def test_pad_mask_without_padding_leaves_causal_masking_to_sdpa(monkeypatch):
    import perceiver.model.core.attention as attention

    calls = []
    sdpa = attention.F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, is_causal=False, **kwargs):
        calls.append((q.shape[-2], k.shape[-2], attn_mask, is_causal))
        return sdpa(q, k, v, attn_mask=attn_mask, is_causal=is_causal, **kwargs)

    m = model().train()  # with prefix dropout
    x = torch.randint(0, VOCAB, (2, 20))
    torch.manual_seed(1)
    expected = m(x, prefix_len=12)
    monkeypatch.setattr(attention.F, "scaled_dot_product_attention", spy)
    torch.manual_seed(1)
    assert torch.equal(m(x, prefix_len=12, pad_mask=torch.zeros(2, 20, dtype=torch.bool)), expected)
    cross, *self_attention = calls
    assert all(mask is None and is_causal for _, _, mask, is_causal in self_attention)
    assert cross[:2] == (8, 6 + 8) and not cross[3]  # latents = the last keys: a bottom-right mask on the CPU


def test_left_padded_sequence_gives_the_logits_of_the_unpadded_one():
    m = model()
    x = torch.randint(0, VOCAB, (1, 14))
    expected = m(x, prefix_len=6)
    padded = torch.cat([torch.zeros(1, 5, dtype=torch.long), x], dim=1)
    pad_mask = torch.zeros(1, 19, dtype=torch.bool)
    pad_mask[:, :5] = True
    assert_close(m(padded, prefix_len=11, pad_mask=pad_mask), expected, atol=1e-5, rtol=1e-5)


def test_batch_of_different_lengths_matches_each_sequence_alone():
    m = model()
    a, b = torch.randint(0, VOCAB, (1, 16)), torch.randint(0, VOCAB, (1, 11))
    batch = torch.cat([a, torch.cat([torch.zeros(1, 5, dtype=torch.long), b], dim=1)])
    pad_mask = torch.zeros(2, 16, dtype=torch.bool)
    pad_mask[1, :5] = True
    logits = m(batch, prefix_len=10, pad_mask=pad_mask)
    assert_close(logits[:1], m(a, prefix_len=10), atol=1e-5, rtol=1e-5)
    assert_close(logits[1:], m(b, prefix_len=5), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("abs_pos_emb", [True, False])
def test_incremental_decoding_with_cache_equals_full_forward(abs_pos_emb):
    m = model(abs_pos_emb=abs_pos_emb)
    x = torch.randint(0, VOCAB, (2, 20))
    pad_mask = torch.zeros(2, 20, dtype=torch.bool)
    pad_mask[1, :4] = True
    full = m(x, prefix_len=12, pad_mask=pad_mask)  # latents at positions 12..19

    cache = m.create_cache()
    with torch.no_grad():
        steps = [m(x[:, :15], prefix_len=12, pad_mask=pad_mask[:, :15], kv_cache=cache)]
        for t in range(15, 20):
            steps.append(m(x[:, t : t + 1], prefix_len=0, kv_cache=cache))
    assert cache.length == 20 and cache.num_latents == 8
    assert_close(torch.cat(steps, dim=1), full, atol=1e-4, rtol=1e-4)


def test_cache_limits_are_enforced():
    m = model()
    cache = m.create_cache()
    m(torch.randint(0, VOCAB, (1, 12)), prefix_len=4, kv_cache=cache)  # 8 latents: full
    with pytest.raises(ValueError, match="exceed max_latents"):
        m(torch.randint(0, VOCAB, (1, 1)), prefix_len=0, kv_cache=cache)
    with pytest.raises(ValueError, match="prefix_len must be 0"):
        m(torch.randint(0, VOCAB, (1, 1)), prefix_len=1, kv_cache=cache)


def test_prefix_dropout_only_in_training():
    m = model()
    x = torch.randint(0, VOCAB, (2, 20))
    assert_close(m(x, prefix_len=12), m(x, prefix_len=12))
    m.train()
    torch.manual_seed(1)
    first = m(x, prefix_len=12)
    torch.manual_seed(2)
    assert not torch.allclose(first, m(x, prefix_len=12))


def test_prefix_dropout_hides_half_of_the_prefix_from_each_sequence():
    # under one seed the same prefix tokens are dropped: changing a dropped token changes
    # nothing, changing a kept one changes the logits; 12 prefix tokens keep 6 per sequence
    m = model().train()
    x = torch.randint(0, VOCAB - 1, (2, 20))

    def logits(tokens):
        torch.manual_seed(0)
        return m(tokens, prefix_len=12)

    reference = logits(x)
    seen = torch.zeros(2, 12, dtype=torch.bool)
    for i in range(12):
        changed = x.clone()
        changed[:, i] += 1
        seen[:, i] = (logits(changed) - reference).flatten(1).abs().amax(dim=1) > 0
    assert seen.sum(dim=1).tolist() == [6, 6]
    changed = x.clone()
    changed[:, 12:] += 1  # latents always count
    assert ((logits(changed) - reference).flatten(1).abs().amax(dim=1) > 0).all()


def test_activation_checkpointing_gives_the_same_outputs_and_gradients():
    plain = model(cross_attention_dropout=0.0)
    checkpointed = model(cross_attention_dropout=0.0, activation_checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randint(0, VOCAB, (2, 20))
    results = []
    for m in (plain, checkpointed):
        m.train()
        out = m(x, prefix_len=12)
        out.square().mean().backward()
        results.append((out.detach(), [p.grad.clone() for p in m.parameters()]))
    assert_close(results[0][0], results[1][0])
    for g1, g2 in zip(results[0][1], results[1][1]):
        assert_close(g1, g2, atol=1e-6, rtol=1e-5)
    with torch.no_grad():  # and in eval
        assert_close(plain.eval()(x, prefix_len=12), checkpointed.eval()(x, prefix_len=12))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m(torch.tensor([[1, VOCAB]]), prefix_len=1), f"token id {VOCAB}, outside the vocabulary"),
        (lambda m: m(torch.tensor([[-1, 2]]), prefix_len=1), "token id -1"),
        (
            lambda m: m(torch.zeros(1, MAX_SEQ_LEN + 1, dtype=torch.long), prefix_len=20),
            "exceeds max_seq_len",
        ),
        (
            lambda m: m(torch.zeros(1, 10, dtype=torch.long), prefix_len=10),
            r"prefix_len must be in \[0, 10\)",
        ),
        (lambda m: m(torch.zeros(1, 10, dtype=torch.long), prefix_len=1), "more than max_latents"),
        (
            lambda m: m(
                torch.zeros(1, 10, dtype=torch.long),
                prefix_len=4,
                pad_mask=torch.zeros(1, 9, dtype=torch.bool),
            ),
            r"pad_mask has shape \(1, 9\), expected \(1, 10\)",
        ),
        (lambda m: m(torch.zeros(1, 10), prefix_len=4), "integer token ids"),
    ],
)
def test_bad_input_raises_a_named_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(model())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_heads=5), r"num_heads \(5\) must divide num_channels \(32\)"),
        (dict(max_latents=30), r"max_latents \(30\) must not exceed max_seq_len \(24\)"),
        (dict(vocab_size=0), "vocab_size must be positive, got 0"),
        (dict(cross_attention_dropout=1.0), "cross_attention_dropout"),
    ],
)
def test_invalid_model_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        model(**kwargs)


def test_runs_under_torch_compile():
    m = model()
    x = torch.randint(0, VOCAB, (2, 20))
    compiled = torch.compile(m, dynamic=False)
    with torch.no_grad():
        assert_close(compiled(x, prefix_len=12), m(x, prefix_len=12), atol=1e-4, rtol=1e-4)


@pytest.mark.gpu
def test_bf16_autocast_training_step_on_cuda():
    m = model().cuda().train()
    x = torch.randint(0, VOCAB, (2, 20), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = m(x, prefix_len=12)
    logits.float().logsumexp(-1).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


@pytest.mark.gpu
def test_bf16_training_step_runs_flash_attention_on_cuda():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    m = model().cuda().train()
    x = torch.randint(0, VOCAB, (2, 20), device="cuda")
    # latent self-attention (queries = keys) and the cross-attention (latents = last keys)
    with torch.autocast("cuda", dtype=torch.bfloat16), sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        logits = m(x, prefix_len=12)
        logits.float().logsumexp(-1).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
