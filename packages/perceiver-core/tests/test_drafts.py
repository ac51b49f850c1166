"""Verified drafts (``generate(quantize="int8", draft_tokens=k)``): float32's greedy tokens, with
the int8 copy drafting; the decoder's multi-token pass and dropping of rejected tokens."""

import pytest
import torch

from perceiver.model.core import IncrementalDecoder, generation
from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig

VOCAB = 30


def model(seed: int = 0, **kwargs) -> CausalLanguageModel:
    torch.manual_seed(seed)
    defaults = dict(
        vocab_size=VOCAB,
        max_seq_len=24,
        max_latents=8,
        num_channels=32,
        num_heads=4,
        num_self_attention_layers=2,
        init_scale=0.1,
    )
    return CausalLanguageModel(CausalLanguageModelConfig(**(defaults | kwargs))).eval()


@pytest.fixture
def speculators(monkeypatch):
    """The speculators that generate() makes, to read how many drafts they kept."""
    made = []

    class Recorded(generation.VerifiedDrafts):
        def __init__(self, *args):
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr(generation, "VerifiedDrafts", Recorded)
    return made


@pytest.mark.parametrize(("num_latents", "draft_tokens"), [(1, 1), (3, 4), (2, 6), (8, 4)])
@pytest.mark.parametrize("drafter", ["int8 copy", "unrelated model"])
def test_drafted_decoding_gives_float32_greedy_tokens(
    num_latents, draft_tokens, drafter, speculators, monkeypatch
):
    # 40 tokens after a 10-token prompt: the window restarts (max_latents 8) and slides
    # (max_seq_len 24), and drafts are cut at each restart. A drafter with other weights
    # proposes mostly wrong tokens: the checks, not the drafts, decide the tokens
    if drafter == "unrelated model":
        monkeypatch.setattr(generation, "quantized_for_decoding", lambda m, mode, argument: model(seed=99))
    for seed in range(2):
        m = model(seed)
        prompt = torch.randint(0, VOCAB, (3, 10), generator=torch.Generator().manual_seed(seed))
        reference = m.generate(prompt, num_tokens=40, num_latents=num_latents)
        drafted = m.generate(
            prompt, num_tokens=40, num_latents=num_latents, quantize="int8", draft_tokens=draft_tokens
        )
        assert torch.equal(drafted, reference)
    kept = sum(s.kept for s in speculators)
    drafted_total = sum(s.drafted for s in speculators)
    if num_latents == 8:  # = max_latents: every step restarts the window, no room for drafts
        assert drafted_total == 0
    elif drafter == "int8 copy":
        assert kept > 0.75 * drafted_total  # int8 drafts: mostly kept
    else:
        assert kept < 0.5 * drafted_total  # most drafts rejected


def test_drafted_decoding_handles_left_padding_and_end_of_sequence(speculators):
    m = model(1)
    prompt = torch.randint(1, VOCAB, (2, 9), generator=torch.Generator().manual_seed(5))
    pad_mask = torch.zeros(2, 9, dtype=torch.bool)
    pad_mask[1, :4] = True
    reference = m.generate(prompt, pad_mask, num_tokens=30, num_latents=2)
    # an end-of-sequence token that the first sequence produces part-way: it is padded from there
    # on while the other goes on, so the padding differs from the kept drafts
    eos = int(reference[0, 9 + 12])
    expected = m.generate(prompt, pad_mask, num_tokens=30, num_latents=2, eos_token_id=eos)
    streamed = []
    drafted = m.generate(
        prompt, pad_mask, num_tokens=30, num_latents=2, eos_token_id=eos, quantize="int8",
        draft_tokens=4, streamer=streamed.append,
    )  # fmt: skip
    assert torch.equal(drafted, expected)
    assert torch.equal(torch.stack(streamed, dim=1), expected[:, 9:])
    assert torch.equal(
        m.generate(prompt, pad_mask, num_tokens=30, num_latents=2, quantize="int8", draft_tokens=4), reference
    )


def test_compiled_drafted_decoding_gives_float32_greedy_tokens(monkeypatch):
    # traced with aot_eager (no code generation): inductor's compilation takes minutes on a busy
    # CPU and is exercised by the benchmark's quantized workload
    torch._dynamo.reset()
    step = torch.compile(generation._cached_step, dynamic=True, backend="aot_eager")
    extend = torch.compile(generation._cached_extend, dynamic=True, backend="aot_eager")
    monkeypatch.setattr(generation, "_compiled_cached_step", lambda options=None: step)
    monkeypatch.setattr(generation, "_compiled_cached_extend", lambda options=None: extend)
    m = model(2)
    prompt = torch.randint(0, VOCAB, (2, 6), generator=torch.Generator().manual_seed(2))
    reference = m.generate(prompt, num_tokens=20, num_latents=2)
    compiled = m.generate(prompt, num_tokens=20, num_latents=2, quantize="int8", draft_tokens=3, compile=True)
    assert torch.equal(compiled, reference)
    torch._dynamo.reset()


def test_extend_equals_single_steps_and_drop_last_forgets_tokens():
    m = model(3)
    prompt = torch.randint(0, VOCAB, (2, 7), generator=torch.Generator().manual_seed(3))
    tokens = torch.randint(0, VOCAB, (2, 4), generator=torch.Generator().manual_seed(4))
    stepped = IncrementalDecoder(m, num_latents=2, max_new_tokens=2)  # the buffer grows
    extended = IncrementalDecoder(m, num_latents=2, max_new_tokens=2)
    with torch.inference_mode():
        stepped.start(prompt)
        extended.start(prompt)
        assert extended.room() == 6  # max_latents 8 - 2 latents
        by_step = torch.stack([stepped.step(tokens[:, j]) for j in range(4)], dim=1)
        torch.testing.assert_close(extended.extend(tokens), by_step, rtol=1e-5, atol=1e-5)
        assert torch.equal(extended.sequences, stepped.sequences)
        assert extended.room() == 2
        # forget the last two tokens and append others: as if they had been appended all along
        extended.drop_last(2)
        other = torch.randint(0, VOCAB, (2, 2), generator=torch.Generator().manual_seed(5))
        fresh = IncrementalDecoder(m, num_latents=2, max_new_tokens=8)
        fresh.start(prompt)
        fresh.extend(tokens[:, :2])
        torch.testing.assert_close(extended.extend(other), fresh.extend(other), rtol=1e-5, atol=1e-5)
        assert torch.equal(extended.sequences, fresh.sequences)


def test_extend_and_drop_last_refuse_what_they_cannot_do():
    m = model()
    prompt = torch.randint(0, VOCAB, (1, 5))
    decoder = IncrementalDecoder(m, num_latents=2, max_new_tokens=8)
    with pytest.raises(RuntimeError, match="start"):
        decoder.room()
    with torch.inference_mode():
        decoder.start(prompt)
        with pytest.raises(ValueError, match=r"extend\(\) takes 1 to 6 tokens .* got 7"):
            decoder.extend(torch.zeros(1, 7, dtype=torch.long))
        with pytest.raises(ValueError, match=r"tokens must have shape \(1, n\), got \(2, 3\)"):
            decoder.extend(torch.zeros(2, 3, dtype=torch.long))
        with pytest.raises(ValueError, match="tokens"):
            decoder.extend(torch.full((1, 2), VOCAB))
        decoder.extend(torch.zeros(1, 2, dtype=torch.long))
        with pytest.raises(ValueError, match="cannot drop 3 tokens: 2 were appended"):
            decoder.drop_last(3)
        uncached = IncrementalDecoder(m, num_latents=2, max_new_tokens=8, use_cache=False)
        uncached.start(prompt)
        with pytest.raises(ValueError, match="use_cache=False"):
            uncached.extend(torch.zeros(1, 2, dtype=torch.long))
    cache = m.create_cache()
    with pytest.raises(ValueError, match="cannot drop 1 tokens from a window of 0"):
        cache.drop_last(1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(draft_tokens=2), "pass quantize as well"),
        (dict(quantize="int8", draft_tokens=0), "draft_tokens must be at least 1, got 0"),
        (dict(quantize="int8", draft_tokens=True), "draft_tokens must be an int"),
        (dict(quantize="int8", draft_tokens=2, do_sample=True), "does not sample"),
        (dict(quantize="int8", draft_tokens=2, top_k=3), "does not sample"),
        (dict(quantize="int8", draft_tokens=2, use_cache=False), "needs use_cache=True"),
        (dict(quantize="int4", draft_tokens=2), "quantize must be one of"),
    ],
)
def test_bad_draft_arguments_are_named(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        model().generate(torch.randint(0, VOCAB, (1, 4)), num_tokens=4, **kwargs)
