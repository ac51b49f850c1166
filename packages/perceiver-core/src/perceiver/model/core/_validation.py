"""Argument checks shared by configs and building blocks.

Each raises ``ValueError`` naming the argument and the offending value, so a bad input fails at
the API boundary instead of deep inside torch.
"""

from __future__ import annotations

import torch


def check_positive(name: str, value: int | float) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def check_optional_positive(name: str, value: int | None) -> None:
    if value is not None:
        check_positive(name, value)


def check_non_negative(name: str, value: int | float) -> None:
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")


def check_probability(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def check_divisible(name: str, value: int, divisor_name: str, divisor: int) -> None:
    if value % divisor != 0:
        raise ValueError(f"{divisor_name} ({divisor}) must divide {name} ({value})")


def check_token_ids(name: str, ids: torch.Tensor, vocab_size: int) -> None:
    if ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"{name} must hold integer token ids, got dtype {ids.dtype}")
    if ids.numel() == 0:
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name} holds token id {bad}, outside the vocabulary [0, {vocab_size})")


def check_pad_mask(pad_mask: torch.Tensor | None, shape: tuple[int, ...], name: str = "pad_mask") -> None:
    if pad_mask is None:
        return
    if pad_mask.dtype != torch.bool:
        raise ValueError(f"{name} must be a bool tensor (True = padding), got dtype {pad_mask.dtype}")
    if tuple(pad_mask.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(pad_mask.shape)}, expected {tuple(shape)}")
