"""krasserm/perceiver-io 0.11's Lightning checkpoints load into our Lit* wrappers with identical outputs.

The checkpoints and reference outputs in tests/data/legacy were written by perceiver-io 0.11's
own code (tests/scripts/make_legacy_checkpoints.py): one training step of each of its Lit*
wrappers, ``Trainer.save_checkpoint``, and its core model's outputs on a fixed input.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from perceiver.lightning.audio.symbolic import LitSymbolicAudioModel
from perceiver.lightning.text.classifier import LitTextClassifier, TextClassifierEncoderConfig
from perceiver.lightning.text.clm import LitCausalLanguageModel
from perceiver.lightning.text.mlm import LitMaskedLanguageModel
from perceiver.lightning.vision.image_classifier import LitImageClassifier
from perceiver.model.core.checkpoint import legacy_backend, legacy_model_config, load_checkpoint

DATA = Path(__file__).parent / "data" / "legacy"
WRAPPERS = {
    "text.mlm": LitMaskedLanguageModel,
    "text.classifier": LitTextClassifier,
    "text.clm": LitCausalLanguageModel,
    "audio.symbolic": LitSymbolicAudioModel,
    "vision.image_classifier": LitImageClassifier,
}
TOL = {"rtol": 1e-5, "atol": 1e-5}


def _outputs(task: str, backend: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(our outputs, perceiver-io 0.11's outputs) on the reference input."""
    reference = torch.load(DATA / f"{task}.reference.pt", weights_only=True)
    x, pad_mask = reference["input"], reference.get("pad_mask")
    backend.eval()
    with torch.no_grad():
        if task in ("text.clm", "audio.symbolic"):
            output = backend(x, prefix_len=x.shape[1] - backend.max_latents, pad_mask=pad_mask)
        elif task == "vision.image_classifier":
            output = backend(x.permute(0, 3, 1, 2))  # perceiver-io 0.11 took channels-last images
        else:
            output = backend(x, pad_mask=pad_mask)
    return output, reference["output"]


@pytest.mark.parametrize("task", sorted(WRAPPERS))
def test_load_from_checkpoint_gives_identical_outputs(task: str):
    model = WRAPPERS[task].load_from_checkpoint(DATA / f"{task}.ckpt")
    output, expected = _outputs(task, model.backend_model)
    torch.testing.assert_close(output, expected, **TOL)
    assert model.hparams.params is None


@pytest.mark.parametrize("task", sorted(WRAPPERS))
def test_params_accepts_a_legacy_checkpoint(task: str):
    config, _ = legacy_backend(load_checkpoint(DATA / f"{task}.ckpt"), task)
    torch.manual_seed(0)
    model = WRAPPERS[task].create(config, params=str(DATA / f"{task}.ckpt"))
    output, expected = _outputs(task, model.backend_model)
    torch.testing.assert_close(output, expected, **TOL)


@pytest.mark.parametrize("task", sorted(WRAPPERS))
def test_params_accepts_a_legacy_hf_directory(task: str, tmp_path: Path):
    """perceiver-io 0.11's 🤗 format (config.json with model_config, backend_model. weights) without perceiver-hf."""
    checkpoint = load_checkpoint(DATA / f"{task}.ckpt")
    model_config = legacy_model_config(checkpoint, task)
    model_config.get("encoder", {}).pop("params", None)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "legacy", "model_config": model_config}))
    state = {"backend_model." + k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items()}
    torch.save(state, tmp_path / "pytorch_model.bin")
    config, _ = legacy_backend(checkpoint, task)
    model = WRAPPERS[task].create(config, params=str(tmp_path))
    output, expected = _outputs(task, model.backend_model)
    torch.testing.assert_close(output, expected, **TOL)


def test_params_of_another_architecture_are_refused_naming_the_mismatch():
    config, _ = legacy_backend(load_checkpoint(DATA / "text.clm.ckpt"), "text.clm")
    wider = type(config).from_dict({**config.to_dict(), "num_channels": 64})
    with pytest.raises(ValueError, match=r"text\.clm\.ckpt.*num_channels=32 \(the model has 64\).*shapes"):
        LitCausalLanguageModel.create(wider, params=str(DATA / "text.clm.ckpt"))
    # same shapes, different function: perceiver-io 0.11's latent norm rule
    ours = type(config).from_dict({**config.to_dict(), "latent_kv_norm": "kv"})
    with pytest.raises(ValueError, match=r"latent_kv_norm='q' \(the model has 'kv'\)"):
        LitCausalLanguageModel.create(ours, params=str(DATA / "text.clm.ckpt"))


def test_checkpoint_of_another_task_is_refused():
    with pytest.raises(ValueError, match=r"text\.mlm\.ckpt.*of 'text\.mlm', not of task 'text\.classifier'"):
        LitTextClassifier.load_from_checkpoint(DATA / "text.mlm.ckpt")
    with pytest.raises(ValueError, match=r"vision\.image_classifier\.ckpt.*not of task 'text\.clm'"):
        LitCausalLanguageModel.create(
            legacy_backend(load_checkpoint(DATA / "text.clm.ckpt"), "text.clm")[0],
            params=str(DATA / "vision.image_classifier.ckpt"),
        )


def test_encoder_params_start_the_classifier_from_a_legacy_mlm():
    mlm_config, mlm_state = legacy_backend(load_checkpoint(DATA / "text.mlm.ckpt"), "text.mlm")
    clf_config, _ = legacy_backend(load_checkpoint(DATA / "text.classifier.ckpt"), "text.classifier")
    encoder = TextClassifierEncoderConfig(**clf_config.encoder.to_dict(), params=str(DATA / "text.mlm.ckpt"))
    model = LitTextClassifier(
        encoder=encoder, decoder=clf_config.decoder, num_latents=8, num_latent_channels=24
    )
    for key, value in model.backend_model.encoder.state_dict().items():
        torch.testing.assert_close(value, mlm_state[f"encoder.{key}"], rtol=0, atol=0)
    assert "params" not in model.hparams.encoder and model.hparams.encoder_params == str(
        DATA / "text.mlm.ckpt"
    )
    assert mlm_config.encoder == clf_config.encoder
    with pytest.raises(ValueError, match="name different weights"):
        LitTextClassifier(encoder=encoder, decoder=clf_config.decoder, encoder_params="other.ckpt")


def test_hub_id_without_perceiver_hf_says_what_to_install():
    if importlib.util.find_spec("perceiver.hf") is not None:
        pytest.skip("perceiver-hf is installed: Hub ids go to it")
    config, _ = legacy_backend(load_checkpoint(DATA / "text.clm.ckpt"), "text.clm")
    with pytest.raises(FileNotFoundError, match="perceiver-hf"):
        LitCausalLanguageModel.create(config, params="krasserm/perceiver-ar-clm-base")
