"""A check that ``perceiver`` is the namespace package that this library's distributions share.

perceiver-core, perceiver-lightning, perceiver-hf and perceiver-data install into one PEP 420
namespace package ``perceiver`` (no ``perceiver/__init__.py``). krasserm/perceiver-io 0.11,
the library they replace, is distributed as ``perceiver-io`` and ships ``perceiver/__init__.py``:
installed next to them, it turns ``perceiver`` into its regular package, which hides or mixes
with their modules. :func:`check_namespace` raises an ``ImportError`` that says what to uninstall
instead; ``perceiver.model`` and ``perceiver.lightning`` call it when imported.
"""

from __future__ import annotations

import importlib.metadata
import sys

__all__ = ["check_namespace"]


def check_namespace() -> None:
    """Raise ``ImportError`` when ``perceiver`` is a regular package (perceiver-io 0.11's)."""
    perceiver = sys.modules.get("perceiver")
    init = getattr(perceiver, "__file__", None)
    if perceiver is None or init is None:
        return
    try:
        old = importlib.metadata.distribution("perceiver-io")
        found = f"perceiver-io {old.version} is installed and its {init}"
    except importlib.metadata.PackageNotFoundError:
        found = f"{init} (from krasserm/perceiver-io 0.11 or another package named perceiver)"
    raise ImportError(
        f"{found} makes `perceiver` a regular package, which hides perceiver-core, perceiver-lightning, "
        "perceiver-hf and perceiver-data (they share the namespace package `perceiver`, which has no "
        "__init__.py). Uninstall the old library and reinstall these packages: "
        "pip uninstall perceiver-io && pip install --force-reinstall perceiver-core "
        "(and perceiver-lightning, perceiver-hf, perceiver-data as used); "
        "see the migration guide, docs/migrating.md"
    )
