"""The MNIST recipe (configs/vision/image_classifier.yaml, docs/training.md "MNIST in minutes"),
shortened to its first 100 steps: the loss falls well below its start. About 40 s on 2 quiet
CPU cores.

The schedule keeps the full run's length (``--lr_scheduler.training_steps=1200``), so these are
the first steps of the documented run; the run logs to CSV, read back here.
"""

from __future__ import annotations

import os
import subprocess
import sys

from markdown_blocks import REPO_ROOT
from run_logs import csv_metrics

CONFIG = REPO_ROOT / "configs" / "vision" / "image_classifier.yaml"


def test_mnist_recipe_loss_falls_in_its_first_100_steps(data_dir, tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    command = [
        sys.executable,
        "-m",
        "perceiver.scripts.vision.image_classifier",
        "fit",
        f"--config={CONFIG}",
        f"--data.data_dir={data_dir / 'images' / 'mnist'}",
        "--seed_everything=0",
        "--trainer.max_steps=100",
        "--trainer.limit_val_batches=4",  # 512 of the 1,000 validation digits
        "--trainer.num_sanity_val_steps=0",
        "--lr_scheduler.training_steps=1200",
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
    assert first_step < 20 and start > 1.5  # near ln(10) = 2.30, the loss of a uniform guess
    assert metrics["val_loss"][-1][0] >= 90  # the validation after the 100th step
    val_loss, val_acc = metrics["val_loss"][-1][1], metrics["val_acc"][-1][1]
    assert val_loss < 0.5 * start, metrics
    assert val_acc > 0.6, metrics
