"""transformers' generate() on the Perceiver AR wrappers equals perceiver-core generation."""

import pytest
import torch
from transformers import AutoModelForCausalLM, PerceiverTokenizer, pipeline
from transformers.generation.streamers import BaseStreamer

import perceiver.hf  # noqa: F401
from perceiver.hf.text.clm import PerceiverCausalLanguageModel, PerceiverCausalLanguageModelConfig
from perceiver.model.core import Int8Linear
from perceiver.model.text.clm import CausalLanguageModelConfig


def model() -> PerceiverCausalLanguageModel:
    torch.manual_seed(0)
    config = CausalLanguageModelConfig(
        vocab_size=262,
        max_seq_len=32,
        max_latents=8,
        num_channels=32,
        num_heads=4,
        num_self_attention_layers=2,
    )
    return PerceiverCausalLanguageModel(PerceiverCausalLanguageModelConfig(config)).eval()


def prompts():
    ids = torch.randint(6, 262, (2, 10))
    attention_mask = torch.ones_like(ids)
    attention_mask[1, :4] = 0
    return ids.masked_fill(attention_mask == 0, 0), attention_mask


def test_greedy_generate_equals_core_generate_beyond_the_window():
    m = model()
    ids, attention_mask = prompts()
    hf = m.generate(
        ids, attention_mask=attention_mask, max_new_tokens=60, do_sample=False, num_latents=3, pad_token_id=0
    )
    core = m.backend_model.generate(ids, attention_mask == 0, num_tokens=60, num_latents=3)
    assert hf.shape == (2, 70) and torch.equal(hf, core)


def test_sampling_options_and_streamers_work():
    m = model()
    ids, attention_mask = prompts()
    seen = []

    class Collect(BaseStreamer):
        def put(self, value):
            seen.append(value)

        def end(self):
            seen.append("end")

    torch.manual_seed(3)
    first = m.generate(
        ids,
        attention_mask=attention_mask,
        max_new_tokens=12,
        do_sample=True,
        top_k=20,
        top_p=0.9,
        temperature=0.7,
        pad_token_id=0,
    )
    torch.manual_seed(3)
    again = m.generate(
        ids[:1],
        attention_mask=attention_mask[:1],
        max_new_tokens=12,
        do_sample=True,
        top_k=20,
        pad_token_id=0,
        streamer=Collect(),
    )
    assert first.shape == (2, 22) and again.shape == (1, 22)
    assert seen[-1] == "end" and len(seen) == 1 + 12 + 1  # the prompt, each new token, end


def test_save_load_and_text_generation_pipeline(tmp_path):
    m = model()
    m.save_pretrained(tmp_path)
    PerceiverTokenizer(model_max_length=32).save_pretrained(tmp_path)
    restored = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(restored) is PerceiverCausalLanguageModel
    ids, attention_mask = prompts()
    kwargs = dict(attention_mask=attention_mask, max_new_tokens=15, num_latents=2, pad_token_id=0)
    assert torch.equal(restored.generate(ids, **kwargs), m.generate(ids, **kwargs))
    generate = pipeline("text-generation", model=str(tmp_path))
    text = generate("Hello", max_new_tokens=8, do_sample=False, num_latents=2)[0]["generated_text"]
    assert text.startswith("Hello")


def test_forward_with_labels_gives_the_shifted_loss():
    m = model()  # eval: no prefix dropout, so both forwards see the same keys
    ids = torch.randint(6, 262, (2, 20))
    out = m(ids, labels=ids)
    logits = m.backend_model(ids, prefix_len=12)
    expected = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 13:])
    torch.testing.assert_close(out.loss, expected)


def test_compiled_decoding_through_generate_equals_eager():
    m = model()
    ids, attention_mask = prompts()
    kwargs = dict(
        attention_mask=attention_mask, max_new_tokens=20, do_sample=False, num_latents=3, pad_token_id=0
    )
    out = m.generate(ids, compile_decoding=True, return_dict_in_generate=True, **kwargs)
    cache = out["cache"] if "cache" in out else out["past_key_values"]  # renamed in transformers 5.24
    assert cache.decoder._compiled is not None  # the steps ran compiled
    assert torch.equal(out.sequences, m.generate(ids, **kwargs))


def test_compile_decoding_options_reach_the_compiled_step():
    m = model()
    ids = torch.randint(6, 262, (1, 6))
    with pytest.raises(ValueError, match=r"compile_decoding_options|compile_options=.* needs compile=True"):
        m.generate(ids, compile_decoding_options={"cpp_wrapper": True}, max_new_tokens=2, pad_token_id=0)
    with pytest.raises(ValueError, match=r"unknown inductor option\(s\) \['cpp_wraper'\]"):
        m.generate(
            ids,
            compile_decoding=True,
            compile_decoding_options={"cpp_wraper": True},
            max_new_tokens=2,
            pad_token_id=0,
        )


def test_quantized_decoding_through_generate_equals_core_int8_generation():
    m = model()
    ids, attention_mask = prompts()
    kwargs = dict(
        attention_mask=attention_mask, max_new_tokens=20, do_sample=False, num_latents=3, pad_token_id=0
    )
    out = m.generate(ids, quantize_decoding="int8", return_dict_in_generate=True, **kwargs)
    core = m.backend_model.generate(ids, attention_mask == 0, num_tokens=20, num_latents=3, quantize="int8")
    assert torch.equal(out.sequences, core)
    cache = out["cache"] if "cache" in out else out["past_key_values"]  # renamed in transformers 5.24
    assert cache.decoder.model is not m.backend_model  # the int8 copy decoded
    assert all(type(mod) is not Int8Linear for mod in m.backend_model.modules())  # float32 untouched


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(quantize_decoding="int4"), r"quantize_decoding must be one of \('int8',\), got 'int4'"),
        (dict(quantize_decoding="int8", use_cache=False), "quantize_decoding='int8' .* needs use_cache=True"),
    ],
)
def test_quantized_decoding_refuses_what_it_cannot_do(kwargs, match):
    with pytest.raises(ValueError, match=match):
        model().generate(torch.randint(6, 262, (1, 6)), max_new_tokens=2, pad_token_id=0, **kwargs)


def test_drafted_decoding_through_generate_gives_float32_greedy_tokens():
    m = model()
    ids, attention_mask = prompts()
    kwargs = dict(
        attention_mask=attention_mask, max_new_tokens=20, do_sample=False, num_latents=2, pad_token_id=0
    )
    reference = m.generate(ids, **kwargs)
    out = m.generate(ids, quantize_decoding="int8", draft_tokens=3, return_dict_in_generate=True, **kwargs)
    assert torch.equal(out.sequences, reference)
    core = m.backend_model.generate(
        ids, attention_mask == 0, num_tokens=20, num_latents=2, quantize="int8", draft_tokens=3
    )
    assert torch.equal(out.sequences, core)
    cache = out["cache"] if "cache" in out else out["past_key_values"]  # renamed in transformers 5.24
    assert cache.decoder.model is m.backend_model  # float32 checks (and decodes prompts, restarts)
    assert cache.drafts.kept > 0  # and the int8 copy's drafts were kept


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(draft_tokens=2), "pass quantize_decoding as well"),
        (dict(quantize_decoding="int8", draft_tokens=0), "draft_tokens must be at least 1, got 0"),
        (
            dict(quantize_decoding="int8", draft_tokens=2, do_sample=True),
            "does not combine with do_sample=True",
        ),
        (dict(quantize_decoding="int8", draft_tokens=2, num_beams=2), "does not combine with num_beams=2"),
        (dict(quantize_decoding="int8", draft_tokens=2, use_cache=False), "needs use_cache=True"),
    ],
)
def test_drafted_decoding_refuses_what_it_cannot_do(kwargs, match):
    with pytest.raises(ValueError, match=match):
        model().generate(torch.randint(6, 262, (1, 6)), max_new_tokens=2, pad_token_id=0, **kwargs)
