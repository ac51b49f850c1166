"""The learning-curve scripts of docs/figures (quick start, MNIST, Tiny Shakespeare) read a run's
TensorBoard scalars, draw the picture and print the figures the docs quote. Here they run on
scalars written with known values and wall times, into a temporary PNG, so the printed figures
can be checked exactly."""

from __future__ import annotations

import subprocess
import sys

import pytest
from markdown_blocks import REPO_ROOT

pytest.importorskip("matplotlib", reason="the figure scripts draw with matplotlib")
tensorboard = pytest.importorskip(
    "torch.utils.tensorboard", reason="the figure scripts read TensorBoard logs"
)

FIGURES = REPO_ROOT / "docs" / "figures"
START = 1_700_000_000.0  # wall time of the first logged scalar


def _write_run(log_dir, scalars: dict[str, list[tuple[int, float, float]]]) -> None:
    """A TensorBoard run in ``log_dir/version_0`` with (step, seconds after START, value) per tag."""
    writer = tensorboard.SummaryWriter(log_dir / "version_0")
    for tag, points in scalars.items():
        for step, seconds, value in points:
            writer.add_scalar(tag, value, step, walltime=START + seconds)
    writer.close()


def _run(script: str, log_dir, out, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(FIGURES / script), str(log_dir), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.stat().st_size > 10_000 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return result.stdout


def _losses(val: list[float]) -> dict[str, list[tuple[int, float, float]]]:
    """Training loss every 10 steps and the given validation losses every 200 steps, 0.15 s a step."""
    return {
        "train_loss": [(step, 0.15 * step, 3.0 - step / 1000) for step in range(0, 1200, 10)],
        "val_loss": [(199 + 200 * i, 0.15 * (199 + 200 * i) + 2, v) for i, v in enumerate(val)],
    }


def test_shakespeare_curve_reports_the_first_validation_at_the_target(tmp_path):
    _write_run(tmp_path / "logs", _losses([2.4, 2.1, 1.95, 1.85, 1.79, 1.76]))
    out = _run("shakespeare_curve.py", tmp_path / "logs", tmp_path / "curve.png", "--target", "1.80")
    assert "final validation loss 1.7600 nats/byte at step 1199" in out
    # step 999 at 0.15 s a step, validated 2 s later: 151.85 s after the first logged scalar
    assert "validation loss 1.8 first reached at step 999, 152 s" in out


def test_shakespeare_curve_says_when_the_target_is_missed(tmp_path):
    _write_run(tmp_path / "logs", _losses([2.4, 2.1, 1.95, 1.9]))
    out = _run("shakespeare_curve.py", tmp_path / "logs", tmp_path / "curve.png")
    assert "validation loss never reached 1.8" in out


def test_mnist_curve_reports_the_first_step_at_the_target_accuracy(tmp_path):
    scalars = _losses([0.9, 0.3, 0.15, 0.1])
    scalars["val_acc"] = [
        (199 + 200 * i, 0.15 * (199 + 200 * i) + 2, a) for i, a in enumerate([0.6, 0.9, 0.971, 0.98])
    ]
    _write_run(tmp_path / "logs", scalars)
    out = _run("mnist_curve.py", tmp_path / "logs", tmp_path / "curve.png", "--target", "0.97")
    assert "final validation accuracy 0.9800 at step 799" in out
    assert "validation accuracy 0.97 first reached at step 599, 1.5 minutes" in out


def test_quick_start_loss_curve_counts_its_points(tmp_path):
    _write_run(tmp_path / "logs", _losses([2.4, 2.1, 1.95]))
    out = _run("loss_curve.py", tmp_path / "logs", tmp_path / "curve.png", "--max_steps", "1200")
    assert "120 training and 3 validation points; last 1.950 at step 599" in out


def test_the_scripts_refuse_a_folder_without_event_files(tmp_path):
    for script in ("loss_curve.py", "mnist_curve.py", "shakespeare_curve.py"):
        result = subprocess.run(
            [sys.executable, str(FIGURES / script), str(tmp_path), "--out", str(tmp_path / "x.png")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode != 0 and "no TensorBoard event files" in result.stderr, (
            script,
            result.stderr,
        )
