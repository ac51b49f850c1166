"""The Python examples of docs/pretrained-models-vision.md run as written (offline)."""

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[3] / "docs" / "pretrained-models-vision.md"


def test_page_examples_run():
    if not PAGE.exists():
        pytest.skip(f"{PAGE} is not part of this checkout")
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) >= 4, "the page lost its runnable examples"
    namespace: dict = {}
    for block in blocks:  # blocks build on each other; "```python no-run" blocks are skipped
        exec(compile(block, str(PAGE), "exec"), namespace)
