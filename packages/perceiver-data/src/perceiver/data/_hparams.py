"""Data module hyperparameters as plain data.

Lightning stores a data module's hyperparameters in every checkpoint, and checkpoints are read
with ``torch.load(weights_only=True)``, which accepts plain data only: enums become their values,
paths become strings.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from enum import Enum
from typing import Any

__all__ = ["make_plain"]


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def make_plain(hparams: MutableMapping[str, Any]) -> None:
    """Replace enums and paths in ``hparams`` (a data module's ``self.hparams``) in place."""
    for key, value in list(hparams.items()):
        hparams[key] = _plain(value)
