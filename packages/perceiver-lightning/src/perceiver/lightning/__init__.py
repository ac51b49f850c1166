"""PyTorch Lightning wrappers of the perceiver-core task models (``Lit*`` classes)."""

from perceiver.model.namespace import check_namespace

check_namespace()  # perceiver-io 0.11's perceiver/__init__.py would hide this library

__all__: list[str] = []
