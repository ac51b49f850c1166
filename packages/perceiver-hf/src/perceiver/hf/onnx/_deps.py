"""The optional dependencies of ONNX export, imported when first needed."""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINT = 'pip install "perceiver-hf[onnx]"'

# module -> what needs it
_PURPOSE = {
    "onnx": "ONNX export",
    "onnxscript": "ONNX export (torch.onnx's exporter)",
    "onnxruntime": "running exported graphs",
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{_PURPOSE.get(module, 'ONNX support')} needs the package {module!r}, which is not "
            f"installed: {INSTALL_HINT}"
        ) from error
