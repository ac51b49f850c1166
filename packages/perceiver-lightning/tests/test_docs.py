"""The Python examples of docs/training.md run as written (offline)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from lightning_helpers import REPO_ROOT

DOC = REPO_ROOT / "docs" / "training.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.skipif(not DOC.is_file(), reason="docs/training.md is not part of this checkout")
def test_python_examples_run(tmp_path):
    blocks = _python_blocks()
    assert blocks
    for i, code in enumerate(blocks):
        env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"block {i}:\n{code}\n{result.stderr[-3000:]}"
        assert "The if statement" in result.stdout
