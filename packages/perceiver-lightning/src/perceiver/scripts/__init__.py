"""LightningCLI training scripts: ``python -m perceiver.scripts.<task> fit ...``."""
