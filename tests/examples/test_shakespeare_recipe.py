"""The Tiny Shakespeare recipe (configs/text/shakespeare.yaml, docs/training.md "Tiny
Shakespeare"), shortened to its first 500 steps: the validation loss falls well below its start
and below the cross-entropy of the bytes' frequencies alone. About 40 s on 2 quiet CPU cores.

The data is split as documented (the first 90% of the file for training, the last 10% for
validation); the schedule keeps the full run's length (``--lr_scheduler.training_steps``), so
these are the first steps of the documented run; the run logs to CSV, read back here.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter

import pytest
import yaml
from markdown_blocks import REPO_ROOT
from run_logs import csv_metrics

CONFIG = REPO_ROOT / "configs" / "text" / "shakespeare.yaml"


def _unigram_nats(data: bytes) -> float:
    """Cross-entropy (nats per byte) of predicting each byte from the byte frequencies alone."""
    counts = Counter(data)
    return -sum(c / len(data) * math.log(c / len(data)) for c in counts.values())


def test_shakespeare_recipe_loss_falls_in_its_first_500_steps(data_dir, tmp_path):
    source = data_dir / "tinyshakespeare" / "input.txt"
    if not source.is_file():
        pytest.skip(f"Tiny Shakespeare is not in the sample data folder ({source} is missing)")
    data = source.read_bytes()
    split = int(len(data) * 0.9)  # as documented: head -c / tail -c at 90% of the file
    (tmp_path / "train.txt").write_bytes(data[:split])
    (tmp_path / "valid.txt").write_bytes(data[split:])
    full_steps = yaml.safe_load(CONFIG.read_text())["trainer"]["max_steps"]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    command = [
        sys.executable,
        "-m",
        "perceiver.scripts.text.clm",
        "fit",
        f"--config={CONFIG}",
        f"--data.train_files={tmp_path / 'train.txt'}",
        f"--data.valid_files={tmp_path / 'valid.txt'}",
        f"--data.dataset_dir={tmp_path / 'cache'}",
        "--trainer.max_steps=500",
        "--trainer.val_check_interval=500",
        "--trainer.limit_val_batches=4",  # 128 windows of 257 bytes of the validation split
        "--trainer.num_sanity_val_steps=0",
        f"--lr_scheduler.training_steps={full_steps}",
        "--model.validation_sample_num_tokens=16",
        "--trainer.logger=CSVLogger",
        f"--trainer.logger.save_dir={tmp_path}",
        "--trainer.enable_checkpointing=false",
        "--trainer.callbacks=[]",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
    ]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = tmp_path.glob("lightning_logs/version_*/metrics.csv")
    metrics = csv_metrics(path)
    first_step, start = metrics["train_loss"][0]
    assert first_step < 20 and start > 3.0, metrics["train_loss"][:3]  # ln(262) = 5.57 at a uniform guess
    step, val_loss = metrics["val_loss"][-1]
    assert step >= 490, metrics["val_loss"]  # the validation after the 500th step
    # the untrained model guesses about uniformly (its logits start near zero): ln(262) = 5.57
    assert val_loss < 0.5 * math.log(262), metrics
    assert val_loss < _unigram_nats(data[:split]) - 0.5, metrics  # 3.31 nats from byte frequencies alone
