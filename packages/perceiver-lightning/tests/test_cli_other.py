"""Image classification, optical flow and symbolic audio CLIs on the sample data ($PERCEIVER_DATA_DIR)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from lightning_helpers import TRAINER_ARGS, require_shared_data, run_checkpoints, run_cli


def _checkpoint(tmp_path):
    ckpt, _ = run_checkpoints(tmp_path / "logs" / "lightning_logs" / "version_0")
    return torch.load(ckpt, weights_only=True)


def test_image_classifier_fit_on_mnist(tmp_path):
    mnist = require_shared_data("images", "mnist")
    run_cli(
        "perceiver.scripts.vision.image_classifier",
        "fit",
        "--data=MNISTDataModule",
        f"--data.data_dir={mnist}",
        "--data.valid_size=100",
        "--data.batch_size=8",
        "--data.num_workers=0",
        "--model.num_latents=8",
        "--model.num_latent_channels=32",
        "--model.encoder.num_frequency_bands=4",
        "--model.encoder.num_self_attention_layers_per_block=1",
        "--model.encoder.num_cross_attention_heads=1",
        "--model.encoder.num_self_attention_heads=4",
        "--model.decoder.num_cross_attention_heads=1",
        "--model.decoder.num_output_query_channels=32",
        "--optimizer=SGD",
        "--optimizer.lr=0.01",
        *TRAINER_ARGS,
        cwd=tmp_path,
    )
    checkpoint = _checkpoint(tmp_path)
    assert checkpoint["hyper_parameters"]["encoder"]["image_shape"] == [1, 28, 28]  # linked, channels first
    assert checkpoint["perceiver_task"] == "vision.image_classifier"


def test_optical_flow_fit_on_middlebury(tmp_path):
    root = require_shared_data("optical-flow", "middlebury-rubberwhale")
    run_cli(
        "perceiver.scripts.vision.optical_flow",
        "fit",
        "--data=OpticalFlowDataModule",
        f"--data.root={root}",
        "--model.encoder.image_shape=[16,24]",
        "--model.encoder.num_patch_hidden_channels=16",
        "--model.encoder.num_frequency_bands=4",
        "--model.encoder.num_self_attention_layers_per_block=1",
        "--model.encoder.num_cross_attention_heads=1",
        "--model.encoder.num_self_attention_heads=2",
        "--model.decoder.num_cross_attention_heads=1",
        "--model.num_latents=8",
        "--model.num_latent_channels=32",
        *TRAINER_ARGS,
        cwd=tmp_path,
    )
    assert _checkpoint(tmp_path)["perceiver_task"] == "vision.optical_flow"


def test_symbolic_audio_fit_with_midi_sample(tmp_path):
    pytest.importorskip("pretty_midi", reason="perceiver-data's audio extra (pretty-midi) is not installed")
    midi = require_shared_data("midi", "piano-midi-de")
    prompt = require_shared_data("midi", "misc", "krasserm_audio_prompt_1.mid")
    run_cli(
        "perceiver.scripts.audio.symbolic",
        "fit",
        "--data=MidiDataModule",
        f"--data.data_dir={midi}",
        f"--data.dataset_dir={tmp_path / 'cache'}",
        "--data.max_seq_len=64",
        "--data.batch_size=4",
        "--data.num_workers=0",
        "--model.max_latents=16",
        "--model.num_channels=32",
        "--model.num_heads=4",
        "--model.num_self_attention_layers=1",
        f"--model.validation_sample_prompt={prompt}",
        "--model.validation_sample_num_tokens=16",
        *TRAINER_ARGS,
        cwd=tmp_path,
    )
    assert _checkpoint(tmp_path)["perceiver_task"] == "audio.symbolic"
    (sample,) = (tmp_path / "logs" / "lightning_logs" / "version_0" / "samples").glob("*.mid")
    assert sample.stat().st_size > 0


def test_every_data_module_of_perceiver_data_resolves_by_class_name():
    """--data=<ClassName> resolves a class only if its module was imported: the scripts import
    DATA_MODULES, and perceiver-data's lazy packages must not hide a data module from them. Run
    in a fresh interpreter, so that imports of other tests cannot mask a missing one."""
    pytest.importorskip("perceiver.data", reason="perceiver-data is not installed")
    code = textwrap.dedent(
        """
        import pytorch_lightning as pl
        from perceiver.scripts.cli import DATA_MODULES, import_optional

        import_optional(*DATA_MODULES)
        seen, todo = set(), [pl.LightningDataModule]
        while todo:
            for sub in todo.pop().__subclasses__():
                seen.add(sub.__name__)
                todo.append(sub)
        print(" ".join(sorted(seen)))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=900, check=True
    )
    names = set(out.stdout.split())
    expected = {"TextDataModule", "MNISTDataModule", "ImageNetDataModule", "OpticalFlowDataModule"}
    expected |= {"MidiDataModule", "MultimodalDataModule"}
    assert expected <= names, f"not importable by class name: {sorted(expected - names)}"
