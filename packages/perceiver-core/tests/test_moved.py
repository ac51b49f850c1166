"""perceiver-io 0.11 import paths of names that moved to perceiver-lightning or perceiver-hf fail
with an ImportError naming the new location and the package, and core imports nothing new."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from perceiver.model._moved import MOVED_MODULES, MOVED_NAMES

MOVED = [(old, name, *new) for old, names in MOVED_NAMES.items() for name, new in names.items()]


@pytest.mark.parametrize(("old", "name", "new_module", "new_name"), MOVED)
def test_moved_name_raises_import_error_naming_new_location(old, name, new_module, new_name):
    package = "perceiver-lightning" if new_module.startswith("perceiver.lightning") else "perceiver-hf"
    with pytest.raises(ImportError) as info:
        exec(f"from {old} import {name}", {})
    message = str(info.value)
    assert f"from {new_module} import {new_name}" in message
    assert f"pip install {package}" in message
    # the module's own names are untouched
    assert importlib.import_module(old).__all__


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_old_submodules_raise_naming_where_they_went(old):
    with pytest.raises(ModuleNotFoundError, match=r"of perceiver-io 0\.11 has moved") as info:
        importlib.import_module(old)
    parent = old.rsplit(".", 1)[0]
    if parent in MOVED_MODULES:  # the old parent package fails first
        old = parent
    assert f"module {old} of" in str(info.value) and MOVED_MODULES[old] in str(info.value)


def test_unknown_names_are_plain_errors():
    import perceiver.model.text.mlm as mlm

    assert not hasattr(mlm, "NoSuchName")
    with pytest.raises(ImportError, match="cannot import name 'NoSuchName'"):
        exec("from perceiver.model.text.mlm import NoSuchName", {})
    with pytest.raises(ModuleNotFoundError, match=r"No module named 'perceiver\.model\.text\.mlm\.nope'"):
        importlib.import_module("perceiver.model.text.mlm.nope")


def test_old_imports_load_nothing_but_torch():
    code = (
        "import sys\n"
        "try:\n"
        "    from perceiver.model.text.mlm import LitMaskedLanguageModel\n"
        "except ImportError as e:\n"
        "    assert 'perceiver.lightning.text.mlm' in str(e)\n"
        "try:\n"
        "    import perceiver.model.vision.optical_flow.huggingface\n"
        "except ImportError as e:\n"
        "    assert 'perceiver-hf' in str(e)\n"
        "loaded = [m for m in ('transformers', 'pytorch_lightning', 'perceiver.lightning', 'perceiver.hf') "
        "if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
