"""perceiver is a PEP 420 namespace shared by four distributions: their modules must compose."""

import importlib
import importlib.metadata

import perceiver


def test_perceiver_is_a_namespace_package():
    assert getattr(perceiver, "__file__", None) is None
    assert len(list(perceiver.__path__)) >= 2  # perceiver-hf and perceiver-core


def test_modules_of_sibling_distributions_import_side_by_side():
    importlib.import_module("perceiver.model.core")
    module = importlib.import_module("perceiver.hf")
    dist = importlib.metadata.distribution("perceiver-hf")
    assert dist.version == importlib.metadata.version("perceiver-core")  # released in lockstep
    assert module.__name__ == "perceiver.hf"
