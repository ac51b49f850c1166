"""The main job (README's first command runs examples/train_clm.py) cannot rot: a few steps of it."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "train_clm.py"


def test_main_job_trains_and_prints_generated_text(tmp_path):
    if not SCRIPT.exists():
        pytest.skip(f"{SCRIPT} is not part of this checkout")
    args = ["--max_steps", "6", "--batch_size", "4", "--num_tokens", "20", "--output_dir", str(tmp_path)]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "=== generated text ===" in result.stdout
    assert list(tmp_path.rglob("last.ckpt"))
