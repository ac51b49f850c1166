"""PyTorch Lightning wrappers of the perceiver-core task models (``Lit*`` classes)."""

from importlib.metadata import version as _version

__version__ = _version(
    "perceiver-lightning"
)  # the installed distribution's version, set in its pyproject.toml

from perceiver.model.namespace import check_namespace

check_namespace()  # perceiver-io 0.11's perceiver/__init__.py would hide this library

__all__: list[str] = []
