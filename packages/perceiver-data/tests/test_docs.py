"""Runs the python examples of docs/datasets.md."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).parents[3] / "docs" / "datasets.md"


def _blocks() -> list[str]:
    if not DOC.is_file():
        return []
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_doc_has_examples():
    if not DOC.is_file():
        pytest.skip(f"{DOC} not found (installed without the repository)")
    assert len(_blocks()) >= 4


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_doc_example_runs(index, data_dir, monkeypatch, tmp_path):
    pytest.importorskip("PIL")
    pytest.importorskip("pretty_midi")
    monkeypatch.setenv("PERCEIVER_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)
    exec(compile(_blocks()[index], f"{DOC}:block{index}", "exec"), {"__name__": "__doc_example__"})
