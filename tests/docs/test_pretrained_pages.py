"""The Python examples of the perceiver-hf docs pages run as written, offline (blocks fenced as
```python no-run need the Hub and are left out)."""

import pytest
from markdown_blocks import DOCS, python_blocks

# page -> the fewest runnable examples it must keep
PAGES = {"pretrained-models.md": 1, "pretrained-models-vision.md": 4}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_examples_run(page, monkeypatch, tmp_path):
    path = DOCS / page
    blocks = python_blocks(path)
    assert len(blocks) >= PAGES[page], f"{page} lost its runnable python examples"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    namespace: dict = {}
    for block in blocks:  # blocks of a page build on each other
        exec(compile(block, str(path), "exec"), namespace)
