"""Next to krasserm/perceiver-io 0.11 (distribution perceiver-io, which ships perceiver/__init__.py),
importing perceiver.model fails with an error that says what to uninstall.

The old library installed into the same site-packages is stood in for by a folder holding a
regular package ``perceiver`` (an empty ``__init__.py``, as perceiver-io 0.11's) into which our
``perceiver/model`` is linked, as pip would have unpacked both, and optionally perceiver-io's
distribution metadata.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import perceiver.model

OUR_MODEL = Path(perceiver.model.__file__).parent


def _site(root: Path, with_metadata: bool) -> Path:
    site = root / "site-packages"
    (site / "perceiver").mkdir(parents=True)
    (site / "perceiver" / "__init__.py").write_text("")
    try:
        (site / "perceiver" / "model").symlink_to(OUR_MODEL, target_is_directory=True)
    except OSError:
        pytest.skip("symbolic links are not available here")
    if with_metadata:
        dist = site / "perceiver_io-0.11.1.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: perceiver-io\nVersion: 0.11.1\n")
    return site


def _import(site: Path, statement: str) -> subprocess.CompletedProcess:
    code = f"import sys; sys.path.insert(0, {str(site)!r}); {statement}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("with_metadata", [True, False])
def test_old_regular_package_gives_an_error_saying_what_to_uninstall(tmp_path: Path, with_metadata: bool):
    site = _site(tmp_path, with_metadata)
    result = _import(site, "import perceiver.model.text.clm")
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "pip uninstall perceiver-io" in result.stderr
    assert str(site / "perceiver" / "__init__.py") in result.stderr
    if with_metadata:
        assert "perceiver-io 0.11.1 is installed" in result.stderr


def test_namespace_without_the_old_library_imports(tmp_path: Path):
    site = tmp_path / "empty"
    site.mkdir()
    result = _import(site, "import perceiver.model.text.clm, perceiver; assert perceiver.__file__ is None")
    assert result.returncode == 0, result.stderr
