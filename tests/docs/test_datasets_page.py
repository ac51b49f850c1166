"""The Python examples of docs/datasets.md run as written, each in a fresh folder."""

import pytest
from markdown_blocks import DOCS, python_blocks

PAGE = DOCS / "datasets.md"
BLOCKS = python_blocks(PAGE)


def test_page_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_page_example_runs(index, data_dir, monkeypatch, tmp_path):
    pytest.importorskip("PIL")
    pytest.importorskip("pretty_midi")
    monkeypatch.setenv("PERCEIVER_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"{PAGE}:block{index}", "exec"), {"__name__": "__doc_example__"})
