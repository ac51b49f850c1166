"""PyTorch Lightning wrappers of the perceiver-core task models (``Lit*`` classes)."""

from importlib.metadata import version as _version

__version__ = _version(
    "perceiver-lightning"
)  # the installed distribution's version, set in its pyproject.toml

__all__: list[str] = []
