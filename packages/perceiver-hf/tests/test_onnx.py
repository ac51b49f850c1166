"""ONNX export: ONNX Runtime gives PyTorch's outputs for every Perceiver IO model at other batch
sizes (and sequence lengths) than the export's, and a greedy ONNX Runtime decoding loop gives the
tokens of generate() for Perceiver AR; bad input is named."""

import json
import sys

import numpy as np
import pytest
import torch
from torch.testing import assert_close

pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxscript", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from perceiver.hf.audio.symbolic import PerceiverSymbolicAudioModel, PerceiverSymbolicAudioModelConfig  # noqa: E402
from perceiver.hf.onnx import OnnxCausalLanguageModel, export_onnx, export_onnx_decoder  # noqa: E402
from perceiver.hf.text.classifier import PerceiverTextClassifier, PerceiverTextClassifierConfig  # noqa: E402
from perceiver.model.audio.symbolic import SymbolicAudioModelConfig  # noqa: E402
from perceiver.model.core import ClassificationDecoderConfig  # noqa: E402
from perceiver.model.multimodal.autoencoder import (  # noqa: E402
    MultimodalAutoencoder,
    MultimodalAutoencoderConfig,
    MultimodalDecoderConfig,
    MultimodalEncoderConfig,
)
from perceiver.model.text.classifier import TextClassifierConfig  # noqa: E402
from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig  # noqa: E402
from perceiver.model.text.mlm import (  # noqa: E402
    MaskedLanguageModel,
    MaskedLanguageModelConfig,
    TextDecoderConfig,
    TextEncoderConfig,
)
from perceiver.model.vision.image_classifier import ImageClassifier, ImageClassifierConfig, ImageEncoderConfig  # noqa: E402
from perceiver.model.vision.optical_flow import (  # noqa: E402
    OpticalFlow,
    OpticalFlowConfig,
    OpticalFlowDecoderConfig,
    OpticalFlowEncoderConfig,
)

TOL = dict(atol=1e-4, rtol=1e-4)
VOCAB, SEQ = 50, 16


def text_encoder() -> TextEncoderConfig:
    return TextEncoderConfig(
        vocab_size=VOCAB,
        max_seq_len=SEQ,
        num_input_channels=24,
        num_cross_attention_heads=2,
        num_self_attention_heads=2,
        num_self_attention_layers_per_block=2,
    )


def mlm() -> MaskedLanguageModel:
    decoder = TextDecoderConfig(vocab_size=VOCAB, max_seq_len=SEQ, num_cross_attention_heads=2)
    return MaskedLanguageModel(MaskedLanguageModelConfig(text_encoder(), decoder, 4, 32))


def text_classifier() -> PerceiverTextClassifier:
    """The 🤗 wrapper: export_onnx exports its backend model."""
    decoder = ClassificationDecoderConfig(
        num_classes=3, num_output_query_channels=16, num_cross_attention_heads=2
    )
    backend = TextClassifierConfig(text_encoder(), decoder, num_latents=4, num_latent_channels=32)
    return PerceiverTextClassifier(PerceiverTextClassifierConfig(backend))


def image_classifier(kind: str) -> ImageClassifier:
    encoder = ImageEncoderConfig(
        image_shape=(3, 8, 8),
        position_encoding=kind,
        num_frequency_bands=4,
        num_conv_channels=8,
        num_position_channels=8,
        num_cross_attention_heads=1,
        num_self_attention_heads=2,
        num_self_attention_layers_per_block=1,
        num_self_attention_blocks=2,
    )
    decoder = ClassificationDecoderConfig(
        num_cross_attention_heads=1, num_output_query_channels=16, num_classes=5
    )
    return ImageClassifier(ImageClassifierConfig(encoder, decoder, num_latents=4, num_latent_channels=16))


def optical_flow() -> OpticalFlow:
    encoder = OpticalFlowEncoderConfig(
        image_shape=(6, 8),
        num_patch_hidden_channels=8,
        num_frequency_bands=4,
        num_cross_attention_heads=1,
        num_self_attention_heads=2,
        num_self_attention_layers_per_block=1,
    )
    decoder = OpticalFlowDecoderConfig(num_cross_attention_heads=1)
    return OpticalFlow(OpticalFlowConfig(encoder, decoder, num_latents=4, num_latent_channels=16))


def multimodal() -> MultimodalAutoencoder:
    encoder = MultimodalEncoderConfig(
        num_frames=2,
        image_shape=(3, 8, 8),
        image_patch_size=4,
        image_num_frequency_bands=2,
        audio_samples_per_frame=4,
        audio_samples_per_patch=2,
        audio_num_frequency_bands=3,
        num_classes=5,
        num_cross_attention_heads=1,
        num_self_attention_heads=2,
        num_self_attention_layers_per_block=1,
    )
    decoder = MultimodalDecoderConfig(
        num_cross_attention_heads=1, num_label_query_channels=8, num_output_channels=16
    )
    return MultimodalAutoencoder(
        MultimodalAutoencoderConfig(encoder, decoder, num_latents=4, num_latent_channels=16)
    )


def text_inputs(b: int, n: int) -> dict[str, np.ndarray]:
    attention_mask = np.ones((b, n), np.int64)
    attention_mask[0, n - 3 :] = 0  # right padding of the first sequence
    return {"input_ids": torch.randint(0, VOCAB, (b, n)).numpy(), "attention_mask": attention_mask}


def torch_outputs(model, feeds: dict[str, np.ndarray]) -> list[torch.Tensor]:
    t = {name: torch.from_numpy(value) for name, value in feeds.items()}
    with torch.no_grad():
        if "input_ids" in t:
            return [model(t["input_ids"], t["attention_mask"] == 0)]
        if "image" in t:
            out = model({"image": t["image"], "audio": t["audio"], "label": t["label"]})
            return [out["image"], out["audio"], out["label"]]
        (x,) = t.values()
        return [model(x)]


# name -> (model, inputs for a batch size and sequence length)
IO_MODELS = {
    "masked_lm": (mlm, lambda b, n: text_inputs(b, n)),
    "text_classifier": (text_classifier, lambda b, n: text_inputs(b, n)),
    "image_fourier": (
        lambda: image_classifier("fourier"),
        lambda b, n: {"pixel_values": np.random.randn(b, 3, 8, 8)},
    ),
    "image_learned": (
        lambda: image_classifier("learned"),
        lambda b, n: {"pixel_values": np.random.randn(b, 3, 8, 8)},
    ),
    "image_conv": (
        lambda: image_classifier("conv"),
        lambda b, n: {"pixel_values": np.random.randn(b, 3, 8, 8)},
    ),
    "optical_flow": (optical_flow, lambda b, n: {"patches": np.random.randn(b, 2, 27, 6, 8)}),
    "multimodal": (
        multimodal,
        lambda b, n: {
            "image": np.random.randn(b, 2, 3, 8, 8),
            "audio": np.random.randn(b, 8, 1),
            "label": np.eye(5)[np.arange(b) % 5],
        },
    ),
}


@pytest.mark.parametrize("name", sorted(IO_MODELS))
def test_onnx_runtime_gives_pytorch_outputs(name, tmp_path, perturb):
    make, inputs = IO_MODELS[name]
    model = perturb(make())
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    core = getattr(model, "backend_model", model)
    np.random.seed(0)
    # batch sizes and sequence lengths other than the export's examples (2 sequences of 16 tokens)
    for b, n in [(1, 5), (4, SEQ), (3, 11)]:
        feeds = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in inputs(b, n).items()}
        actual = session.run(None, feeds)
        expected = torch_outputs(core, feeds)
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert a.shape == tuple(e.shape), (name, b, n)
            assert_close(torch.from_numpy(a), e, **TOL)


def clm() -> CausalLanguageModel:
    config = CausalLanguageModelConfig(
        vocab_size=VOCAB,
        max_seq_len=20,
        max_latents=6,
        num_channels=32,
        num_heads=4,
        num_self_attention_layers=2,
        cross_attention_dropout=0.0,
    )
    return CausalLanguageModel(config)


def symbolic_audio() -> PerceiverSymbolicAudioModel:
    """The 🤗 wrapper of a symbolic audio model whose latents are cross-attention keys under the
    queries' norm (krasserm/perceiver-io 0.11's rule)."""
    backend = SymbolicAudioModelConfig(
        vocab_size=VOCAB,
        max_seq_len=16,
        max_latents=5,
        num_channels=16,
        num_heads=2,
        num_self_attention_layers=3,
        num_self_attention_rotary_layers=-1,
        latent_kv_norm="q",
    )
    return PerceiverSymbolicAudioModel(PerceiverSymbolicAudioModelConfig(backend))


AR_MODELS = {"clm": (clm, 2), "symbolic_audio": (symbolic_audio, 1)}  # model, num_latents


@pytest.fixture(scope="module", params=sorted(AR_MODELS))
def exported_ar(request, tmp_path_factory, perturb):
    torch.manual_seed(0)
    make, num_latents = AR_MODELS[request.param]
    model = perturb(make(), scale=0.3)  # a random model whose greedy tokens vary
    directory = export_onnx_decoder(model, tmp_path_factory.mktemp(request.param), num_latents=num_latents)
    return getattr(model, "backend_model", model), OnnxCausalLanguageModel(directory)


def test_greedy_onnx_runtime_decoding_gives_generate_tokens(exported_ar):
    model, onnx_model = exported_ar
    prompt = torch.randint(0, VOCAB, (3, 7))
    pad_mask = torch.zeros(3, 7, dtype=torch.bool)
    pad_mask[1, :3] = True  # left padding
    # 40 tokens: the window restarts several times (max_seq_len 16 or 20, max_latents 5 or 6)
    expected = model.generate(prompt, pad_mask, num_tokens=40, num_latents=onnx_model.num_latents)
    actual = onnx_model.generate(prompt, pad_mask, num_tokens=40)
    assert len(set(expected[:, 7:].flatten().tolist())) > 3  # the test model does not repeat one token
    assert torch.equal(actual, expected)
    # a batch size and prompt length other than the export's examples, without padding
    prompt = torch.randint(0, VOCAB, (1, 3))
    expected = model.generate(prompt, num_tokens=12, num_latents=onnx_model.num_latents)
    assert torch.equal(onnx_model.generate(prompt, num_tokens=12), expected)


def test_prefill_and_step_logits_equal_pytorch(exported_ar):
    model, onnx_model = exported_ar
    prompt = torch.randint(0, VOCAB, (2, 9))
    cache, onnx_cache = model.create_cache(), onnx_model.create_cache()
    prefix_len = 9 - onnx_model.num_latents
    with torch.no_grad():
        for step in range(model.max_latents - onnx_model.num_latents):
            if step == 0:
                expected = model(prompt, prefix_len, None, cache)[:, -1:]
                actual = onnx_model(prompt, prefix_len, None, onnx_cache)
            else:
                tokens = expected[:, -1].argmax(-1)[:, None]
                expected = model(tokens, 0, None, cache)[:, -1:]
                actual = onnx_model(tokens, 0, None, onnx_cache)
            assert_close(actual, expected, **TOL)
    assert onnx_cache.length == cache.length


def test_ar_runtime_bad_input_is_named(exported_ar, tmp_path):
    _, onnx_model = exported_ar
    if onnx_model.num_latents > 1:
        with pytest.raises(ValueError, match="fewer than the num_latents"):
            onnx_model.generate(torch.randint(0, VOCAB, (1, 1)))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        onnx_model.generate(torch.tensor([[VOCAB, 1, 2]]))
    with pytest.raises(FileNotFoundError, match="export_onnx_decoder"):
        OnnxCausalLanguageModel(tmp_path)
    (tmp_path / "perceiver_onnx.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a Perceiver AR ONNX export"):
        OnnxCausalLanguageModel(tmp_path)


def test_ar_runtime_call_refuses_what_the_graphs_would_misread(exported_ar):
    """The graphs check nothing: a negative or fractional id would pick another embedding and
    a wrong shape would fail inside ONNX Runtime, so the call refuses them by name."""
    model, onnx_model = exported_ar
    n = onnx_model.num_latents + 4
    ids = torch.randint(0, VOCAB, (2, n))
    prefix_len = n - onnx_model.num_latents
    bad_calls = {
        "dtype torch.float32": (ids.float() + 0.5, prefix_len, None),
        r"token id -1, outside the vocabulary \[0, 50\)": (ids - ids - 1, prefix_len, None),
        r"token id 50, outside": (ids.clamp(max=0) + VOCAB, prefix_len, None),
        r"shape \(batch, seq_len\) with both > 0, got \(0, ": (ids[:0], prefix_len, None),
        r"got \(1, 2, ": (ids[None], prefix_len, None),
        "prefix_len must be an int": (ids, float(prefix_len), None),
        r"pad_mask has shape \(2, 3\), expected": (ids, prefix_len, torch.zeros(2, 3, dtype=torch.bool)),
        "pad_mask must be a bool tensor": (ids, prefix_len, torch.zeros(2, n, dtype=torch.long)),
    }
    long_window = torch.randint(0, VOCAB, (1, onnx_model.max_seq_len + 1))
    bad_calls["exceeds max_seq_len"] = (long_window, long_window.shape[1] - onnx_model.num_latents, None)
    for message, (x, p, mask) in bad_calls.items():
        with pytest.raises(ValueError, match=message):
            onnx_model(x, p, mask)
    with pytest.raises(TypeError, match="kv_cache must be an OnnxDecoderCache"):
        onnx_model(ids, prefix_len, None, model.create_cache())

    cache = onnx_model.create_cache()
    onnx_model(ids, prefix_len, None, cache)
    for step, p in ((torch.tensor([[1], [2], [3]]), 0), (torch.tensor([[1, 2], [3, 4]]), 0), (ids[:, :1], 1)):
        with pytest.raises(ValueError, match=r"one new token per cached sequence \(2, 1\)"):
            onnx_model(step, p, None, cache)
    with pytest.raises(ValueError, match=r"dtype torch\.float32"):
        onnx_model(torch.tensor([[1.5], [2.5]]), 0, None, cache)
    with pytest.raises(ValueError, match=f"token id {VOCAB + 9}, outside"):
        onnx_model(torch.tensor([[VOCAB + 9], [1]]), 0, None, cache)
    assert cache.length == n  # nothing was appended by the refused steps
    while cache.length < onnx_model.max_seq_len:
        onnx_model(torch.tensor([[1], [2]]), 0, None, cache)
    max_len = onnx_model.max_seq_len
    with pytest.raises(
        ValueError, match=rf"1 new token after {max_len} cached exceeds max_seq_len \({max_len}\)"
    ):
        onnx_model(torch.tensor([[1], [2]]), 0, None, cache)


def test_export_bad_input_is_named(tmp_path):
    with pytest.raises(TypeError, match=r"export_onnx takes a Perceiver IO model .* got Linear"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")
    with pytest.raises(TypeError, match=r"export it with export_onnx_decoder\(model, directory\)"):
        export_onnx(clm(), tmp_path / "x.onnx")
    with pytest.raises(TypeError, match=r"got MaskedLanguageModel .*export_onnx\(model, path\)"):
        export_onnx_decoder(mlm(), tmp_path)
    with pytest.raises(ValueError, match=r"num_latents must be in \[1, 6\] \(max_latents\), got 7"):
        export_onnx_decoder(clm(), tmp_path, num_latents=7)
    with pytest.raises(ValueError, match="is a directory"):
        export_onnx(mlm(), tmp_path)
    with pytest.raises(ValueError, match="opset_version must be at least 18"):
        export_onnx(mlm(), tmp_path / "x.onnx", opset_version=11)


def test_missing_extra_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # the import fails as if not installed
    with pytest.raises(
        ImportError, match=r'needs the package .onnxscript.*pip install "perceiver-hf\[onnx\]"'
    ):
        export_onnx(mlm(), tmp_path / "x.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r'pip install "perceiver-hf\[onnx\]"'):
        OnnxCausalLanguageModel(tmp_path)
