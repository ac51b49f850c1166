"""Running a journey's steps as a user runs them: the LightningCLI training script in a
subprocess, and loading the converted model in a fresh Python process (nothing of the training
process, such as registered classes or a cached tokenizer, is left in it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parents[1]

# a few CPU steps without logger, progress bar or sanity check; checkpoints go to <root>/checkpoints
TRAINER_ARGS = [
    "--trainer.accelerator=cpu",
    "--trainer.devices=1",
    "--trainer.limit_val_batches=1",
    "--trainer.num_sanity_val_steps=0",
    "--trainer.logger=false",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # the journeys' own data modules (journeys.data) import from the tests folder
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), env.get("PYTHONPATH")) if p)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def train(script: str, args: list[str], root: Path, max_steps: int = 3) -> Path:
    """Run ``python -m perceiver.scripts.<script> fit <args>`` and return its checkpoint."""
    command = [
        sys.executable,
        "-m",
        f"perceiver.scripts.{script}",
        "fit",
        *args,
        *TRAINER_ARGS,
        f"--trainer.max_steps={max_steps}",
        f"--trainer.default_root_dir={root}",
    ]
    result = subprocess.run(command, env=_env(), cwd=root, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    checkpoints = sorted((root / "checkpoints").glob("*.ckpt"))
    assert checkpoints, f"no checkpoint in {root / 'checkpoints'}:\n{result.stderr[-3000:]}"
    return checkpoints[-1]


def run_fresh(code: str, cwd: Path):
    """Run ``code`` in a fresh Python process and return the JSON it prints last."""
    result = subprocess.run(
        [sys.executable, "-c", code], env=_env(), cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise AssertionError(f"the fresh process failed:\n{code}\n{result.stderr[-6000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
