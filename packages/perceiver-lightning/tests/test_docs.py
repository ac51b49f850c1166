"""The Python examples of docs/training.md run as written (offline).

A block whose first line is ``# not run by the docs test: <reason>`` is skipped (an example that
starts processes of its own, tested elsewhere).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from lightning_helpers import REPO_ROOT

DOC = REPO_ROOT / "docs" / "training.md"
SKIP = "# not run by the docs test:"


def _python_blocks() -> list[str]:
    if not DOC.is_file():
        return []
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.skipif(not DOC.is_file(), reason="docs/training.md is not part of this checkout")
def test_doc_has_examples():
    blocks = _python_blocks()
    assert len([code for code in blocks if not code.startswith(SKIP)]) >= 2


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_python_example_runs(index, tmp_path):
    code = _python_blocks()[index]
    if code.startswith(SKIP):
        pytest.skip(code.splitlines()[0].removeprefix(SKIP).strip())
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"block {index}:\n{code}\n{result.stderr[-3000:]}"
    if '"The if statement"' in code:  # the causal language model example prints generated text
        assert "The if statement" in result.stdout
