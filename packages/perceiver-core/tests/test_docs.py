"""The Python examples of the docs pages about perceiver-core run as written."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[3] / "docs"
PAGES = ["building-blocks.md", "model-construction.md", "model-construction-vision.md", "generation.md"]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page):
    path = DOCS / page
    if not path.exists():
        pytest.skip(f"{path} is not part of this checkout")
    blocks = python_blocks(path)
    assert blocks, f"{page} has no python examples"
    namespace: dict = {}
    for block in blocks:  # blocks of a page build on each other
        exec(compile(block, str(path), "exec"), namespace)
