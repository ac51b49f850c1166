"""perceiver-core loads torch and nothing heavier."""

import subprocess
import sys


def test_import_perceiver_model_leaves_other_frameworks_out():
    code = (
        "import sys, importlib, pkgutil, perceiver.model\n"
        "for m in pkgutil.walk_packages(perceiver.model.__path__, 'perceiver.model.'):\n"
        "    importlib.import_module(m.name)\n"
        "loaded = [m for m in ('transformers', 'pytorch_lightning', 'lightning', 'datasets', 'einops') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
