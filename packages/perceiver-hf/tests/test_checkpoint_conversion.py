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


def _image_classifier_checkpoint(path):
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
    torch.save(ckpt, path)
    return backend


def test_image_classifier_checkpoint_converts_with_its_image_processor(tmp_path):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from perceiver.hf.vision import image_classifier

    backend = _image_classifier_checkpoint(tmp_path / "last.ckpt")
    image_classifier.convert_checkpoint(save_dir=tmp_path / "model", ckpt_url=tmp_path / "last.ckpt")
    model = AutoModelForImageClassification.from_pretrained(tmp_path / "model").eval()
    pixels = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(model(pixels).logits, backend(pixels))
    size = AutoImageProcessor.from_pretrained(tmp_path / "model").size  # the output size of the processor
    assert (size.height, size.width) == (16, 16)


def test_perceiver_io_label_arguments_name_the_classes(tmp_path, hub_calls):
    """perceiver-io 0.11's convert_checkpoint(save_dir, ckpt_url, image_processor, id2label, label2id)."""
    from transformers import AutoConfig

    from perceiver.hf.vision import image_classifier

    _image_classifier_checkpoint(tmp_path / "last.ckpt")
    id2label = {i: f"class {i}" for i in range(5)}
    label2id = {name: i for i, name in id2label.items()}
    image_classifier.convert_checkpoint(
        tmp_path / "a", tmp_path / "last.ckpt", id2label=id2label, label2id=label2id
    )
    assert AutoConfig.from_pretrained(tmp_path / "a").id2label == id2label
    image_classifier.convert_checkpoint(tmp_path / "b", tmp_path / "last.ckpt", label2id=label2id)
    assert AutoConfig.from_pretrained(tmp_path / "b").id2label == id2label
    with pytest.raises(ValueError, match=r"label2id .* is not the inverse of id2label"):
        image_classifier.convert_checkpoint(
            tmp_path / "c", tmp_path / "last.ckpt", id2label=id2label, label2id={"class 0": 1}
        )
    with pytest.raises(ValueError, match=r"class_names or perceiver-io 0\.11.s id2label"):
        image_classifier.convert_checkpoint(
            tmp_path / "c", tmp_path / "last.ckpt", id2label=id2label, class_names=list("abcde")
        )
    # 0.11 took the image processor as the third argument: here that is push_to_hub
    processor = image_classifier.image_processor((16, 16))
    with pytest.raises(TypeError, match=r"push_to_hub must be True or False.*image_processor=\.\.\."):
        image_classifier.convert_checkpoint(tmp_path / "c", tmp_path / "last.ckpt", processor)
    assert not hub_calls


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


@pytest.fixture
def hub_calls(monkeypatch):
    """The 🤗 Hub API calls of a test, recorded instead of sent."""
    from types import SimpleNamespace

    from huggingface_hub import HfApi

    calls = []

    def recorder(name, result=None):
        def method(self, *args, **kwargs):
            calls.append((name, args, kwargs))
            return result(*args, **kwargs) if callable(result) else result

        return method

    monkeypatch.setattr(
        HfApi, "create_repo", recorder("create_repo", lambda repo_id, **kw: SimpleNamespace(repo_id=repo_id))
    )
    monkeypatch.setattr(HfApi, "file_exists", recorder("file_exists", False))
    monkeypatch.setattr(HfApi, "upload_folder", recorder("upload_folder"))
    monkeypatch.setattr(HfApi, "create_commit", recorder("create_commit"))
    monkeypatch.setattr(HfApi, "create_branch", recorder("create_branch"))
    return calls


@pytest.mark.parametrize("module", [clm, mlm])
def test_push_to_hub_options_of_perceiver_io_reach_the_hub(module, tmp_path, hub_calls):
    """perceiver-io 0.11's convert_checkpoint(..., **kwargs) passed repo_id, commit_message, ...
    to save_pretrained(push_to_hub=True): the model and its tokenizer are pushed with them."""
    task = "text.clm" if module is clm else "text.mlm"
    if module is clm:
        lightning_checkpoint(tmp_path / "last.ckpt", task)
    else:
        _mlm_checkpoint(tmp_path / "last.ckpt")
    module.convert_checkpoint(
        tmp_path / "model",
        tmp_path / "last.ckpt",
        tokenizer_name="deepmind/language-perceiver",
        push_to_hub=True,
        repo_id="someone/converted",
        commit_message="Convert a perceiver-io checkpoint",
        private=True,
        token="hf_token",
    )
    repos = [(args, kwargs) for name, args, kwargs in hub_calls if name == "create_repo"]
    commits = [kwargs for name, _, kwargs in hub_calls if name in ("upload_folder", "create_commit")]
    assert len(repos) >= 2 and len(commits) >= 2  # the model and its tokenizer
    for args, kwargs in repos:
        assert (args[0] if args else kwargs["repo_id"]) == "someone/converted"
        assert kwargs["private"] is True and kwargs["token"] == "hf_token"
    for kwargs in commits:
        assert kwargs["repo_id"] == "someone/converted"
        assert kwargs["commit_message"] == "Convert a perceiver-io checkpoint"
        assert kwargs["token"] == "hf_token"
    assert (tmp_path / "model" / "model.safetensors").is_file()


def _mlm_checkpoint(path):
    from perceiver.model.text.mlm import (
        MaskedLanguageModel,
        MaskedLanguageModelConfig,
        TextDecoderConfig,
        TextEncoderConfig,
    )

    config = MaskedLanguageModelConfig(
        encoder=TextEncoderConfig(vocab_size=262, max_seq_len=16, num_input_channels=16),
        decoder=TextDecoderConfig(vocab_size=262, max_seq_len=16),
        num_latents=4,
        num_latent_channels=16,
    )
    backend = MaskedLanguageModel(config)
    state = {f"backend_model.{k}": v for k, v in backend.state_dict().items()}
    hparams = config.to_dict() | {"params": None}
    torch.save({"perceiver_task": "text.mlm", "hyper_parameters": hparams, "state_dict": state}, path)


def test_push_to_hub_options_without_push_to_hub_are_refused(tmp_path, hub_calls):
    lightning_checkpoint(tmp_path / "last.ckpt")
    with pytest.raises(
        ValueError, match=r"commit_message is an option of pushing .* without push_to_hub=True"
    ):
        clm.convert_checkpoint(tmp_path / "model", tmp_path / "last.ckpt", commit_message="x")
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['commit_msg'\].*commit_message"):
        clm.convert_checkpoint(tmp_path / "model", tmp_path / "last.ckpt", push_to_hub=True, commit_msg="x")
    from perceiver.hf.vision import optical_flow

    with pytest.raises(ValueError, match="repo_id is an option of pushing"):
        optical_flow.convert_checkpoint(tmp_path / "flow", tmp_path / "last.ckpt", repo_id="someone/flow")
    assert not hub_calls and not (tmp_path / "model").exists()


def test_convert_model_takes_the_push_options_of_perceiver_io(tmp_path, hub_calls):
    """perceiver-io 0.11's examples/convert.py passed push_to_hub and commit_message to convert_model."""
    from transformers import PerceiverConfig, PerceiverForMaskedLM

    source = tmp_path / "language-perceiver"
    tiny = dict(
        num_latents=8, d_latents=64, d_model=48, num_self_attends_per_block=1, max_position_embeddings=40
    )
    PerceiverForMaskedLM(PerceiverConfig(qk_channels=32, v_channels=64, **tiny)).save_pretrained(source)
    with pytest.raises(ValueError, match="commit_message is an option of pushing"):
        mlm.convert_model(tmp_path / "model", source, commit_message="Convert")
    assert not hub_calls
    mlm.convert_model(
        tmp_path / "model",
        source,
        push_to_hub=True,
        repo_id="someone/mlm",
        commit_message="Convert",
        token="t",
    )
    commits = [kwargs for name, _, kwargs in hub_calls if name in ("upload_folder", "create_commit")]
    assert len(commits) == 2  # the model and its tokenizer
    assert all(c["repo_id"] == "someone/mlm" and c["commit_message"] == "Convert" for c in commits)
    assert all(c["token"] == "t" for c in commits)
