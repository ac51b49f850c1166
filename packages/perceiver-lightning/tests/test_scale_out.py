"""DDP on CPU (gloo, two processes), FSDP (GPU only in Lightning), resume across strategies and
after SIGKILL. The training script runs as a subprocess: Lightning's DDP launcher re-runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).parent / "scripts" / "train_tiny.py"


def _train(files, work_dir: Path, loss_file: Path, *args: str, wait: bool = True):
    train, valid = files
    cmd = [
        sys.executable,
        str(SCRIPT),
        f"--train_file={train}",
        f"--valid_file={valid}",
        f"--work_dir={work_dir}",
        f"--loss_file={loss_file}",
        *args,
    ]
    env = dict(os.environ, PYTHONWARNINGS="ignore", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def _losses(path: Path) -> dict[int, float]:
    steps = {}
    for line in path.read_text().splitlines():
        step, loss = line.split()
        steps[int(step)] = float(loss)
    return steps


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory, text_files):
    root = tmp_path_factory.mktemp("tiny")
    train, valid = (Path(f).read_text(encoding="utf-8") for f in text_files)
    (root / "train.txt").write_text(train[:20_000], encoding="utf-8")
    (root / "valid.txt").write_text(valid[:4_000], encoding="utf-8")
    return str(root / "train.txt"), str(root / "valid.txt")


def test_ddp_two_cpu_processes_then_resume_without_ddp(tiny_files, tmp_path):
    """DDP with activation checkpointing on 2 CPU processes writes a checkpoint that a single
    process resumes (another strategy), continuing at the checkpoint's step."""
    work = tmp_path / "ddp"
    ddp_args = ("--strategy=ddp", "--devices=2", "--max_steps=4", "--activation_checkpointing")
    _train(tiny_files, work, tmp_path / "ddp.txt", *ddp_args)
    assert sorted(_losses(tmp_path / "ddp.txt")) == [1, 2, 3, 4]
    last = work / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["global_step"] == 4 and checkpoint["perceiver_task"] == "text.clm"
    _train(tiny_files, work, tmp_path / "resumed.txt", "--max_steps=6", f"--resume={last}")
    assert sorted(_losses(tmp_path / "resumed.txt")) == [5, 6]


def test_fsdp_on_cpu_is_refused_by_lightning():
    """Lightning 2.6's FSDPStrategy needs CUDA; this pins the exact refusal (docs/training.md)."""
    import pytorch_lightning as pl

    with pytest.raises(ValueError, match="The strategy `fsdp` requires a GPU accelerator"):
        pl.Trainer(accelerator="cpu", devices=2, strategy="fsdp")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fsdp_with_activation_checkpointing_resumes_a_single_device_checkpoint(tiny_files, tmp_path):
    work = tmp_path / "fsdp"
    _train(tiny_files, work, tmp_path / "a.txt", "--max_steps=2", "--activation_checkpointing")
    last = work / "checkpoints" / "last.ckpt"
    args = (
        "--strategy=fsdp",
        "--devices=1",
        "--max_steps=4",
        "--activation_checkpointing",
        f"--resume={last}",
    )
    _train(tiny_files, work, tmp_path / "b.txt", *args)
    assert sorted(_losses(tmp_path / "b.txt")) == [3, 4]


def test_killed_run_resumes_with_the_losses_of_an_uninterrupted_run(tiny_files, tmp_path):
    """SIGKILL mid-training, resume from last.ckpt: the resumed steps have exactly the losses of
    an uninterrupted run with the same seed (deterministic data order, checkpoints at epoch ends)."""
    common = ("--max_steps=8", "--every_n=2", "--epoch_steps=2")
    _train(tiny_files, tmp_path / "full", tmp_path / "full.txt", *common)
    full = _losses(tmp_path / "full.txt")
    assert sorted(full) == list(range(1, 9))

    work = tmp_path / "killed"
    process = _train(tiny_files, work, tmp_path / "killed.txt", *common, "--delay=1.0", wait=False)
    last = work / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    try:
        while not (last.exists() and len(_losses_or_empty(tmp_path / "killed.txt")) >= 3):
            assert process.poll() is None, process.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint before the deadline"
            time.sleep(0.2)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    killed = _losses(tmp_path / "killed.txt")
    assert max(killed) < 8, "the run finished before it was killed"
    resumed_from = torch.load(last, weights_only=True)["global_step"]

    _train(tiny_files, work, tmp_path / "resumed.txt", *common, "--resume=last")
    resumed = _losses(tmp_path / "resumed.txt")
    assert sorted(resumed) == list(range(resumed_from + 1, 9))
    for step, loss in resumed.items():
        assert loss == pytest.approx(full[step], rel=1e-5, abs=1e-6), step
    for step, loss in killed.items():
        assert loss == pytest.approx(full[step], rel=1e-5, abs=1e-6), step


def _losses_or_empty(path: Path) -> dict[int, float]:
    return _losses(path) if path.exists() else {}
