"""examples/train_clm.py (the quick-start training run of README.md) trains a short run, its
validation loss falls well below that of a uniform guess, and it prints generated text."""

import math
import re
import subprocess
import sys


def test_train_clm_learns_and_prints_generated_text(repo_root, tmp_path):
    script = repo_root / "examples" / "train_clm.py"
    args = ["--max_steps", "60", "--val_every", "60", "--batch_size", "8", "--num_tokens", "20"]
    args += ["--num_channels", "64", "--max_seq_len", "64", "--max_latents", "64"]  # a smaller model
    result = subprocess.run(
        [sys.executable, str(script), *args, "--output_dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "=== generated text ===" in result.stdout
    assert list(tmp_path.rglob("last.ckpt"))
    match = re.search(r"validation loss (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-2000:]
    # an untrained model guesses about uniformly over the 262 byte tokens: ln(262) = 5.57 nats
    assert float(match.group(1)) < 0.6 * math.log(262), result.stdout[-2000:]
