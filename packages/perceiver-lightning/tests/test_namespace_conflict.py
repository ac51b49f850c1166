"""Next to krasserm/perceiver-io 0.11 (which ships perceiver/__init__.py), importing perceiver.lightning
fails with an error that says what to uninstall (see perceiver-core's test of the same name)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import perceiver.lightning
import perceiver.model


def test_old_regular_package_gives_an_error_saying_what_to_uninstall(tmp_path: Path):
    site = tmp_path / "site-packages"
    (site / "perceiver").mkdir(parents=True)
    (site / "perceiver" / "__init__.py").write_text("")  # perceiver-io 0.11's, empty
    try:
        for module in (perceiver.lightning, perceiver.model):
            source = Path(module.__file__).parent
            (site / "perceiver" / source.name).symlink_to(source, target_is_directory=True)
    except OSError:
        pytest.skip("symbolic links are not available here")
    code = f"import sys; sys.path.insert(0, {str(site)!r}); import perceiver.lightning"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "pip uninstall perceiver-io" in result.stderr
