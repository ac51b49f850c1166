"""🤗 datasets as PyTorch Lightning data modules for perceiver models."""

from importlib.metadata import version as _version

from perceiver.model.namespace import check_namespace

check_namespace()  # perceiver-io 0.11's perceiver/__init__.py would hide this library

__version__ = _version("perceiver-data")  # the installed distribution's version (pyproject.toml)
