"""Data module hyperparameters as plain data.

Lightning stores a data module's hyperparameters in every checkpoint, and checkpoints are read
with ``torch.load(weights_only=True)``, which accepts plain data only. The conversion is
perceiver-core's :func:`~perceiver.model.core.checkpoint.plain_data` (the checkpoint contract's
owner): enums become their values, paths strings, tuples lists.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from perceiver.model.core.checkpoint import plain_data

__all__ = ["make_plain"]


def make_plain(hparams: MutableMapping[str, Any]) -> None:
    """Replace enums and paths in ``hparams`` (a data module's ``self.hparams``) in place."""
    for key, value in list(hparams.items()):
        hparams[key] = plain_data(value)
