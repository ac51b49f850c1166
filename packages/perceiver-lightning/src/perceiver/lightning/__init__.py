"""PyTorch Lightning wrappers of the perceiver-core task models (``Lit*`` classes)."""

from importlib.metadata import version as _version

from perceiver.model.namespace import check_namespace

check_namespace()  # perceiver-io 0.11's perceiver/__init__.py would hide this library

__version__ = _version("perceiver-lightning")  # the installed distribution's version (pyproject.toml)
__all__: list[str] = []
