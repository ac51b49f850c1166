"""Test helpers: local corpora (the sample data folder given by $PERCEIVER_DATA_DIR, else CPython's pydoc
topics, which every Python ships) and a helper that runs the CLIs as subprocesses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_ROOT.parents[1]


def shared_data_dir() -> Path | None:
    path = Path(os.environ.get("PERCEIVER_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    return path if path.is_dir() else None


def require_shared_data(*parts: str) -> Path:
    root = shared_data_dir()
    if root is None or not (root.joinpath(*parts)).exists():
        pytest.skip(f"sample data {'/'.join(parts)} not found (set PERCEIVER_DATA_DIR)")
    return root.joinpath(*parts)


def make_text_files(root: Path) -> tuple[str, str]:
    """Small train/valid text files: Tiny Shakespeare when the sample data is there, else pydoc topics."""
    shared = shared_data_dir()
    if shared is not None and (shared / "tinyshakespeare" / "input.txt").is_file():
        text = (shared / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:60_000]
    else:
        from pydoc_data.topics import topics

        text = "\n\n".join(topics[k] for k in sorted(topics))[:60_000]
    lines = text.splitlines()
    split = int(len(lines) * 0.8)
    train, valid = root / "train.txt", root / "valid.txt"
    train.write_text("\n".join(lines[:split]), encoding="utf-8")
    valid.write_text("\n".join(lines[split:]), encoding="utf-8")
    return str(train), str(valid)


def run_cli(module: str, *args: str, cwd: Path, check: bool = True, timeout: int = 900):
    """``python -m <module> <args>`` in ``cwd``; returns the CompletedProcess. The time limit is
    pytest-timeout's (noxfile.py): a run takes seconds, but minutes on a loaded machine."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{module} {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        )
    return result


TRAINER_ARGS = (
    "--trainer.accelerator=cpu",
    "--trainer.devices=1",
    "--trainer.max_steps=3",
    "--trainer.limit_train_batches=3",
    "--trainer.limit_val_batches=1",
    "--trainer.num_sanity_val_steps=0",
    "--trainer.enable_model_summary=false",
    "--trainer.log_every_n_steps=1",
)


def run_checkpoints(run_dir: Path) -> tuple[Path, Path]:
    """(best, last) checkpoint of a training script's run with the default callbacks (as in
    krasserm/perceiver-io 0.11's trainer.yaml): ``epoch=<epoch:03d>-val_loss=<val_loss:.3f>.ckpt``,
    the best by val_loss, and ``last.ckpt``."""
    files = sorted((run_dir / "checkpoints").glob("*.ckpt"))
    last = run_dir / "checkpoints" / "last.ckpt"
    best = [f for f in files if f != last]
    assert last in files and len(best) == 1, files
    assert re.fullmatch(r"epoch=\d{3}-val_loss=\d+\.\d{3}\.ckpt", best[0].name), best[0].name
    return best[0], last
