"""perceiver-data stands alone: importing it must not pull in perceiver-core."""

import subprocess
import sys

import perceiver


def test_perceiver_is_a_namespace_package():
    assert getattr(perceiver, "__file__", None) is None


def test_data_package_does_not_import_core():
    code = "import sys, perceiver.data; assert 'perceiver.model' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
