"""Perceiver, Perceiver IO and Perceiver AR models in plain PyTorch.

``perceiver.model.core`` holds the building blocks; the task models live in
``perceiver.model.text``, ``perceiver.model.vision``, ``perceiver.model.audio`` and
``perceiver.model.multimodal``. Importing this package loads torch and nothing else.
"""

from importlib.metadata import version as _version

__version__ = _version("perceiver-core")  # the installed distribution's version, set in its pyproject.toml

from perceiver.model._moved import install_finder
from perceiver.model.namespace import check_namespace

check_namespace()  # perceiver-io 0.11's perceiver/__init__.py would hide this library
install_finder()  # old perceiver-io 0.11 module paths fail with a message saying where they went
