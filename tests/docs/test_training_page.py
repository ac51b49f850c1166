"""The Python examples of docs/training.md run as written (offline), each in a fresh process.

A block whose first line is ``# not run by the docs test: <reason>`` is skipped (an example that
starts processes of its own, tested elsewhere).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from markdown_blocks import DOCS, python_blocks

PAGE = DOCS / "training.md"
SKIP = "# not run by the docs test:"
BLOCKS = python_blocks(PAGE)


def test_page_has_examples():
    assert len([code for code in BLOCKS if not code.startswith(SKIP)]) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_python_example_runs(index, tmp_path):
    code = BLOCKS[index]
    if code.startswith(SKIP):
        pytest.skip(code.splitlines()[0].removeprefix(SKIP).strip())
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, f"block {index}:\n{code}\n{result.stderr[-3000:]}"
    if '"The if statement"' in code:  # the causal language model example prints generated text
        assert "The if statement" in result.stdout
