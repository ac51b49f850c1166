"""The text CLIs run `fit` for a few steps on local files (as subprocesses, as a user runs them)."""

from __future__ import annotations

import json
import sys

import torch
from lightning_helpers import TRAINER_ARGS, require_shared_data, run_checkpoints, run_cli

CLM_MODEL_ARGS = (
    "--model.max_latents=16",
    "--model.num_channels=32",
    "--model.num_heads=4",
    "--model.num_self_attention_layers=1",
    "--model.cross_attention_dropout=0.5",
)


def _text_data_args(files, tmp_path, task: str, max_seq_len: int = 64, module: str = "WikiTextDataModule"):
    train, valid = files
    return (
        f"--data={module}",
        "--data.tokenizer=deepmind/language-perceiver",
        f"--data.train_files={train}",
        f"--data.valid_files={valid}",
        f"--data.dataset_dir={tmp_path / 'cache'}",
        f"--data.max_seq_len={max_seq_len}",
        f"--data.task={task}",
        "--data.batch_size=4",
        "--data.num_workers=0",
    )


def test_clm_fit_documented_command_line(text_files, tmp_path):
    """krasserm/perceiver-io 0.11's documented command line (WikiTextDataModule on local files, Lamb, warmup) trains, checkpoints,
    logs to TensorBoard and logs a text sample generated at validation."""
    run_cli(
        "perceiver.scripts.text.clm",
        "fit",
        *CLM_MODEL_ARGS,
        *_text_data_args(text_files, tmp_path, "clm"),
        "--data.random_train_shift=true",
        "--data.padding_side=left",
        "--optimizer=Lamb",
        "--optimizer.lr=1e-3",
        "--lr_scheduler.warmup_steps=2",
        "--model.validation_sample_prompt=The ",
        "--model.validation_sample_num_tokens=8",
        *TRAINER_ARGS,
        "--trainer.accumulate_grad_batches=1",
        cwd=tmp_path,
    )
    version = tmp_path / "logs" / "lightning_logs" / "version_0"
    assert list(version.glob("events.out.tfevents.*")), "no TensorBoard event file"
    ckpt, _ = run_checkpoints(version)
    checkpoint = torch.load(ckpt, weights_only=True)
    assert checkpoint["global_step"] == 3
    assert checkpoint["hyper_parameters"]["max_seq_len"] == 64  # linked from the data
    assert checkpoint["hyper_parameters"]["vocab_size"] == 262
    assert checkpoint["perceiver_task"] == "text.clm"
    assert type(checkpoint["optimizer_states"]) is list
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(version), size_guidance={"tensors": 0}).Reload()
    assert "validation_sample/text_summary" in events.Tags()["tensors"]
    assert {"val_loss", "val_ppl", "val_bpb", "val_acc", "train_loss"} <= set(events.Tags()["scalars"])


def test_clm_config_file_and_cosine_schedule(text_files, tmp_path):
    """--print_config writes a YAML config that --config reads back; CosineWithWarmupLR by name."""
    args = (
        *CLM_MODEL_ARGS,
        *_text_data_args(text_files, tmp_path, "clm", module="TextDataModule"),
        "--optimizer=Adam",
        "--lr_scheduler=CosineWithWarmupLR",
        "--lr_scheduler.warmup_steps=1",
        "--lr_scheduler.training_steps=3",
        *TRAINER_ARGS,
    )
    result = run_cli("perceiver.scripts.text.clm", "fit", *args, "--print_config", cwd=tmp_path)
    assert "CosineWithWarmupLR" in result.stdout and "torch.optim.Adam" in result.stdout
    config = tmp_path / "config.yaml"
    config.write_text(result.stdout)
    run_cli("perceiver.scripts.text.clm", "fit", f"--config={config}", cwd=tmp_path)
    ckpt, _ = run_checkpoints(tmp_path / "logs" / "lightning_logs" / "version_0")
    checkpoint = torch.load(ckpt, weights_only=True)
    (scheduler,) = checkpoint["lr_schedulers"]
    assert scheduler["training_steps"] == 3 and scheduler["warmup_steps"] == 1


def test_mlm_fit(text_files, tmp_path):
    run_cli(
        "perceiver.scripts.text.mlm",
        "fit",
        "--model.num_latents=8",
        "--model.num_latent_channels=32",
        "--model.encoder.num_input_channels=32",
        "--model.encoder.num_self_attention_layers_per_block=1",
        "--model.encoder.num_cross_attention_heads=4",
        "--model.encoder.num_self_attention_heads=4",
        "--model.decoder.num_cross_attention_heads=4",
        "--model.encoder.dropout=0.0",
        "--model.decoder.dropout=0.0",
        *_text_data_args(text_files, tmp_path, "mlm"),
        "--optimizer=AdamW",
        *TRAINER_ARGS,
        cwd=tmp_path,
    )
    ckpt, _ = run_checkpoints(tmp_path / "logs" / "lightning_logs" / "version_0")
    hparams = torch.load(ckpt, weights_only=True)["hyper_parameters"]
    assert hparams["encoder"]["max_seq_len"] == hparams["decoder"]["max_seq_len"] == 64


def test_text_classifier_fit_on_imdb_sample(tmp_path):
    imdb = require_shared_data("imdb-sample")
    # a few hundred reviews keep preprocessing fast
    for name in ("train.jsonl", "test.jsonl"):
        lines = (imdb / name).read_text(encoding="utf-8").splitlines()
        balanced = [line for line in lines if json.loads(line)["label"] == 0][:40]
        balanced += [line for line in lines if json.loads(line)["label"] == 1][:40]
        (tmp_path / name).write_text("\n".join(balanced), encoding="utf-8")
    run_cli(
        "perceiver.scripts.text.classifier",
        "fit",
        "--model.num_latents=8",
        "--model.num_latent_channels=32",
        "--model.encoder.num_input_channels=32",
        "--model.encoder.num_self_attention_layers_per_block=1",
        "--model.encoder.num_cross_attention_heads=4",
        "--model.encoder.num_self_attention_heads=4",
        "--model.decoder.num_cross_attention_heads=4",
        "--model.decoder.num_output_query_channels=32",
        "--data=ImdbDataModule",
        f"--data.train_files={tmp_path / 'train.jsonl'}",
        f"--data.valid_files={tmp_path / 'test.jsonl'}",
        f"--data.dataset_dir={tmp_path / 'cache'}",
        "--data.max_seq_len=128",
        "--data.task=clf",
        "--data.batch_size=4",
        "--data.num_workers=0",
        "--optimizer=Adam",
        *TRAINER_ARGS,
        cwd=tmp_path,
    )
    ckpt, _ = run_checkpoints(tmp_path / "logs" / "lightning_logs" / "version_0")
    assert torch.load(ckpt, weights_only=True)["perceiver_task"] == "text.classifier"


def test_preproc_delegates_to_perceiver_data(text_files, tmp_path):
    train, valid = text_files
    result = run_cli(
        "perceiver.scripts.text.preproc",
        "wikitext",
        "--tokenizer=deepmind/language-perceiver",
        "--max_seq_len=64",
        "--task=clm",
        f"--train_files={train}",
        f"--valid_files={valid}",
        f"--dataset_dir={tmp_path / 'cache'}",
        cwd=tmp_path,
    )
    assert "preprocessed wikitext" in result.stdout


def test_unknown_names_fail_before_training(tmp_path):
    """An unknown optimizer or data module name fails at parsing, naming it (one process for both)."""
    code = (
        "import sys\n"
        "from perceiver.scripts.text.clm import main\n"
        "for arg in sys.argv[1:]:\n"
        "    try:\n"
        "        main(['fit', arg, '--trainer.max_steps=1'])\n"
        "    except SystemExit as e:\n"
        "        print('exit', arg, e.code, file=sys.stderr)\n"
        "    else:\n"
        "        print('trained', arg, file=sys.stderr)\n"
    )
    import subprocess

    args = ["--optimizer=NoSuchOptimizer", "--data=NoSuchDataModule"]
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for arg in args:
        assert f"exit {arg} 2" in result.stderr
        name = arg.split("=")[1]
        assert f"{name}" in result.stderr.split(f"exit {arg}")[0]
    assert "trained" not in result.stderr
    assert not (tmp_path / "logs" / "lightning_logs").exists()


def test_entry_points_print_config(tmp_path):
    """Every training script's parser builds and prints its config (one process for all)."""
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name).main(['fit', '--print_config'])\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, (name, e.code)\n"
        "    print('==', name, 'ok')\n"
    )
    modules = [
        "perceiver.scripts.text.clm",
        "perceiver.scripts.text.mlm",
        "perceiver.scripts.text.classifier",
        "perceiver.scripts.vision.image_classifier",
        "perceiver.scripts.vision.optical_flow",
        "perceiver.scripts.audio.symbolic",
        "perceiver.scripts.multimodal.autoencoder",
    ]
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", code, *modules], cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in modules:
        assert f"== {name} ok" in result.stdout
    assert "class_path: perceiver.scripts.lrs.CosineWithWarmupLR" in result.stdout
