"""The Python examples of the docs pages about perceiver-core run as written."""

import pytest
from markdown_blocks import DOCS, python_blocks

PAGES = ["building-blocks.md", "model-construction.md", "model-construction-vision.md", "generation.md"]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page):
    path = DOCS / page
    blocks = python_blocks(path)
    assert blocks, f"{page} has no python examples"
    namespace: dict = {}
    for block in blocks:  # blocks of a page build on each other
        exec(compile(block, str(path), "exec"), namespace)
