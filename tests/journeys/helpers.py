"""Running a journey's steps as a user runs them: the LightningCLI training script in a
subprocess, and loading the converted model in a fresh Python process (nothing of the training
process, such as registered classes or a cached tokenizer, is left in it)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parents[1]
PAGES_DIR = TESTS_DIR.parent / "docs" / "journeys"

# a few CPU steps without progress bar or sanity check
SHORT_RUN_ARGS = [
    "--trainer.accelerator=cpu",
    "--trainer.devices=1",
    "--trainer.limit_val_batches=1",
    "--trainer.num_sanity_val_steps=0",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]
# and without logger: checkpoints go to <root>/checkpoints
TRAINER_ARGS = [*SHORT_RUN_ARGS, "--trainer.logger=false"]


def page_blocks(page: str, language: str) -> list[str]:
    """The ``language`` code blocks of ``docs/journeys/<page>``."""
    text = (PAGES_DIR / page).read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def page_training_command(page: str) -> list[str]:
    """The page's training command (its ``python -m perceiver.scripts...`` shell block)."""
    commands = [b for b in page_blocks(page, "sh") if "python -m perceiver.scripts." in b]
    assert len(commands) == 1, f"{page} must show one training command, found {len(commands)}"
    words = shlex.split(commands[0].replace("\\\n", " "))
    assert words[:2] == ["python", "-m"], words
    return [sys.executable, *words[1:]]


def train_as_page(page: str, extra_args: list[str], root: Path, max_steps: int = 3) -> Path:
    """Run the page's training command as it stands, shortened by ``extra_args`` (later values of
    an option win), in ``root``; return the newest checkpoint under ``root``."""
    command = [*page_training_command(page), *extra_args, *SHORT_RUN_ARGS, f"--trainer.max_steps={max_steps}"]
    result = subprocess.run(command, env=_env(), cwd=root, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    checkpoints = sorted(root.glob("**/checkpoints/*.ckpt"), key=lambda p: p.stat().st_mtime)
    assert checkpoints, f"no checkpoint under {root}:\n{result.stderr[-3000:]}"
    return checkpoints[-1]


def run_page_python(page: str, root: Path) -> list[str]:
    """Run each of the page's Python blocks in order, each in a fresh process in ``root`` (as a
    user runs them one after the other); return what each prints."""
    outputs = []
    for code in page_blocks(page, "python"):
        result = subprocess.run(
            [sys.executable, "-c", code], env=_env(), cwd=root, capture_output=True, text=True, timeout=600
        )
        if result.returncode != 0:
            raise AssertionError(f"a Python block of {page} failed:\n{code}\n{result.stderr[-6000:]}")
        outputs.append(result.stdout)
    return outputs


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
