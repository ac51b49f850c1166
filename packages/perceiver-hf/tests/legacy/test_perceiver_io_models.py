"""🤗 directories of krasserm/perceiver-io 0.11 load into our models with perceiver-io's outputs.

The fixtures are tiny random models that perceiver-io itself built and saved in its 🤗 layout,
with its outputs on fixed inputs (written by make_fixtures.py, next to this file). Also: our
``from_pretrained`` refuses weights that do not cover the model, in either format.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForImageClassification,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
)

import perceiver.hf  # noqa: F401  (registers the Auto classes)
from perceiver.hf.audio.symbolic import PerceiverSymbolicAudioModel
from perceiver.hf.multimodal.autoencoder import PerceiverMultimodalAutoencoderConfig
from perceiver.hf.text.classifier import PerceiverTextClassifier
from perceiver.hf.text.clm import PerceiverCausalLanguageModel
from perceiver.hf.text.mlm import PerceiverMaskedLanguageModel
from perceiver.hf.vision.image_classifier import PerceiverImageClassifier
from perceiver.hf.vision.optical_flow import OpticalFlowPerceiver

FIXTURES = Path(__file__).parent / "fixtures"
TOL = dict(rtol=1e-4, atol=1e-4)

# task: (Auto class, our class)
MODELS = {
    "text.mlm": (AutoModelForMaskedLM, PerceiverMaskedLanguageModel),
    "text.classifier": (AutoModelForSequenceClassification, PerceiverTextClassifier),
    "text.clm": (AutoModelForCausalLM, PerceiverCausalLanguageModel),
    "audio.symbolic": (AutoModelForCausalLM, PerceiverSymbolicAudioModel),
    "vision.image_classifier": (AutoModelForImageClassification, PerceiverImageClassifier),
    "vision.optical_flow": (AutoModel, OpticalFlowPerceiver),
}


def expected(task: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = FIXTURES / task / "expected.safetensors"
    with safe_open(path, "pt") as f:
        metadata = f.metadata() or {}
    return load_file(path), metadata


def run(model, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(our output, perceiver-io's output) on the fixture's inputs."""
    e, metadata = expected(task)
    with torch.no_grad():
        if task in ("text.mlm", "text.classifier"):
            out = model(e["input_ids"], attention_mask=(~e["pad_mask"]).long()).logits
        elif task in ("text.clm", "audio.symbolic"):
            prefix_len = int(metadata["prefix_len"])
            out = model(e["input_ids"], attention_mask=(~e["pad_mask"]).long(), prefix_len=prefix_len).logits
        elif task == "vision.image_classifier":
            # perceiver-io took images channels-last, we take them channels-first
            out = model(e["pixel_values_channels_last"].permute(0, 3, 1, 2)).logits
        else:
            out = model(e["inputs"]).logits
    return out, e["logits" if "logits" in e else "flow"]


@pytest.mark.parametrize("task", list(MODELS))
def test_auto_class_loads_perceiver_io_directory_with_its_outputs(task):
    auto_class, model_class = MODELS[task]
    model = auto_class.from_pretrained(FIXTURES / task)
    assert type(model) is model_class
    assert not model.training
    out, ref = run(model, task)
    torch.testing.assert_close(out, ref, **TOL)


@pytest.mark.parametrize("task", list(MODELS))
def test_our_class_loads_perceiver_io_directory_and_saves_our_format(task, tmp_path):
    _, model_class = MODELS[task]
    model = model_class.from_pretrained(FIXTURES / task)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert "backend_config" in saved and "model_config" not in saved and "perceiver_io_format" not in saved
    assert not any(k.startswith("backend_model.0.") for k in load_file(tmp_path / "model.safetensors"))

    reloaded = model_class.from_pretrained(tmp_path)
    assert not reloaded.config.perceiver_io_format
    assert reloaded.config.backend_config == model.config.backend_config
    out, ref = run(reloaded, task)
    torch.testing.assert_close(out, ref, **TOL)


def test_causal_model_without_a_prefix_and_with_our_norm_rule():
    model = AutoModelForCausalLM.from_pretrained(FIXTURES / "text.clm")
    e, _ = expected("text.clm")
    latents = e["input_ids"][:, -model.config.backend_config.max_latents :]
    with torch.no_grad():
        torch.testing.assert_close(model(latents, prefix_len=0).logits, e["logits_no_prefix"], **TOL)
        # the conversion sets perceiver-io's norm rule; ours would give other outputs
        assert model.config.backend_config.latent_kv_norm == "q"
        for cross_attention in (model.backend_model.perceiver_ar.cross_attn.cross_attn,):
            cross_attention.kv_tail_q_norm = False
        out, ref = run(model, "text.clm")
        assert (out - ref).abs().max() > 1e-3


def test_converted_causal_model_generates_the_same_with_and_without_cache():
    model = AutoModelForCausalLM.from_pretrained(FIXTURES / "audio.symbolic")
    e, _ = expected("audio.symbolic")
    prompt, pad_mask = e["input_ids"][:, :9], e["pad_mask"][:, :9]
    cached = model.backend_model.generate(prompt, pad_mask, num_tokens=20, num_latents=2)
    uncached = model.backend_model.generate(prompt, pad_mask, num_tokens=20, num_latents=2, use_cache=False)
    assert torch.equal(cached, uncached)


def test_pytorch_model_bin_is_read_with_weights_only(tmp_path):
    source = FIXTURES / "text.classifier"
    assert (source / "pytorch_model.bin").exists()
    shutil.copy(source / "config.json", tmp_path / "config.json")

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    with open(tmp_path / "pytorch_model.bin", "wb") as f:
        pickle.dump({"backend_model.x": Payload()}, f)
    with pytest.raises(ValueError, match=r"cannot read the weights file .*pytorch_model.bin"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path)


def _copy(task: str, tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    for f in (FIXTURES / task).iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path, load_file(tmp_path / "model.safetensors")


def test_missing_tensor_is_named(tmp_path):
    path, state = _copy("text.mlm", tmp_path)
    del state["backend_model.0.cross_attn_1.0.module.kv_norm.weight"]
    save_file(state, path / "model.safetensors")
    with pytest.raises(
        ValueError, match=r"does not provide: \['encoder.cross_attn_1.cross_attn.kv_norm.weight'\]"
    ):
        AutoModelForMaskedLM.from_pretrained(path)


def test_renamed_tensor_is_named(tmp_path):
    path, state = _copy("text.clm", tmp_path)
    state["backend_model.cross_attention.0.module.attention.query.weight"] = state.pop(
        "backend_model.cross_attention.0.module.attention.q_proj.weight"
    )
    save_file(state, path / "model.safetensors")
    with pytest.raises(
        ValueError, match=r"without a mapping: \['cross_attention.0.module.attention.query.weight'\]"
    ):
        PerceiverCausalLanguageModel.from_pretrained(path)


def test_tensor_outside_the_backend_prefix_is_named(tmp_path):
    path, state = _copy("vision.optical_flow", tmp_path)
    state["extra.weight"] = torch.zeros(1)
    save_file(state, path / "model.safetensors")
    with pytest.raises(ValueError, match=r"prefix: \['extra.weight'\]"):
        OpticalFlowPerceiver.from_pretrained(path)


def test_misshaped_tensor_is_named(tmp_path):
    path, state = _copy("vision.image_classifier", tmp_path)
    state["backend_model.1.output_adapter.linear.weight"] = torch.zeros(5, 8)
    save_file(state, path / "model.safetensors")
    with pytest.raises(
        ValueError, match=r"decoder.output_adapter.linear.weight: \(5, 8\) in the file, \(4, 8\)"
    ):
        AutoModelForImageClassification.from_pretrained(path)


def test_unknown_config_field_is_named(tmp_path):
    path, _ = _copy("audio.symbolic", tmp_path)
    config = json.loads((path / "config.json").read_text())
    config["model_config"]["num_memory_tokens"] = 4
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"perceiver-ar-symbolic-audio-model.*\['num_memory_tokens'\]"):
        AutoModelForCausalLM.from_pretrained(path)
    with pytest.raises(ValueError, match="num_memory_tokens"):
        AutoConfig.from_pretrained(path)


def test_model_config_of_a_model_perceiver_io_did_not_have_is_refused():
    with pytest.raises(ValueError, match="perceiver-io had no such model"):
        PerceiverMultimodalAutoencoderConfig(model_config={})


@pytest.mark.parametrize("change", ["missing", "misshaped", "unexpected"])
def test_our_format_never_leaves_a_parameter_random(change, tmp_path):
    model = PerceiverMaskedLanguageModel.from_pretrained(FIXTURES / "text.mlm")
    model.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    key = "backend_model.decoder.cross_attn.mlp.1.weight"
    if change == "missing":
        del state[key]
    elif change == "misshaped":
        state[key] = torch.zeros(3, 3)
    else:
        state["backend_model.decoder.extra"] = torch.zeros(1)
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    name = "backend_model.decoder.extra" if change == "unexpected" else key
    with pytest.raises(ValueError, match=name):
        AutoModelForMaskedLM.from_pretrained(tmp_path)


@pytest.mark.parametrize(("head_dim", "rotated", "frequency_dim"), [(6, 4, 3), (2, 2, 1), (10, 6, 5)])
def test_rotary_widths_that_perceiver_io_rounded_up_give_its_outputs(head_dim, rotated, frequency_dim):
    """With abs_pos_emb, perceiver-io rotates half of each head's channels, n = head_dim / 2;
    an odd n rotates n + 1 channels at frequencies scaled by n (written by perceiver-io itself)."""
    name = f"text.clm.rotary-{head_dim}"
    model = AutoModelForCausalLM.from_pretrained(FIXTURES / name).eval()
    encoding = model.backend_model.perceiver_ar.frequency_encoding
    assert (encoding.dim, encoding.frequency_dim) == (rotated, frequency_dim)
    e, metadata = expected(name)
    with torch.no_grad():
        mask = (~e["pad_mask"]).long()
        logits = model(e["input_ids"], attention_mask=mask, prefix_len=int(metadata["prefix_len"])).logits
        no_prefix = model(e["input_ids"][:, -6:], prefix_len=0).logits
    torch.testing.assert_close(logits, e["logits"], **TOL)
    torch.testing.assert_close(no_prefix, e["logits_no_prefix"], **TOL)
