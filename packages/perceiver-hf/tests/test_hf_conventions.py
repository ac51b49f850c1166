"""🤗 conventions of every wrapper: the model card, activation checkpointing, standard config
attributes, attention options, Auto-class resolution and the generation config."""

import dataclasses
import json
import re
import subprocess
import sys

import pytest
import torch
from transformers import AutoConfig, AutoModel, GenerationConfig

from perceiver.hf.audio.symbolic import PerceiverSymbolicAudioModel, PerceiverSymbolicAudioModelConfig
from perceiver.hf.multimodal import PerceiverMultimodalAutoencoder, PerceiverMultimodalAutoencoderConfig
from perceiver.hf.text.classifier import PerceiverTextClassifier, PerceiverTextClassifierConfig
from perceiver.hf.text.clm import PerceiverCausalLanguageModel, PerceiverCausalLanguageModelConfig
from perceiver.hf.text.mlm import PerceiverMaskedLanguageModel, PerceiverMaskedLanguageModelConfig
from perceiver.hf.vision import (
    OpticalFlowPerceiver,
    OpticalFlowPerceiverConfig,
    PerceiverImageClassifier,
    PerceiverImageClassifierConfig,
)
from perceiver.model.audio.symbolic import SymbolicAudioModelConfig
from perceiver.model.core import ClassificationDecoderConfig
from perceiver.model.multimodal.autoencoder import (
    MultimodalAutoencoderConfig,
    MultimodalDecoderConfig,
    MultimodalEncoderConfig,
)
from perceiver.model.text.classifier import TextClassifierConfig
from perceiver.model.text.clm import CausalLanguageModelConfig
from perceiver.model.text.mlm import MaskedLanguageModelConfig, TextDecoderConfig, TextEncoderConfig
from perceiver.model.vision.image_classifier import ImageClassifierConfig, ImageEncoderConfig
from perceiver.model.vision.optical_flow import (
    OpticalFlowConfig,
    OpticalFlowDecoderConfig,
    OpticalFlowEncoderConfig,
)

VOCAB = 50
ENCODER = dict(
    num_cross_attention_heads=1,
    num_self_attention_heads=2,
    num_self_attention_layers_per_block=2,
    num_self_attention_blocks=2,
    dropout=0.0,
)


def text_encoder() -> TextEncoderConfig:
    return TextEncoderConfig(vocab_size=VOCAB, max_seq_len=12, num_input_channels=16, **ENCODER)


def mlm_config():
    return MaskedLanguageModelConfig(
        encoder=text_encoder(),
        decoder=TextDecoderConfig(vocab_size=VOCAB, max_seq_len=12, num_cross_attention_heads=1),
        num_latents=4,
        num_latent_channels=16,
    )


def classifier_config():
    return TextClassifierConfig(
        encoder=text_encoder(),
        decoder=ClassificationDecoderConfig(
            num_classes=3, num_output_query_channels=16, num_cross_attention_heads=1
        ),
        num_latents=4,
        num_latent_channels=16,
    )


def clm_config(cls=CausalLanguageModelConfig):
    return cls(
        vocab_size=VOCAB,
        max_seq_len=16,
        max_latents=8,
        num_channels=16,
        num_heads=2,
        num_self_attention_layers=2,
        cross_attention_dropout=0.0,
    )


def image_config():
    return ImageClassifierConfig(
        encoder=ImageEncoderConfig(image_shape=(3, 8, 8), num_frequency_bands=2, **ENCODER),
        decoder=ClassificationDecoderConfig(
            num_classes=3, num_output_query_channels=16, num_cross_attention_heads=1
        ),
        num_latents=4,
        num_latent_channels=16,
    )


def flow_config():
    return OpticalFlowConfig(
        encoder=OpticalFlowEncoderConfig(
            image_shape=(8, 12), num_patch_hidden_channels=8, num_frequency_bands=2, **ENCODER
        ),
        decoder=OpticalFlowDecoderConfig(num_cross_attention_heads=1),
        num_latents=4,
        num_latent_channels=16,
    )


def multimodal_config():
    return MultimodalAutoencoderConfig(
        encoder=MultimodalEncoderConfig(
            num_frames=2,
            image_shape=(3, 8, 8),
            image_patch_size=4,
            image_num_frequency_bands=2,
            audio_samples_per_frame=16,
            audio_samples_per_patch=4,
            audio_num_frequency_bands=2,
            num_classes=3,
            **ENCODER,
        ),
        decoder=MultimodalDecoderConfig(num_cross_attention_heads=1, num_output_channels=16),
        num_latents=4,
        num_latent_channels=16,
    )


def text_inputs(batch: int = 2, n: int = 10) -> dict:
    return {"input_ids": torch.randint(6, VOCAB, (batch, n))}


# model class, config class, backend config, inputs, the Auto class that loads it
MODELS = {
    "mlm": (PerceiverMaskedLanguageModel, PerceiverMaskedLanguageModelConfig, mlm_config, text_inputs),
    "classifier": (PerceiverTextClassifier, PerceiverTextClassifierConfig, classifier_config, text_inputs),
    "clm": (PerceiverCausalLanguageModel, PerceiverCausalLanguageModelConfig, clm_config, text_inputs),
    "symbolic": (
        PerceiverSymbolicAudioModel,
        PerceiverSymbolicAudioModelConfig,
        lambda: clm_config(SymbolicAudioModelConfig),
        text_inputs,
    ),
    "image": (
        PerceiverImageClassifier,
        PerceiverImageClassifierConfig,
        image_config,
        lambda: {"pixel_values": torch.randn(2, 3, 8, 8)},
    ),
    "flow": (
        OpticalFlowPerceiver,
        OpticalFlowPerceiverConfig,
        flow_config,
        lambda: {"inputs": torch.randn(2, 2, 27, 8, 12)},
    ),
    "multimodal": (
        PerceiverMultimodalAutoencoder,
        PerceiverMultimodalAutoencoderConfig,
        multimodal_config,
        lambda: {
            "inputs": {
                "image": torch.randn(2, 2, 3, 8, 8),
                "audio": torch.randn(2, 32, 1),
                "label": torch.zeros(2, 3),
            }
        },
    ),
}


def build(kind: str, **config_kwargs):
    model_class, config_class, backend, _ = MODELS[kind]
    torch.manual_seed(0)
    return model_class(config_class(backend(), **config_kwargs))


def outputs_sum(output) -> torch.Tensor:
    logits = output.logits
    if isinstance(logits, dict):
        return sum((v.float() ** 2).mean() for v in logits.values())
    return (logits.float() ** 2).mean()


# ---------------------------------------------------------------------------- Auto classes


@pytest.mark.parametrize("kind", list(MODELS))
def test_auto_model_resolves_every_model_type(kind, tmp_path):
    model = build(kind)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded) is type(model)
    assert type(AutoConfig.from_pretrained(tmp_path)) is type(model.config)


# ---------------------------------------------------------------------------- model card


@pytest.mark.parametrize("kind", list(MODELS))
def test_save_pretrained_writes_a_model_card(kind, tmp_path):
    model = build(kind)
    model.save_pretrained(tmp_path / "my-model")
    card = (tmp_path / "my-model" / "README.md").read_text(encoding="utf-8")
    header = card.split("---")[1]
    assert "library_name: perceiver-hf" in header
    assert f"- {model.config.model_type}" in header
    assert "pip install perceiver-hf" in card
    assert "import perceiver.hf" in card
    assert f'{model.auto_class_name}.from_pretrained("{tmp_path / "my-model"}")' in card
    assert f"model type `{model.config.model_type}`" in card
    if model.pipeline_tag is not None:
        assert f"pipeline_tag: {model.pipeline_tag}" in header


def test_model_card_usage_example_runs(tmp_path):
    build("classifier").save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", card, flags=re.DOTALL).group(1)
    namespace: dict = {}
    exec(code.split("# or, with its preprocessor")[0], namespace)
    assert type(namespace["model"]) is PerceiverTextClassifier


def test_model_card_names_labels(tmp_path):
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    build("classifier", id2label=labels).save_pretrained(tmp_path)
    assert "labels (3): negative, neutral, positive" in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_an_existing_readme_is_kept_unless_overwrite_is_asked(tmp_path):
    (tmp_path / "README.md").write_text("my own card", encoding="utf-8")
    model = build("mlm")
    model.save_pretrained(tmp_path)
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == "my own card"
    model.save_pretrained(tmp_path, model_card="overwrite")
    assert "import perceiver.hf" in (tmp_path / "README.md").read_text(encoding="utf-8")
    model.save_pretrained(tmp_path / "none", model_card=False)
    assert not (tmp_path / "none" / "README.md").exists()
    with pytest.raises(ValueError, match="model_card must be True, False or 'overwrite', got 'yes'"):
        model.save_pretrained(tmp_path, model_card="yes")


def test_push_to_hub_uploads_our_card_and_keeps_a_remote_one(tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    uploads = []

    class Repo:
        repo_id = "user/tiny"

    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: Repo())
    monkeypatch.setattr(HfApi, "file_exists", lambda self, repo_id, filename, **kwargs: remote_card)

    def upload_folder(self, *, repo_id, folder_path, ignore_patterns=None, **kwargs):
        from pathlib import Path

        files = {
            p.name: p.read_text(encoding="utf-8") for p in Path(folder_path).iterdir() if p.suffix == ".md"
        }
        uploads.append((repo_id, files, ignore_patterns))

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    model = build("mlm")
    remote_card = False
    model.push_to_hub("user/tiny")
    repo_id, files, ignore = uploads[-1]
    assert repo_id == "user/tiny" and ignore is None
    assert 'AutoModelForMaskedLM.from_pretrained("user/tiny")' in files["README.md"]
    remote_card = True
    model.save_pretrained(tmp_path / "tiny", push_to_hub=True, repo_id="user/tiny")
    assert uploads[-1][2] == ["README.md"]  # the repository's own card is kept
    assert 'from_pretrained("user/tiny")' in (tmp_path / "tiny" / "README.md").read_text(encoding="utf-8")


def test_loading_without_import_perceiver_hf_is_explained(tmp_path):
    build("mlm").save_pretrained(tmp_path)
    script = (
        "from transformers import AutoModel\n"
        "try:\n"
        f"    AutoModel.from_pretrained({str(tmp_path)!r})\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    # transformers' own message names the model type; the card says what it means
    assert "perceiver-io-masked-language-model" in result.stdout
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "## Loading without `import perceiver.hf`" in card
    assert "trust_remote_code=True` does not help" in card


# ---------------------------------------------------------------------------- activation checkpointing


@pytest.mark.parametrize("kind", list(MODELS))
def test_gradient_checkpointing_enable_checkpoints_the_core_and_keeps_gradients(kind):
    model = build(kind).train()
    inputs = MODELS[kind][3]()
    assert not model.is_activation_checkpointing

    def gradients():
        model.zero_grad()
        torch.manual_seed(1)
        outputs_sum(model(**inputs)).backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    expected = gradients()
    calls = []
    from perceiver.model.core import layers

    original = layers.checkpoint
    layers.checkpoint = lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs)
    try:
        model.gradient_checkpointing_enable()
        assert model.is_activation_checkpointing
        actual = gradients()
    finally:
        layers.checkpoint = original
    assert calls, "no layer was checkpointed"
    assert actual.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], atol=1e-6, rtol=1e-5, msg=name)
    model.gradient_checkpointing_disable()
    assert not model.is_activation_checkpointing


def test_unsupported_checkpointing_options_are_refused():
    model = build("mlm")
    with pytest.raises(ValueError, match="every_n_layers=2 is not supported"):
        model.activation_checkpointing_enable(every_n_layers=2)
    with pytest.raises(ValueError, match="offload=True"):
        model.activation_checkpointing_enable(offload=True)
    with pytest.raises(ValueError, match="preserve_rng_state"):
        model.activation_checkpointing_enable({"preserve_rng_state": False})
    model.activation_checkpointing_enable({"use_reentrant": True})  # same gradients
    assert model.is_activation_checkpointing


def test_the_hook_trainer_calls_enables_checkpointing():
    # Trainer(args=TrainingArguments(gradient_checkpointing=True)) makes this call before training
    model = build("clm")
    model.activation_checkpointing_enable(
        activation_checkpointing_kwargs=None, every_n_layers=1, offload=False
    )
    assert model.is_activation_checkpointing
    assert all(m.activation_checkpointing for m in model._checkpointed_modules())


def test_trainer_with_gradient_checkpointing_trains(tmp_path):
    """A real ``transformers.Trainer`` run (accelerate is a test dependency): with
    ``gradient_checkpointing=True`` the core's layers are checkpointed, and training ends with the
    weights of the same run without checkpointing."""
    from torch.utils.data import Dataset
    from transformers import Trainer, TrainingArguments

    from perceiver.model.core import layers

    class Data(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            return {"input_ids": torch.randint(6, VOCAB, (10,), generator=g), "labels": torch.tensor(i % 3)}

    def train(gradient_checkpointing: bool):
        model = build("classifier")
        args = TrainingArguments(
            output_dir=str(tmp_path / str(gradient_checkpointing)),
            gradient_checkpointing=gradient_checkpointing,
            max_steps=3,
            per_device_train_batch_size=4,
            learning_rate=1e-2,
            report_to=[],
            use_cpu=True,
            save_strategy="no",
            seed=0,
        )
        calls = []
        original = layers.checkpoint
        layers.checkpoint = lambda *a, **kw: calls.append(1) or original(*a, **kw)
        try:
            Trainer(model=model, args=args, train_dataset=Data()).train()
        finally:
            layers.checkpoint = original
        return model, len(calls)

    before = build("classifier").state_dict()
    plain, plain_calls = train(gradient_checkpointing=False)
    checkpointed, calls = train(gradient_checkpointing=True)
    assert plain_calls == 0 and calls > 0, (plain_calls, calls)
    assert checkpointed.is_activation_checkpointing
    assert all(m.activation_checkpointing for m in checkpointed._checkpointed_modules())
    assert any(not torch.equal(before[n], p) for n, p in checkpointed.state_dict().items())  # it trained
    expected = plain.state_dict()
    for name, value in checkpointed.state_dict().items():
        torch.testing.assert_close(value, expected[name], atol=1e-5, rtol=1e-4, msg=name)


# ---------------------------------------------------------------------------- standard config attributes

STANDARD = {
    "mlm": dict(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        max_position_embeddings=12,
    ),
    "classifier": dict(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        max_position_embeddings=12,
    ),
    "clm": dict(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=16,
    ),
    "symbolic": dict(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=16,
    ),
    "image": dict(hidden_size=16, num_hidden_layers=4, num_attention_heads=2),
    "flow": dict(hidden_size=16, num_hidden_layers=4, num_attention_heads=2),
    "multimodal": dict(hidden_size=16, num_hidden_layers=4, num_attention_heads=2),
}


@pytest.mark.parametrize("kind", list(MODELS))
def test_configs_expose_standard_attributes_derived_from_the_backend_config(kind, tmp_path):
    _, config_class, backend, _ = MODELS[kind]
    config = config_class(backend())
    assert {name: getattr(config, name) for name in STANDARD[kind]} == STANDARD[kind]
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert not set(STANDARD[kind]) & set(saved), "derived attributes are not stored a second time"
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert {name: getattr(loaded, name) for name in STANDARD[kind]} == STANDARD[kind]


def test_changing_the_backend_config_changes_the_standard_attributes():
    config = PerceiverCausalLanguageModelConfig(clm_config())
    config.backend_config = dataclasses.replace(
        config.backend_config, vocab_size=77, num_heads=4, max_seq_len=32
    )
    assert (config.vocab_size, config.num_attention_heads, config.max_position_embeddings) == (77, 4, 32)
    config = PerceiverMaskedLanguageModelConfig(mlm_config())
    config.backend_config = dataclasses.replace(config.backend_config, num_latent_channels=32)
    assert config.hidden_size == 32


def test_standard_attributes_are_read_only():
    config = PerceiverMaskedLanguageModelConfig(mlm_config())
    with pytest.raises(
        AttributeError,
        match="vocab_size of PerceiverMaskedLanguageModelConfig is derived from backend_config",
    ):
        config.vocab_size = 10
    with pytest.raises(
        ValueError, match=re.escape("['hidden_size'] of PerceiverTextClassifierConfig are derived")
    ):
        PerceiverTextClassifierConfig(classifier_config(), hidden_size=8)


# ---------------------------------------------------------------------------- attention options


@pytest.mark.parametrize("kind", ["mlm", "clm", "image"])
def test_eager_attention_is_refused_and_sdpa_accepted(kind, tmp_path):
    model = build(kind)
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="does not support attn_implementation='eager'"):
        AutoModel.from_pretrained(tmp_path, attn_implementation="eager")
    loaded = AutoModel.from_pretrained(tmp_path, attn_implementation="sdpa")
    assert loaded.config._attn_implementation == "sdpa"
    with pytest.raises(ValueError, match="does not support attn_implementation='eager'"):
        loaded.set_attn_implementation("eager")


@pytest.mark.parametrize("name", ["output_attentions", "output_hidden_states"])
def test_output_attentions_and_hidden_states_are_refused(name, tmp_path):
    model = build("classifier")
    with pytest.raises(ValueError, match=f"does not return {name.removeprefix('output_')}: {name}=True"):
        model(**text_inputs(), **{name: True})
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=f"the config sets {name}=True"):
        AutoModel.from_pretrained(tmp_path, **{name: True})


# ---------------------------------------------------------------------------- generation config


@pytest.mark.parametrize("kind", ["clm", "symbolic"])
def test_generation_config_stores_num_latents_and_special_tokens(kind, tmp_path):
    model = build(kind, pad_token_id=0, eos_token_id=2, bos_token_id=1).eval()
    model.generation_config.num_latents = 3
    model.save_pretrained(tmp_path)
    stored = json.loads((tmp_path / "generation_config.json").read_text())
    assert (stored["num_latents"], stored["pad_token_id"], stored["eos_token_id"]) == (3, 0, 2)
    assert GenerationConfig.from_pretrained(tmp_path).num_latents == 3
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert (loaded.config.pad_token_id, loaded.config.eos_token_id, loaded.config.bos_token_id) == (0, 2, 1)
    assert loaded.generation_config.num_latents == 3


def test_generate_uses_the_stored_num_latents(tmp_path):
    model = build("clm").eval()
    prompt = torch.randint(6, VOCAB, (1, 6))
    options = dict(
        max_new_tokens=3, do_sample=False, pad_token_id=0, output_logits=True, return_dict_in_generate=True
    )

    def logits(m, **kwargs):
        with torch.no_grad():
            return torch.stack(m.generate(prompt, **options, **kwargs).logits)

    by_argument = {n: logits(model, num_latents=n) for n in (1, 5)}
    assert not torch.allclose(by_argument[1], by_argument[5], atol=1e-3), (
        "the test needs num_latents to matter"
    )
    model.generation_config.num_latents = 5
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(logits(loaded), by_argument[5], atol=1e-6, rtol=0)
    # an argument still wins over the stored default
    torch.testing.assert_close(logits(loaded, num_latents=1), by_argument[1], atol=1e-6, rtol=0)


def test_generate_uses_the_configs_eos_id():
    model = build("clm").eval()
    prompt = torch.randint(6, VOCAB, (1, 6))
    with torch.no_grad():
        free = model.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0)
    first = int(free[0, 6])
    model = build("clm", eos_token_id=first, pad_token_id=0).eval()
    with torch.no_grad():
        stopped = model.generate(prompt, max_new_tokens=6, do_sample=False)
    assert stopped.shape[1] == 7 and int(stopped[0, -1]) == first


def test_special_token_ids_outside_the_vocabulary_are_refused():
    with pytest.raises(
        ValueError, match=re.escape(f"eos_token_id (50) is outside the vocabulary [0, {VOCAB})")
    ):
        PerceiverCausalLanguageModelConfig(clm_config(), eos_token_id=VOCAB)


def test_a_converted_training_checkpoint_keeps_its_tokenizers_special_ids(tmp_path):
    from transformers import PerceiverTokenizer

    from perceiver.hf.text.clm import convert_checkpoint
    from perceiver.model.text.clm import CausalLanguageModel

    backend = clm_config()
    backend = dataclasses.replace(backend, vocab_size=262)
    state = {f"backend_model.{k}": v for k, v in CausalLanguageModel(backend).state_dict().items()}
    payload = {
        "perceiver_task": "text.clm",
        "hyper_parameters": backend.to_dict() | {"params": None},
        "state_dict": state,
    }
    torch.save(payload, tmp_path / "last.ckpt")
    convert_checkpoint(
        tmp_path / "model", tmp_path / "last.ckpt", tokenizer_name="deepmind/language-perceiver"
    )
    tokenizer = PerceiverTokenizer()
    stored = json.loads((tmp_path / "model" / "generation_config.json").read_text())
    expected = (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
    assert (stored["pad_token_id"], stored["bos_token_id"], stored["eos_token_id"]) == expected
    assert stored["num_latents"] == 1
    config = AutoConfig.from_pretrained(tmp_path / "model")
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == expected
    assert "import perceiver.hf" in (tmp_path / "model" / "README.md").read_text(encoding="utf-8")
