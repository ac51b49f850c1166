"""Recomputing non-persistent buffers after ``from_pretrained``.

transformers (5.x) builds a model on the meta device and loads the checkpoint into it; buffers
registered with ``persistent=False`` (the Fourier position encodings of the core adapters) are not
in the checkpoint and come back as uninitialised memory. ``_init_weights`` is called for every
module that the checkpoint did not fully initialise, so the wrappers call
:func:`restore_non_persistent_buffers` from there: it rebuilds the backend model on the CPU from
the config and copies the module's buffers from that twin. Buffers computed at construction
(not on the meta device) are marked by :func:`mark_computed_buffers` and left alone, so that
building a model directly does not build it twice.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["mark_computed_buffers", "restore_non_persistent_buffers"]

_COMPUTED = "_perceiver_computed"


def mark_computed_buffers(backend_model: nn.Module) -> None:
    """Mark the non-persistent buffers that construction computed (those not on the meta device)."""
    for module in backend_model.modules():
        for name in module._non_persistent_buffers_set:
            buffer = getattr(module, name)
            if buffer is not None and buffer.device.type != "meta":
                setattr(buffer, _COMPUTED, True)


@torch.no_grad()
def restore_non_persistent_buffers(backend_model: nn.Module, module: nn.Module) -> None:
    """Copy the non-persistent buffers that ``module`` (a submodule of ``backend_model``) owns
    from a freshly constructed ``backend_model``; a no-op for modules without such buffers."""
    names = [
        n for n in module._non_persistent_buffers_set if not getattr(getattr(module, n), _COMPUTED, False)
    ]
    if not names:
        return
    prefix = next((name for name, m in backend_model.named_modules() if m is module), None)
    if prefix is None:
        return
    with torch.device("cpu"):
        twin = type(backend_model)(backend_model.config)
    fresh = twin.get_submodule(prefix)
    for name in names:
        buffer = getattr(module, name)
        buffer.copy_(getattr(fresh, name))
        setattr(buffer, _COMPUTED, True)
