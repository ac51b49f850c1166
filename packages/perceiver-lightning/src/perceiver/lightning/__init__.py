"""PyTorch Lightning wrappers of the perceiver-core task models (``Lit*`` classes)."""

__all__: list[str] = []
