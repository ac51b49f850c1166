"""LightningCLI training scripts: ``python -m perceiver.scripts.<task> fit ...``."""

from importlib.metadata import version as _version

__version__ = _version(
    "perceiver-lightning"
)  # the installed distribution's version, set in its pyproject.toml
