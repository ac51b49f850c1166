"""Perceiver AR generation: the cache changes nothing but speed; sampling; the window schedule."""

import pytest
import torch

from perceiver.model.core import IncrementalDecoder, sample_next_token
from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig

VOCAB = 30


def model(**kwargs) -> CausalLanguageModel:
    defaults = dict(
        vocab_size=VOCAB,
        max_seq_len=20,
        max_latents=6,
        num_channels=32,
        num_heads=4,
        num_self_attention_layers=2,
    )
    return CausalLanguageModel(CausalLanguageModelConfig(**(defaults | kwargs))).eval()


def prompts() -> tuple[torch.Tensor, torch.Tensor]:
    lengths = [9, 4, 1]
    ids = torch.randint(1, VOCAB, (3, 9))
    pad_mask = torch.arange(9)[None] < (9 - torch.tensor(lengths))[:, None]  # left padding
    return ids.masked_fill(pad_mask, 0), pad_mask


@pytest.mark.parametrize("num_latents", [1, 3, 6])
@pytest.mark.parametrize("abs_pos_emb", [True, False])
def test_cached_greedy_generation_equals_uncached_far_beyond_the_window(num_latents, abs_pos_emb):
    m = model(abs_pos_emb=abs_pos_emb)
    ids, pad_mask = prompts()
    cached = m.generate(ids, pad_mask, num_tokens=50, num_latents=num_latents)  # > max_seq_len + max_latents
    uncached = m.generate(ids, pad_mask, num_tokens=50, num_latents=num_latents, use_cache=False)
    assert cached.shape == (3, 59)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached[:, :9], ids)


def _randomize_norms(m: torch.nn.Module) -> None:
    # fresh layer norms are all alike (ones and zeros): make the two norm rules differ
    with torch.no_grad():
        for module in m.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.normal_(1.0, 0.3)
                module.bias.normal_(0.0, 0.3)


@pytest.mark.parametrize("num_latents", [1, 4])
def test_cached_generation_equals_uncached_with_the_query_norm_on_the_latents(num_latents):
    # krasserm/perceiver-io 0.11's rule: a cached step normalizes its new latent with the query
    # norm, as a full pass over the same window does; restarts rebuild the cache
    torch.manual_seed(0)
    m = model(latent_kv_norm="q")
    _randomize_norms(m)
    ids, pad_mask = prompts()
    cached = m.generate(ids, pad_mask, num_tokens=40, num_latents=num_latents)
    uncached = m.generate(ids, pad_mask, num_tokens=40, num_latents=num_latents, use_cache=False)
    assert torch.equal(cached, uncached)

    decoder = IncrementalDecoder(m, num_latents, max_new_tokens=3)
    full = IncrementalDecoder(m, num_latents, max_new_tokens=3, use_cache=False)
    with torch.no_grad():
        torch.testing.assert_close(
            decoder.start(ids, pad_mask), full.start(ids, pad_mask), rtol=1e-5, atol=1e-5
        )
        for token in ([3, 4, 5], [6, 7, 8]):
            t = torch.tensor(token)
            torch.testing.assert_close(decoder.step(t), full.step(t), rtol=1e-5, atol=1e-5)


def test_the_latent_norm_rule_changes_the_logits():
    torch.manual_seed(0)
    kv = model()
    _randomize_norms(kv)
    q = model(latent_kv_norm="q")
    q.load_state_dict(kv.state_dict())
    ids = torch.randint(1, VOCAB, (2, 12))
    with torch.no_grad():
        assert not torch.allclose(kv(ids, prefix_len=6), q(ids, prefix_len=6), atol=1e-3)
        # without a prefix, the latents are the only keys: then too the rules differ
        assert not torch.allclose(kv(ids[:, :4], prefix_len=0), q(ids[:, :4], prefix_len=0), atol=1e-3)


def test_an_unknown_latent_norm_rule_is_named():
    with pytest.raises(ValueError, match="latent_kv_norm"):
        CausalLanguageModelConfig(latent_kv_norm="prefix")


def test_generation_runs_in_inference_mode_and_returns_an_ordinary_tensor():
    m = model().train()
    seen = []
    out = m.generate(torch.randint(1, VOCAB, (2, 5)), num_tokens=4, streamer=seen.append)
    assert all(t.is_inference() for t in seen)  # no autograd bookkeeping while decoding
    assert not out.is_inference() and not out.requires_grad
    out[:, -1] = 0  # the caller may update the result in place
    assert m.training  # the model's mode is restored
    m(out).logsumexp(-1).mean().backward()  # and train on it
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


def test_each_sequence_of_a_batch_generates_what_it_generates_alone():
    m = model()
    ids, pad_mask = prompts()
    batch = m.generate(ids, pad_mask, num_tokens=12, num_latents=2)
    for i in range(3):
        real = ids[i : i + 1, pad_mask[i].logical_not()]
        alone = m.generate(real, num_tokens=12, num_latents=2)
        assert torch.equal(batch[i, -12:], alone[0, -12:])


def test_window_restarts_and_slides_within_max_seq_len():
    m = model()
    decoder = IncrementalDecoder(m, num_latents=2, max_new_tokens=40)
    decoder.start(torch.randint(1, VOCAB, (1, 15)))
    seen = []
    for _ in range(30):
        decoder.step(torch.tensor([1]))
        seen.append((decoder.length - decoder.window_start, decoder.latents))
    assert all(1 <= latents <= m.max_latents for _, latents in seen)
    assert all(window <= m.max_seq_len for window, _ in seen)
    assert max(window for window, _ in seen) == m.max_seq_len  # context is used in full
    restarts = [i for i in range(1, 30) if seen[i][1] < seen[i - 1][1]]
    assert restarts and all(seen[i][1] == 2 for i in restarts)


def test_cache_buffers_are_not_reallocated_between_restarts():
    m = model()
    decoder = IncrementalDecoder(m, num_latents=1, max_new_tokens=30)
    decoder.start(torch.randint(1, VOCAB, (2, 5)))
    decoder.step(torch.tensor([1, 2]))
    pointer = decoder.cache.cross_attention._k.data_ptr()
    for _ in range(25):
        decoder.step(torch.tensor([1, 2]))
    assert decoder.cache.cross_attention._k.data_ptr() == pointer


def test_sampling_is_reproducible_with_a_generator():
    m = model()
    ids, pad_mask = prompts()
    runs = [
        m.generate(
            ids,
            pad_mask,
            num_tokens=15,
            top_k=5,
            top_p=0.9,
            temperature=0.8,
            generator=torch.Generator().manual_seed(7),
        )
        for _ in range(2)
    ]
    assert torch.equal(runs[0], runs[1])
    other = m.generate(ids, pad_mask, num_tokens=15, top_k=5, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(runs[0], other)


def test_top_k_and_top_p_restrict_the_candidates():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]]).expand(500, -1)
    gen = torch.Generator().manual_seed(0)
    assert set(sample_next_token(logits, True, top_k=2, generator=gen).tolist()) == {0, 1}
    probs = logits[0].softmax(-1)  # 0.64, 0.24, 0.09, ...: top_p=0.7 keeps the first two
    assert probs[0] < 0.7 < probs[:2].sum()
    assert set(sample_next_token(logits, True, top_p=0.7, generator=gen).tolist()) == {0, 1}
    assert set(sample_next_token(logits, True, top_p=0.5, generator=gen).tolist()) == {0}
    assert sample_next_token(logits, False).unique().tolist() == [0]


def test_eos_finishes_a_sequence_and_streaming_sees_every_token():
    m = model()
    ids, pad_mask = prompts()
    greedy = m.generate(ids, pad_mask, num_tokens=10)
    eos = int(greedy[0, 9 + 2])  # the third token sequence 0 generates
    streamed = []

    class Streamer:
        ended = False

        def put(self, tokens):
            streamed.append(tokens.clone())

        def end(self):
            self.ended = True

    streamer = Streamer()
    out = m.generate(ids, pad_mask, num_tokens=10, eos_token_id=eos, pad_token_id=0, streamer=streamer)
    assert streamer.ended and torch.equal(torch.stack(streamed, dim=1), out[:, 9:])
    first_eos = (out[0, 9:] == eos).nonzero()[0].item()
    assert (out[0, 9 + first_eos + 1 :] == 0).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_latents=0), r"num_latents must be in \[1, 6\]"),
        (dict(num_latents=7), r"num_latents must be in \[1, 6\]"),
        (dict(top_p=0.0), r"top_p must be in \(0, 1\], got 0.0"),
        (dict(top_p=1.5), r"top_p must be in \(0, 1\], got 1.5"),
        (dict(num_tokens=0), "num_tokens must be at least 1, got 0"),
        (dict(top_k=0), "top_k must be at least 1"),
        (dict(temperature=0.0), "temperature must be positive"),
    ],
)
def test_bad_generation_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        model().generate(torch.randint(1, VOCAB, (1, 5)), **kwargs)


def test_prompt_longer_than_max_seq_len_is_refused():
    with pytest.raises(ValueError, match=r"prompt length 21 exceeds max_seq_len \(20\)"):
        model().generate(torch.randint(1, VOCAB, (1, 21)))
    with pytest.raises(ValueError, match="token id 30"):
        model().generate(torch.tensor([[1, 30]]))


def test_compiled_decoding_equals_eager_decoding():
    # a padded batch, restarts every 4 tokens and sampling; one compilation per padding state of
    # the caches (three here: about 40 s on 2 CPU cores in all)
    m = model()
    ids, pad_mask = prompts()
    eager = IncrementalDecoder(m, num_latents=2, max_new_tokens=30)
    compiled = IncrementalDecoder(m, num_latents=2, max_new_tokens=30, compile=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled.start(ids, pad_mask), eager.start(ids, pad_mask))
        for _ in range(30):  # restarts every 4 tokens (max_latents - num_latents)
            tokens = torch.randint(1, VOCAB, (3,))
            torch.testing.assert_close(compiled.step(tokens), eager.step(tokens), rtol=1e-5, atol=1e-5)
    assert torch.equal(compiled.sequences, eager.sequences)

    g = dict(num_tokens=25, num_latents=3, top_k=5)
    sampled = m.generate(ids, pad_mask, **g, generator=torch.Generator().manual_seed(0), compile=True)
    assert torch.equal(sampled, m.generate(ids, pad_mask, **g, generator=torch.Generator().manual_seed(0)))


def test_compiled_decoding_needs_the_cache():
    with pytest.raises(ValueError, match=r"compile=True .* use_cache=True"):
        model().generate(torch.ones(1, 3, dtype=torch.long), use_cache=False, compile=True)


def test_compiled_decoding_with_a_cpp_wrapper_equals_eager_decoding():
    # inductor options reach the compiled step: the C++ wrapper, one unpadded batch (one graph)
    m = model()
    ids = torch.randint(1, VOCAB, (2, 7))
    options = {"cpp_wrapper": True}
    eager = IncrementalDecoder(m, num_latents=2, max_new_tokens=6)
    compiled = IncrementalDecoder(m, num_latents=2, max_new_tokens=6, compile=True, compile_options=options)
    assert compiled._compiled is not IncrementalDecoder(m, 2, 6, compile=True)._compiled
    with torch.no_grad():
        torch.testing.assert_close(compiled.start(ids), eager.start(ids))
        for _ in range(6):
            tokens = torch.randint(1, VOCAB, (2,))
            torch.testing.assert_close(compiled.step(tokens), eager.step(tokens), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(compile_options={"cpp_wrapper": True}), ValueError, r"compile_options=.* needs compile=True"),
        (dict(compile=True, compile_options={"cpp_wraper": True}), ValueError, r"unknown inductor option\(s\) \['cpp_wraper'\]"),
        (dict(compile_options=["cpp_wrapper"]), TypeError, "compile_options must be a mapping"),
    ],
)  # fmt: skip
def test_bad_compile_options_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        model().generate(torch.ones(1, 3, dtype=torch.long), **kwargs)
