"""Official-model conversion (language-perceiver), the text wrappers and their pipelines, offline."""

import pytest
import torch
from torch.testing import assert_close
from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    PerceiverConfig,
    PerceiverForMaskedLM,
    PerceiverForSequenceClassification,
    PerceiverTokenizer,
    pipeline,
)

import perceiver.hf
from perceiver.hf._convert import convert_state_dict
from perceiver.hf.text import mlm
from perceiver.hf.text.classifier import PerceiverTextClassifier, PerceiverTextClassifierConfig
from perceiver.model.core import ClassificationDecoderConfig
from perceiver.model.text.classifier import TextClassifierConfig
from perceiver.model.text.mlm import TextEncoderConfig

TINY = dict(
    num_latents=8,
    d_latents=64,
    d_model=48,
    num_self_attends_per_block=2,
    num_self_attention_heads=4,
    num_cross_attention_heads=4,
    max_position_embeddings=40,
)


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("language-perceiver")
    PerceiverForMaskedLM(PerceiverConfig(qk_channels=32, v_channels=64, **TINY)).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def converted_dir(source_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("converted")
    mlm.convert_model(save_dir=path, source_repo_id=source_dir)
    return path


@pytest.mark.parametrize("qk_v", [dict(qk_channels=32, v_channels=64), dict()])
def test_converted_language_perceiver_reproduces_transformers(qk_v, tmp_path):
    torch.manual_seed(1)
    source = PerceiverForMaskedLM(PerceiverConfig(**qk_v, **TINY)).eval()
    source.save_pretrained(tmp_path / "source")
    mlm.convert_model(save_dir=tmp_path / "ours", source_repo_id=tmp_path / "source")
    ours = AutoModelForMaskedLM.from_pretrained(tmp_path / "ours").eval()
    assert type(ours) is mlm.PerceiverMaskedLanguageModel
    assert type(ours.backend_model).__name__ == "MaskedLanguageModel"

    ids = torch.randint(0, 262, (3, 29))
    attention_mask = torch.ones_like(ids)
    attention_mask[1, 20:] = 0
    with torch.no_grad():
        expected = source(inputs=ids, attention_mask=attention_mask).logits[
            :, :29
        ]  # it decodes all 40 positions
        actual = ours(ids, attention_mask=attention_mask).logits
    assert (actual - expected).abs().max() <= 1e-4
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in source.parameters())


def test_backend_config_round_trips_through_save_pretrained(converted_dir):
    config = AutoConfig.from_pretrained(converted_dir)
    assert config.model_type == "perceiver-io-masked-language-model"
    model = AutoModelForMaskedLM.from_pretrained(converted_dir)
    assert model.backend_model.config == config.backend_config
    assert (converted_dir / "model.safetensors").exists()


def test_fill_mask_pipeline_on_a_converted_model(converted_dir):
    fill = pipeline("fill-mask", model=str(converted_dir))
    predictions = fill("The sky is[MASK]blue", top_k=3)
    assert len(predictions) == 3 and all("sequence" in p and p["token"] < 262 for p in predictions)


def test_a_source_of_the_wrong_class_is_refused(tmp_path):
    PerceiverForSequenceClassification(PerceiverConfig(**TINY)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"PerceiverForSequenceClassification.*PerceiverForMaskedLM"):
        mlm.convert_model(save_dir=tmp_path / "out", source_repo_id=tmp_path)
    with pytest.raises(ValueError, match="expected a PerceiverForMaskedLM"):
        mlm.convert_source_model(PerceiverForSequenceClassification(PerceiverConfig(**TINY)))


def test_missing_and_unmapped_keys_are_errors_that_name_them(source_dir):
    source = PerceiverForMaskedLM.from_pretrained(source_dir)
    state = source.state_dict()
    table = mlm._key_table(source.config)
    target = mlm.PerceiverMaskedLanguageModel(
        mlm.PerceiverMaskedLanguageModelConfig(mlm.convert_config(source.config))
    ).backend_model.state_dict()
    incomplete = {k: v for k, v in state.items() if k != "embedding_decoder.bias"}
    with pytest.raises(
        ValueError, match=r"target keys the source does not provide: \['decoder.output_adapter.bias'\]"
    ):
        convert_state_dict(incomplete, table, target.keys())
    with pytest.raises(ValueError, match=r"source keys without a mapping: \['perceiver.extra.weight'\]"):
        convert_state_dict(state | {"perceiver.extra.weight": torch.zeros(1)}, table, target.keys())


def test_text_classifier_save_load_and_pipeline(tmp_path):
    backend = TextClassifierConfig(
        encoder=TextEncoderConfig(
            vocab_size=262, max_seq_len=64, num_input_channels=32, num_self_attention_layers_per_block=1
        ),
        decoder=ClassificationDecoderConfig(num_classes=2, num_output_query_channels=32),
        num_latents=8,
        num_latent_channels=32,
    )
    model = PerceiverTextClassifier(
        PerceiverTextClassifierConfig(
            backend, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1}
        )
    ).eval()
    model.save_pretrained(tmp_path)
    PerceiverTokenizer(model_max_length=64).save_pretrained(tmp_path)
    restored = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, 262, (2, 30))
    assert_close(restored(ids).logits, model(ids).logits)
    classify = pipeline("text-classification", model=str(tmp_path))
    assert classify("a fine film")[0]["label"] in {"negative", "positive"}


def test_utf8_bytes_tokenizer_resolves_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tokenizer = perceiver.hf.load_tokenizer("deepmind/language-perceiver")
    assert isinstance(tokenizer, PerceiverTokenizer)
    assert tokenizer.decode(tokenizer("héllo")["input_ids"], skip_special_tokens=True) == "héllo"
    with pytest.raises(OSError):
        perceiver.hf.load_tokenizer("no-such-org/no-such-tokenizer")


def test_from_pretrained_loads_in_a_requested_dtype(converted_dir):
    full = AutoModelForMaskedLM.from_pretrained(converted_dir).eval()
    half = AutoModelForMaskedLM.from_pretrained(converted_dir, dtype=torch.bfloat16).eval()
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
    ids = torch.randint(0, 262, (1, 12))
    with torch.no_grad():
        logits = half(ids).logits
    assert logits.dtype == torch.bfloat16
    assert_close(logits.float(), full(ids).logits, atol=0.05, rtol=0.05)
