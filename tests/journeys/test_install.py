"""The repository-level environment holds all four packages side by side."""

import importlib

import pytest


@pytest.mark.parametrize(
    "module", ["perceiver.model", "perceiver.lightning", "perceiver.hf", "perceiver.data"]
)
def test_every_package_imports(module):
    importlib.import_module(module)
