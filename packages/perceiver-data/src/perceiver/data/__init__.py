"""🤗 datasets as PyTorch Lightning data modules for perceiver models."""

from importlib.metadata import version as _version

__version__ = _version("perceiver-data")  # the installed distribution's version, set in its pyproject.toml
