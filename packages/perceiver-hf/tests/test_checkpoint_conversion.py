"""Lightning training checkpoints convert to 🤗 models; unsafe pickles are refused."""

import os
import pickle

import pytest
import torch
from transformers import AutoModelForCausalLM

import perceiver.hf  # noqa: F401
from perceiver.hf.text import clm, mlm
from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig


def lightning_checkpoint(path, task="text.clm"):
    config = CausalLanguageModelConfig(
        vocab_size=262,
        max_seq_len=32,
        max_latents=8,
        num_channels=32,
        num_heads=4,
        num_self_attention_layers=1,
    )
    backend = CausalLanguageModel(config)
    state = {f"backend_model.{k}": v for k, v in backend.state_dict().items()}
    torch.save(
        {
            "perceiver_task": task,
            "hyper_parameters": config.to_dict() | {"params": None},
            "state_dict": state,
        },
        path,
    )
    return backend


def test_lightning_checkpoint_converts_with_identical_outputs(tmp_path):
    backend = lightning_checkpoint(tmp_path / "last.ckpt").eval()
    clm.convert_checkpoint(
        save_dir=tmp_path / "model",
        ckpt_url=tmp_path / "last.ckpt",
        tokenizer_name="deepmind/language-perceiver",
    )
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "model").eval()
    ids = torch.randint(0, 262, (2, 20))
    torch.testing.assert_close(model(ids, prefix_len=12).logits, backend(ids, prefix_len=12))
    assert (tmp_path / "model" / "tokenizer_config.json").exists()


def test_a_checkpoint_of_another_task_is_refused(tmp_path):
    lightning_checkpoint(tmp_path / "clm.ckpt")
    with pytest.raises(ValueError, match=r"checkpoint of task 'text\.clm', not of task 'text\.mlm'"):
        mlm.convert_checkpoint(save_dir=tmp_path / "out", ckpt_url=tmp_path / "clm.ckpt")


def test_a_checkpoint_with_missing_weights_is_refused(tmp_path):
    lightning_checkpoint(tmp_path / "last.ckpt")
    ckpt = torch.load(tmp_path / "last.ckpt", weights_only=True)
    del ckpt["state_dict"][
        "backend_model.out_norm.weight"
        if "backend_model.out_norm.weight" in ckpt["state_dict"]
        else "backend_model.output_adapter.bias"
    ]
    torch.save(ckpt, tmp_path / "broken.ckpt")
    with pytest.raises(ValueError, match="missing keys"):
        clm.convert_checkpoint(save_dir=tmp_path / "out", ckpt_url=tmp_path / "broken.ckpt")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "evil.ckpt", "wb") as f:
        pickle.dump({"state_dict": _Exploit()}, f)
    with pytest.raises(ValueError, match="refusing to load"):
        clm.convert_checkpoint(save_dir=tmp_path / "out", ckpt_url=tmp_path / "evil.ckpt")
    assert not (tmp_path / "pwned").exists()


def test_image_classifier_checkpoint_converts_with_its_image_processor(tmp_path):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from perceiver.hf.vision import image_classifier
    from perceiver.model.core import ClassificationDecoderConfig
    from perceiver.model.vision.image_classifier import (
        ImageClassifier,
        ImageClassifierConfig,
        ImageEncoderConfig,
    )

    config = ImageClassifierConfig(
        encoder=ImageEncoderConfig(
            image_shape=(3, 16, 16),
            num_frequency_bands=4,
            num_cross_attention_heads=1,
            num_self_attention_heads=4,
            num_self_attention_layers_per_block=1,
        ),
        decoder=ClassificationDecoderConfig(
            num_classes=5, num_output_query_channels=32, num_cross_attention_heads=1
        ),
        num_latents=8,
        num_latent_channels=32,
    )
    backend = ImageClassifier(config).eval()
    state = {f"backend_model.{k}": v for k, v in backend.state_dict().items()}
    ckpt = {
        "perceiver_task": "vision.image_classifier",
        "hyper_parameters": config.to_dict(),
        "state_dict": state,
    }
    torch.save(ckpt, tmp_path / "last.ckpt")
    image_classifier.convert_checkpoint(save_dir=tmp_path / "model", ckpt_url=tmp_path / "last.ckpt")
    model = AutoModelForImageClassification.from_pretrained(tmp_path / "model").eval()
    pixels = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(model(pixels).logits, backend(pixels))
    size = AutoImageProcessor.from_pretrained(tmp_path / "model").size  # the output size of the processor
    assert (size.height, size.width) == (16, 16)


def test_import_registers_every_model_type_and_pipeline():
    import subprocess
    import sys

    code = (
        "import perceiver.hf\n"
        "from transformers import AutoConfig\n"
        "from transformers.models.auto.configuration_auto import CONFIG_MAPPING\n"
        "from transformers.pipelines import PIPELINE_REGISTRY\n"
        "types = [t for t in CONFIG_MAPPING.keys() if t.startswith('perceiver-')]\n"
        "assert len(types) == 7, types\n"
        "tasks = set(PIPELINE_REGISTRY.get_supported_tasks())\n"
        "assert {'optical-flow', 'multimodal-autoencoding', 'symbolic-audio-generation'} <= tasks\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
