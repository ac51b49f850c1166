"""examples/train_clm.py (the quick-start training run of README.md) trains a few steps and
prints generated text."""

import subprocess
import sys


def test_train_clm_trains_and_prints_generated_text(repo_root, tmp_path):
    script = repo_root / "examples" / "train_clm.py"
    args = ["--max_steps", "6", "--batch_size", "4", "--num_tokens", "20", "--output_dir", str(tmp_path)]
    result = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "=== generated text ===" in result.stdout
    assert list(tmp_path.rglob("last.ckpt"))
