"""perceiver-data shares the `perceiver` namespace; its package root stays light."""

import subprocess
import sys

import perceiver


def test_perceiver_is_a_namespace_package():
    assert getattr(perceiver, "__file__", None) is None


def test_data_package_root_loads_neither_lightning_nor_datasets():
    # perceiver-data depends on perceiver-core (shared contracts, the namespace check), which
    # imports torch alone; the heavy libraries load only with the modules that use them
    code = (
        "import sys, perceiver.data; "
        "heavy = {'pytorch_lightning', 'lightning', 'datasets', 'transformers'} & set(sys.modules); "
        "assert not heavy, sorted(heavy)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
