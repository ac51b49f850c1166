"""Checks of a batch before it is moved to the accelerator (after ``on_before_batch_transfer``).

A batch is checked while its tensors are still on the CPU, where reading a value costs no
host-device synchronization: non-finite model inputs (one NaN image poisons batch-norm running
statistics and, through the gradients, every weight), class labels that are not integers or not
in ``[0, num_classes)`` and token ids outside the vocabulary (an ``IndexError``, or a device-side
assert on a GPU, deep inside the model). Tensors that a data loader already put on an
accelerator are not checked. The cost is one pass over the batch's float tensors on the CPU.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

__all__ = ["check_class_labels", "check_finite", "check_token_ids", "floating_tensors"]


def floating_tensors(batch: Any, name: str = "batch") -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of every floating-point tensor in a (nested) tuple, list or dict batch."""
    if isinstance(batch, torch.Tensor):
        if batch.is_floating_point():
            yield name, batch
    elif isinstance(batch, Mapping):
        for key, value in batch.items():
            yield from floating_tensors(value, f"{name}[{key!r}]")
    elif isinstance(batch, list | tuple):
        for i, value in enumerate(batch):
            yield from floating_tensors(value, f"{name}[{i}]")


def _on_cpu(tensor: torch.Tensor) -> bool:
    return tensor.device.type == "cpu"


def _samples(mask: torch.Tensor) -> list[int]:
    """Indices (along dim 0) of the samples where ``mask`` is True, at most 8."""
    per_sample = mask.reshape(mask.shape[0], -1).any(dim=1) if mask.dim() > 0 else mask.reshape(1)
    return per_sample.nonzero().flatten()[:8].tolist()


def check_finite(
    tensors: Mapping[str, torch.Tensor] | Iterator[tuple[str, torch.Tensor]], where: str
) -> None:
    """Raise ``ValueError`` when a CPU tensor holds NaN or infinity."""
    items = tensors.items() if isinstance(tensors, Mapping) else tensors
    for name, tensor in items:
        if not _on_cpu(tensor) or not tensor.is_floating_point():
            continue
        if not bool(torch.isfinite(tensor).all()):
            bad = ~torch.isfinite(tensor)
            raise ValueError(
                f"{where}: {name} holds {int(bad.sum())} non-finite values (NaN or infinity) in samples "
                f"{_samples(bad)} of the batch; training on it would turn the weights (and batch-norm "
                "statistics) into NaN. Fix or drop these samples in the data"
            )


def check_class_labels(labels: Any, num_classes: int, where: str, name: str = "labels") -> None:
    """Raise ``ValueError`` unless ``labels`` are integer class indices in ``[0, num_classes)``."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{where}: {name} must be a tensor of class indices, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(
            f"{where}: {name} must be integer class indices (int64), got a {labels.dtype} tensor "
            f"(first values {labels.flatten()[:4].tolist()}); convert them in the data, e.g. with .long() "
            "after checking that they are whole numbers"
        )
    if not _on_cpu(labels) or labels.numel() == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        value = low if low < 0 else high
        raise ValueError(
            f"{where}: {name} holds the class index {value}, outside [0, {num_classes}) of the model's "
            f"num_classes ({num_classes})"
        )


def check_token_ids(
    ids: Any, vocab_size: int, where: str, name: str = "input_ids", ignore_index: int | None = None
) -> None:
    """Raise ``ValueError`` unless ``ids`` are integers in ``[0, vocab_size)`` (or ``ignore_index``)."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{where}: {name} must be a tensor of token ids, got {type(ids).__name__}")
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(f"{where}: {name} must be integer token ids, got a {ids.dtype} tensor")
    if not _on_cpu(ids) or ids.numel() == 0:
        return
    values = ids if ignore_index is None else ids[ids != ignore_index]
    if values.numel() == 0:
        return
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= vocab_size:
        value = low if low < 0 else high
        allowed = "" if ignore_index is None else f" (or {ignore_index}, ignored)"
        raise ValueError(
            f"{where}: {name} holds the token id {value}, outside [0, {vocab_size}){allowed} of the model's "
            f"vocab_size ({vocab_size})"
        )
