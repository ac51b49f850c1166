"""perceiver-io 0.11's training command lines (its examples/training/*/train.sh) run unchanged.

Each test takes the options of one of its scripts as they are, and appends only what makes
the run tiny and local: local data files, small sizes where the command leaves the model at
its (large) defaults, one step on the CPU. The checks are the defaults those commands rely on:
the architecture of perceiver-io 0.11's script, ``data.num_classes`` linked to the decoder,
``--optimizer=Adam`` with Adam's own defaults, the learning rate schedule and strategy names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning_helpers import require_shared_data, run_checkpoints, run_cli

TINY_TRAINER = (
    "--trainer.accelerator=cpu",
    "--trainer.devices=1",
    "--trainer.max_steps=1",
    "--trainer.limit_train_batches=1",
    "--trainer.limit_val_batches=1",
    "--trainer.num_sanity_val_steps=0",
    "--trainer.enable_model_summary=false",
    "--trainer.precision=32",
)

# perceiver-io 0.11's command lines, options as in its scripts (Hub ids and GPU settings are
# overridden by the options appended in the tests)
CLM = """--model.max_latents=512 --model.cross_attention_dropout=0.5 --model.post_attention_dropout=0.0
--data=WikiTextDataModule --data.tokenizer=deepmind/language-perceiver --data.add_special_tokens=false
--data.max_seq_len=4096 --data.task=clm --data.batch_size=24 --data.padding_side=left
--data.random_train_shift=true --optimizer=Adam --optimizer.lr=2e-4 --lr_scheduler.warmup_steps=200
--trainer.max_steps=20000 --trainer.accelerator=gpu --trainer.devices=2 --trainer.val_check_interval=0.5
--trainer.gradient_clip_val=0.5 --trainer.accumulate_grad_batches=2 --trainer.logger=TensorBoardLogger
--trainer.logger.save_dir=logs --trainer.logger.name=clm"""
IMG_CLF = """--model.num_latents=32 --model.num_latent_channels=128 --model.encoder.num_frequency_bands=32
--model.encoder.num_cross_attention_layers=2 --model.encoder.num_self_attention_blocks=3
--model.encoder.num_self_attention_layers_per_block=3 --model.encoder.first_self_attention_block_shared=false
--model.encoder.dropout=0.1 --model.encoder.init_scale=0.1 --model.decoder.num_output_query_channels=128
--model.decoder.dropout=0.1 --model.decoder.init_scale=0.1 --data=MNISTDataModule --data.batch_size=128
--optimizer=AdamW --optimizer.lr=1e-3 --lr_scheduler.warmup_steps=500 --trainer.accelerator=gpu
--trainer.devices=2 --trainer.max_epochs=30 --trainer.strategy=ddp_static_graph
--trainer.logger=TensorBoardLogger --trainer.logger.save_dir=logs --trainer.logger.name=img_clf"""
MLM = """--model.activation_checkpointing=true --data=ImdbDataModule
--data.tokenizer=krasserm/perceiver-io-mlm --data.add_special_tokens=true --data.static_masking=false
--data.max_seq_len=2048 --data.batch_size=32 --optimizer=AdamW --optimizer.lr=1e-5
--lr_scheduler.warmup_steps=1000 --trainer.max_epochs=12 --trainer.accelerator=gpu --trainer.precision=16
--trainer.devices=2 --trainer.log_every_n_steps=20 --trainer.logger=TensorBoardLogger
--trainer.logger.save_dir=logs --trainer.logger.name=mlm"""
TXT_CLF_DEC = """--model.encoder.freeze=true --model.encoder.dropout=0.0 --model.decoder.dropout=0.1
--data=ImdbDataModule --data.tokenizer=krasserm/perceiver-io-mlm --data.add_special_tokens=true
--data.max_seq_len=2048 --data.task=clf --data.batch_size=64 --optimizer=AdamW --optimizer.lr=1e-3
--lr_scheduler.warmup_steps=100 --trainer.max_epochs=12 --trainer.accelerator=gpu --trainer.precision=16
--trainer.devices=4 --trainer.log_every_n_steps=20 --trainer.logger=TensorBoardLogger
--trainer.logger.save_dir=logs --trainer.logger.name=txt_clf"""
TXT_CLF_ALL = """--model.activation_checkpointing=true --model.encoder.freeze=false --model.encoder.dropout=0.1
--model.decoder.dropout=0.1 --data=ImdbDataModule --data.tokenizer=krasserm/perceiver-io-mlm
--data.add_special_tokens=true --data.max_seq_len=2048 --data.task=clf --data.batch_size=64
--optimizer=AdamW --optimizer.lr=5e-6 --lr_scheduler.warmup_steps=100 --trainer.max_epochs=10
--trainer.accelerator=gpu --trainer.precision=16 --trainer.devices=4 --trainer.log_every_n_steps=20
--trainer.logger=TensorBoardLogger --trainer.logger.save_dir=logs --trainer.logger.name=txt_clf"""
SAM_MAESTRO = """--model.activation_checkpointing=true --model.num_channels=512 --model.num_self_attention_layers=8
--model.num_heads=8 --model.max_latents=1024 --model.cross_attention_dropout=0.1
--model.post_attention_dropout=0.1 --model.residual_dropout=0.1 --data=MaestroV3DataModule
--data.max_seq_len=2048 --data.batch_size=48 --data.padding_side=left --data.num_workers=1
--optimizer=AdamW --optimizer.weight_decay=0.01 --optimizer.lr=2e-4 --lr_scheduler.warmup_steps=200
--trainer.max_steps=20000 --trainer.accelerator=gpu --trainer.devices=2 --trainer.val_check_interval=0.5
--trainer.gradient_clip_val=0.5 --trainer.accumulate_grad_batches=2 --trainer.logger=TensorBoardLogger
--trainer.log_every_n_steps=20 --trainer.logger.save_dir=logs --trainer.logger.name=sam"""
SAM_GIANTMIDI = """--model.activation_checkpointing=true --model.num_channels=768 --model.num_self_attention_layers=18
--model.num_heads=8 --model.max_latents=2048 --model.cross_attention_dropout=0.1
--model.post_attention_dropout=0.1 --model.residual_dropout=0.1 --data=GiantMidiPianoDataModule
--data.max_seq_len=6144 --data.min_seq_len=2048 --data.batch_size=8 --data.padding_side=left
--data.num_workers=1 --optimizer=AdamW --optimizer.weight_decay=0.01 --optimizer.lr=2e-4
--lr_scheduler.warmup_steps=200 --trainer.max_steps=20000 --trainer.accelerator=gpu --trainer.devices=2
--trainer.val_check_interval=0.5 --trainer.gradient_clip_val=0.5 --trainer.accumulate_grad_batches=2
--trainer.logger=TensorBoardLogger --trainer.log_every_n_steps=20 --trainer.logger.save_dir=logs
--trainer.logger.name=sam"""

# small Perceiver IO text models (the scripts' defaults are deepmind/language-perceiver's size)
TINY_TEXT_IO = (
    "--model.num_latents=8",
    "--model.num_latent_channels=32",
    "--model.encoder.num_input_channels=16",
    "--model.encoder.num_cross_attention_qk_channels=16",
    "--model.encoder.num_cross_attention_v_channels=32",
    "--model.encoder.num_self_attention_qk_channels=16",
    "--model.encoder.num_self_attention_v_channels=32",
    "--model.encoder.num_self_attention_layers_per_block=1",
)


def _options(text: str) -> list[str]:
    return text.split()


def _checkpoint(root: Path, name: str) -> dict:
    ckpt, _ = run_checkpoints(root / "logs" / name / "version_0")
    return torch.load(ckpt, weights_only=True)


def _imdb_files(tmp_path: Path) -> tuple[str, ...]:
    imdb = require_shared_data("imdb-sample")
    for name in ("train.jsonl", "test.jsonl"):
        lines = (imdb / name).read_text(encoding="utf-8").splitlines()
        sample = [line for line in lines if json.loads(line)["label"] == 0][:8]
        sample += [line for line in lines if json.loads(line)["label"] == 1][:8]
        (tmp_path / name).write_text("\n".join(sample), encoding="utf-8")
    return (
        f"--data.train_files={tmp_path / 'train.jsonl'}",
        f"--data.valid_files={tmp_path / 'test.jsonl'}",
        f"--data.dataset_dir={tmp_path / 'cache'}",
        "--data.num_workers=0",
        "--data.batch_size=4",
        "--data.max_seq_len=64",
    )


def test_clm_command_line(text_files, tmp_path: Path):
    train, valid = text_files
    run_cli(
        "perceiver.scripts.text.clm",
        "fit",
        *_options(CLM),
        f"--data.train_files={train}",
        f"--data.valid_files={valid}",
        f"--data.dataset_dir={tmp_path / 'cache'}",
        "--data.max_seq_len=32",
        "--data.batch_size=2",
        "--data.num_workers=0",
        "--model.max_latents=8",
        "--model.num_channels=32",
        "--model.num_heads=4",
        *TINY_TRAINER,
        "--trainer.accumulate_grad_batches=1",
        cwd=tmp_path,
    )
    checkpoint = _checkpoint(tmp_path, "clm")
    assert checkpoint["hyper_parameters"]["num_self_attention_layers"] == 8  # perceiver-io 0.11's default
    (group,) = checkpoint["optimizer_states"][0]["param_groups"]
    assert group["weight_decay"] == 0.0  # Adam's own default, not AdamW's 0.01
    assert group["lr"] < 2e-4 / 50  # in the warmup of --lr_scheduler.warmup_steps=200
    (scheduler,) = checkpoint["lr_schedulers"]
    assert scheduler["warmup_steps"] == 200 and "num_cycles" in scheduler  # cosine


def test_image_classifier_mnist_command_line(tmp_path: Path):
    mnist = require_shared_data("images", "mnist")
    run_cli(
        "perceiver.scripts.vision.image_classifier",
        "fit",
        *_options(IMG_CLF),
        f"--data.data_dir={mnist}",
        "--data.valid_size=100",
        "--data.batch_size=8",
        "--data.num_workers=0",
        *TINY_TRAINER,
        cwd=tmp_path,
    )
    checkpoint = _checkpoint(tmp_path, "img_clf")
    hparams = checkpoint["hyper_parameters"]
    assert hparams["decoder"]["num_classes"] == 10  # linked from the data module
    assert hparams["encoder"]["num_cross_attention_heads"] == 1  # perceiver-io 0.11's default
    assert hparams["encoder"]["num_self_attention_heads"] == 8
    (scheduler,) = checkpoint["lr_schedulers"]
    assert scheduler["warmup_steps"] == 500 and "num_cycles" not in scheduler  # constant with warmup


def test_mlm_then_text_classifier_command_lines(tmp_path: Path):
    """mlm/train.sh, then txt_clf/train_dec.sh from its checkpoint (--model.encoder.params, frozen
    encoder), then txt_clf/train_all.sh from that (--model.params)."""
    data = _imdb_files(tmp_path)
    mlm = [o for o in _options(MLM) if o != "--trainer.precision=16"]
    run_cli("perceiver.scripts.text.mlm", "fit", *mlm, *data, *TINY_TEXT_IO, *TINY_TRAINER, cwd=tmp_path)
    mlm_checkpoint = _checkpoint(tmp_path, "mlm")
    hparams = mlm_checkpoint["hyper_parameters"]
    assert hparams["decoder"]["cross_attention_residual"] is False  # perceiver-io 0.11's default
    assert hparams["encoder"]["dropout"] == hparams["decoder"]["dropout"] == 0.1
    assert "num_cycles" not in mlm_checkpoint["lr_schedulers"][0]  # constant with warmup
    mlm_ckpt, _ = run_checkpoints(tmp_path / "logs" / "mlm" / "version_0")

    classifier = (*data, *TINY_TEXT_IO, "--model.decoder.num_output_query_channels=16", *TINY_TRAINER)
    run_cli(
        "perceiver.scripts.text.classifier",
        "fit",
        f"--model.encoder.params={mlm_ckpt}",
        *_options(TXT_CLF_DEC),
        *classifier,
        cwd=tmp_path,
    )
    checkpoint = _checkpoint(tmp_path, "txt_clf")
    assert checkpoint["hyper_parameters"]["decoder"]["num_classes"] == 2  # linked from ImdbDataModule
    assert checkpoint["hyper_parameters"]["encoder_params"] == str(mlm_ckpt)
    encoder = {k: v for k, v in checkpoint["state_dict"].items() if k.startswith("backend_model.encoder.")}
    assert encoder
    for key, value in encoder.items():  # loaded from the masked language model, then frozen
        torch.testing.assert_close(value, mlm_checkpoint["state_dict"][key], rtol=0, atol=0)

    clf_ckpt, _ = run_checkpoints(tmp_path / "logs" / "txt_clf" / "version_0")
    run_cli(
        "perceiver.scripts.text.classifier",
        "fit",
        f"--model.params={clf_ckpt}",
        *_options(TXT_CLF_ALL),
        *classifier,
        "--trainer.logger.version=all",
        cwd=tmp_path,
    )
    ckpt, _ = run_checkpoints(tmp_path / "logs" / "txt_clf" / "all")
    assert torch.load(ckpt, weights_only=True)["hyper_parameters"]["params"] == str(clf_ckpt)


@pytest.mark.parametrize(
    "command, data_module",
    [(SAM_MAESTRO, "MaestroV3DataModule"), (SAM_GIANTMIDI, "GiantMidiPianoDataModule")],
    ids=["maestrov3", "giantmidi"],
)
def test_symbolic_audio_command_lines_parse_with_the_old_defaults(tmp_path: Path, command, data_module):
    """sam/{maestrov3,giantmidi}/train.sh (their data needs a download): the config they resolve to."""
    pytest.importorskip("pretty_midi", reason="perceiver-data's audio extra (pretty-midi) is not installed")
    result = run_cli(
        "perceiver.scripts.audio.symbolic", "fit", *_options(command), "--print_config", cwd=tmp_path
    )
    config = result.stdout
    for line in ("output_norm: true", "output_bias: false", "abs_pos_emb: false", "weight_decay: 0.01"):
        assert line in config
    assert "class_path: perceiver.data.audio" in config and data_module in config


def test_fsdp_script_says_what_replaces_it(tmp_path: Path):
    result = run_cli(
        "perceiver.scripts.text.clm_fsdp", "fit", "--model.max_heads_parallel=2", cwd=tmp_path, check=False
    )
    assert result.returncode != 0
    assert "python -m perceiver.scripts.text.clm fit --trainer.strategy=FSDPStrategy" in result.stderr
    assert "--trainer.gradient_clip_val=1.0" in result.stderr


def test_fsdp_replacement_options_parse(tmp_path: Path):
    """The command line that replaces clm_fsdp (its message and docs/migrating.md) is accepted as written."""
    from perceiver.scripts.text.clm_fsdp import OPTIONS

    result = run_cli("perceiver.scripts.text.clm", "fit", *OPTIONS, "--print_config", cwd=tmp_path)
    config = result.stdout
    assert "class_path: lightning.pytorch.strategies.FSDPStrategy" in config or (
        "class_path: pytorch_lightning.strategies.FSDPStrategy" in config
    )
    assert "gradient_clip_val: 1.0" in config
    assert "perceiver.model.core.CrossAttentionLayer" in config


def _clip_step(text_files, work: Path, *options: str) -> dict:
    """One SGD(lr=1) step of the clm CLI; the norm of the weight update is the clipped gradient norm."""
    script = Path(__file__).parent / "scripts" / "clip_step.py"
    work.mkdir(parents=True, exist_ok=True)
    report = work / "report.json"
    args = [
        "--model.max_latents=8",
        "--model.num_channels=32",
        "--model.num_heads=4",
        "--model.num_self_attention_layers=2",
        "--data=TextDataModule",
        f"--data.train_files={text_files[0]}",
        f"--data.valid_files={text_files[1]}",
        f"--data.dataset_dir={work / 'cache'}",
        "--data.max_seq_len=32",
        "--data.task=clm",
        "--data.batch_size=4",
        "--data.num_workers=0",
        *TINY_TRAINER,
        "--trainer.limit_val_batches=0",
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={work}",
        *options,
        "--optimizer=SGD",
        "--optimizer.lr=1.0",
        "--lr_scheduler=null",
    ]
    env = dict(os.environ, PYTHONWARNINGS="ignore", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, str(script), str(report), *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(report.read_text())


@pytest.mark.parametrize("strategy", ["auto", "fsdp"])
def test_gradient_clip_val_clips_the_norm_also_under_fsdp(strategy, text_files, tmp_path: Path):
    """--trainer.gradient_clip_val, which replaces clm_fsdp's --model.max_grad_norm, clips the
    gradient norm under FSDP (Lightning's FSDP plugin refuses to clip by norm itself). On CPU the
    FSDP run uses CPUFSDPStrategy, FSDPStrategy's subclass, with the replacement's options."""
    from perceiver.scripts.text.clm_fsdp import OPTIONS

    clip = 1e-3
    if strategy == "fsdp":
        options = [o for o in OPTIONS if not o.startswith("--trainer.strategy=")]
        options.insert(0, "--trainer.strategy=perceiver.lightning.strategies.CPUFSDPStrategy")
        expected_strategy = "CPUFSDPStrategy"
    else:
        options, expected_strategy = [], "SingleDeviceStrategy"
    report = _clip_step(text_files, tmp_path, *options, f"--trainer.gradient_clip_val={clip}")
    assert report["strategy"] == expected_strategy and report["global_step"] == 1
    torch.testing.assert_close(report["update_norm"], clip, rtol=1e-3, atol=0)
    if strategy == "auto":  # without clipping, the update is the (larger) gradient
        unclipped = _clip_step(text_files, tmp_path / "unclipped", "--trainer.gradient_clip_val=null")
        assert unclipped["update_norm"] > 10 * clip


def test_linked_options_cannot_be_given(tmp_path: Path):
    """data.num_classes sets the decoder's: a value given for it would be overwritten, so it is refused."""
    result = run_cli(
        "perceiver.scripts.vision.image_classifier",
        "fit",
        "--data=MNISTDataModule",
        "--model.decoder.num_classes=5",
        "--print_config",
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert "--model.decoder.num_classes is taken from --data.num_classes" in result.stderr
