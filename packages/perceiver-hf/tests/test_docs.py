"""The Python examples of the perceiver-hf docs pages run as written (blocks marked
```python no-run need the Hub and are skipped)."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[3] / "docs"
PAGES = ["pretrained-models.md", "pretrained-models-vision.md"]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, monkeypatch, tmp_path):
    path = DOCS / page
    if not path.exists():
        pytest.skip(f"{path} is not part of this checkout")
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks, f"{page} has no runnable python examples"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    namespace: dict = {}
    for block in blocks:  # blocks of a page build on each other
        exec(compile(block, str(path), "exec"), namespace)
