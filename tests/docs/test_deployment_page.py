"""The Python examples of docs/deployment.md (ONNX export and ONNX Runtime decoding) run as
written, offline."""

import pytest
from markdown_blocks import DOCS, python_blocks

PAGE = DOCS / "deployment.md"


def test_deployment_examples_run(monkeypatch, tmp_path):
    for module in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(
            module, reason='the onnx extra is not installed: pip install "perceiver-hf[onnx]"'
        )
    blocks = python_blocks(PAGE)
    assert len(blocks) >= 2, "deployment.md lost its runnable examples"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    namespace: dict = {}
    for block in blocks:  # the blocks build on each other
        exec(compile(block, str(PAGE), "exec"), namespace)
