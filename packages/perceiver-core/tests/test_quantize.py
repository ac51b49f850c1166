"""Int8 weight-only decoding: close to float32, the cache still exact, refused where it cannot work."""

import pytest
import torch
from torch import nn

from perceiver.model.core import IncrementalDecoder, Int8Linear, quantize_for_decoding
from perceiver.model.core.quantize import quantized_for_decoding
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
        init_scale=0.1,  # logits of a visible spread, so that rounding shows against them
    )
    return CausalLanguageModel(CausalLanguageModelConfig(**(defaults | kwargs))).eval()


def test_int8_linear_computes_with_its_dequantized_weight():
    linear = nn.Linear(24, 10)
    q = Int8Linear.from_linear(linear)
    w = q.dequantized_weight()
    # symmetric per-output-channel rounding: at most half a step of each row's scale
    step = linear.weight.abs().amax(dim=1, keepdim=True) / 127
    assert bool(((w - linear.weight).abs() <= step / 2 + 1e-7).all())
    assert q.weight_int8.dtype == torch.int8 and q.scale.shape == (10,)
    x = torch.randn(2, 3, 24)
    with torch.inference_mode():
        y = q(x)
    assert y.shape == (2, 3, 10)
    torch.testing.assert_close(y, nn.functional.linear(x, w, linear.bias), rtol=1e-5, atol=1e-5)


def test_a_zero_row_quantizes_to_zero():
    linear = nn.Linear(8, 3, bias=False)
    with torch.no_grad():
        linear.weight[1] = 0
    q = Int8Linear.from_linear(linear)
    assert torch.equal(q.dequantized_weight()[1], torch.zeros(8))
    assert bool(q.scale.isfinite().all())


def test_quantized_copy_replaces_every_linear_and_leaves_the_model_alone():
    m = model()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    q = quantize_for_decoding(m)
    assert not any(type(mod) is nn.Linear for mod in q.modules())
    num_linears = sum(type(mod) is nn.Linear for mod in m.modules())
    assert sum(type(mod) is Int8Linear for mod in q.modules()) == num_linears > 0
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    # the copy shares no tensor with the model: changing the model does not reach it
    q_ptrs = {t.data_ptr() for t in [*q.parameters(), *q.buffers()]}
    assert not q_ptrs & {p.data_ptr() for p in m.parameters()}
    assert not q.training


def test_quantized_logits_agree_with_float32_within_the_rounding():
    m = model()
    q = quantize_for_decoding(m)
    x = torch.randint(0, VOCAB, (3, 16))
    with torch.inference_mode():
        ref, out = m(x, prefix_len=10), q(x, prefix_len=10)
    assert out.shape == ref.shape == (3, 6, VOCAB)
    # int8 weights with 127 levels per row: logits move by well under 2% of their range
    scale = ref.abs().max()
    torch.testing.assert_close(out / scale, ref / scale, rtol=0, atol=2e-2)
    assert not torch.equal(out, ref)  # it is a different computation, not the float32 one
    # next-token choices agree almost everywhere
    assert (out.argmax(-1) == ref.argmax(-1)).float().mean() >= 0.9


@pytest.mark.parametrize("num_latents", [1, 4])
def test_quantized_cached_decoding_equals_quantized_uncached_decoding(num_latents):
    q = quantize_for_decoding(model())
    ids = torch.randint(1, VOCAB, (2, 7))
    cached = q.generate(ids, num_tokens=30, num_latents=num_latents)
    uncached = q.generate(ids, num_tokens=30, num_latents=num_latents, use_cache=False)
    assert cached.shape == (2, 37)
    assert torch.equal(cached, uncached)


def test_generate_quantize_int8_decodes_with_the_quantized_copy():
    m = model()
    ids = torch.randint(1, VOCAB, (2, 5))
    out = m.generate(ids, num_tokens=12, quantize="int8")
    assert torch.equal(out, quantize_for_decoding(m).generate(ids, num_tokens=12))
    # float32 stays the default and unchanged: the model's own decoding is the float32 one
    decoder = IncrementalDecoder(m, num_latents=1, max_new_tokens=0)
    with torch.inference_mode():
        torch.testing.assert_close(decoder.start(ids), m(ids, prefix_len=4)[:, -1], rtol=0, atol=0)
    assert all(type(mod) is not Int8Linear for mod in m.modules())


def test_the_quantized_copy_is_reused_until_the_parameters_change():
    m = model()
    name = next(n for n, mod in m.named_modules() if type(mod) is nn.Linear)
    first = quantized_for_decoding(m)
    assert quantized_for_decoding(m) is first
    linear = m.get_submodule(name)
    with torch.no_grad():
        linear.weight.mul_(2.0)  # an in-place update, as an optimizer step makes
    second = quantized_for_decoding(m)
    assert second is not first
    step = float(linear.weight.abs().max()) / 127
    torch.testing.assert_close(
        second.get_submodule(name).dequantized_weight(), linear.weight, rtol=0, atol=step / 2 + 1e-7
    )


def test_compiled_quantized_decoding_equals_eager_quantized_decoding(monkeypatch):
    # the compiled branch (a reduction over the materialized input) traced with aot_eager, which
    # runs the traced graph without generating code: inductor's compilation of it takes minutes
    # on a busy CPU and is exercised by the benchmark's quantized workload
    from perceiver.model.core import generation

    torch._dynamo.reset()
    traced = torch.compile(generation._cached_step, dynamic=True, backend="aot_eager")
    monkeypatch.setattr(generation, "_compiled_cached_step", lambda options=None: traced)
    q = quantize_for_decoding(model())
    ids = torch.randint(1, VOCAB, (2, 5))
    eager = IncrementalDecoder(q, num_latents=2, max_new_tokens=10)
    compiled = IncrementalDecoder(q, num_latents=2, max_new_tokens=10, compile=True)
    with torch.inference_mode():
        torch.testing.assert_close(compiled.start(ids), eager.start(ids))
        for _ in range(10):
            tokens = torch.randint(1, VOCAB, (2,))
            torch.testing.assert_close(compiled.step(tokens), eager.step(tokens), rtol=1e-5, atol=1e-5)
    torch._dynamo.reset()


def test_quantized_model_refuses_training_and_backward():
    q = quantize_for_decoding(model())
    with pytest.raises(RuntimeError, match="decoding only and cannot be trained"):
        q.train()
    layer = Int8Linear.from_linear(nn.Linear(4, 3))
    x = torch.randn(2, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="no backward pass"):
        layer(x)


@pytest.mark.parametrize(
    ("convert", "error", "match"),
    [
        (lambda m: m.to(torch.bfloat16), ValueError, r"float32 models only; .* is torch.bfloat16"),
        (lambda m: m.to("meta"), ValueError, r"on the CPU only; .* is on meta"),
        (lambda m: "not a model", TypeError, "must be a torch.nn.Module"),
    ],
)
def test_quantization_refuses_unsupported_models(convert, error, match):
    with pytest.raises(error, match=match):
        quantize_for_decoding(convert(model()))


@pytest.mark.parametrize("mode", ["int4", "INT8", ""])
def test_generate_refuses_an_unknown_quantize_mode(mode):
    with pytest.raises(ValueError, match=r"quantize must be one of \('int8',\)"):
        model().generate(torch.ones(1, 3, dtype=torch.long), num_tokens=2, quantize=mode)


@pytest.mark.parametrize("mode", ["int4", None, 8])
def test_quantize_for_decoding_names_its_mode_argument(mode):
    with pytest.raises(ValueError, match=rf"mode must be one of \('int8',\), got {mode!r}"):
        quantize_for_decoding(model(), mode)


def test_a_linear_layer_on_its_own_is_quantized_not_returned_as_float():
    linear = nn.Linear(8, 3)
    quantized = quantize_for_decoding(linear)
    assert type(quantized) is Int8Linear and not quantized.training
    x = torch.randn(4, 8)
    torch.testing.assert_close(quantized(x), x @ quantized.dequantized_weight().T + linear.bias)
    assert (quantized(x) - linear(x)).abs().max() < 0.05  # int8 rounding, not another layer
    with torch.no_grad():
        linear.bias.add_(1.0)  # the copy shares no tensor with the layer
    assert not torch.equal(quantized.bias, linear.bias)
