"""Argument checks shared by configs and building blocks.

Each raises ``ValueError`` naming the argument and the offending value, so a bad input fails at
the API boundary instead of deep inside torch.
"""

from __future__ import annotations

import math
import numbers

import torch


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type. Both a ``TypeError`` and a ``ValueError``: invalid config
    values raise ``ValueError``, and callers catching either see it."""


def check_number(name: str, value: object) -> None:
    """A real number (not a bool, not a string), finite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")


def check_int(name: str, value: object, minimum: int | None = None) -> int:
    """An integer (not a bool, not a float) of at least ``minimum``; returned as a Python int (a
    symbolic size while exporting is returned as it is, unchecked)."""
    if isinstance(value, torch.SymInt):  # a symbolic size while exporting (torch.export, ONNX)
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_optional_int(name: str, value: object, minimum: int | None = None) -> int | None:
    return None if value is None else check_int(name, value, minimum)


def check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")


def check_positive(name: str, value: int | float) -> None:
    check_number(name, value)
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")


def check_positive_int(name: str, value: int) -> None:
    """A positive integer (sizes, counts)."""
    check_int(name, value)
    check_positive(name, value)


def check_optional_positive(name: str, value: int | None) -> None:
    """None or a positive integer (optional sizes)."""
    if value is not None:
        check_positive_int(name, value)


def check_non_negative(name: str, value: int | float) -> None:
    check_number(name, value)
    if not value >= 0:
        raise ValueError(f"{name} must be non-negative, got {value}")


def check_probability(name: str, value: float) -> None:
    check_number(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def check_divisible(name: str, value: int, divisor_name: str, divisor: int) -> None:
    check_int(name, value)
    check_int(divisor_name, divisor, minimum=1)
    if value % divisor != 0:
        raise ValueError(f"{divisor_name} ({divisor}) must divide {name} ({value})")


TOKEN_ID_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def as_index_tensor(ids: torch.Tensor) -> torch.Tensor:
    """Token ids in a dtype that embeddings take (int64 or int32): narrower integer ids are
    widened, so that they neither fail in the embedding nor overflow when generated ids are
    written next to them."""
    return ids if ids.dtype in (torch.int64, torch.int32) else ids.long()


def check_token_ids(name: str, ids: torch.Tensor, vocab_size: int) -> None:
    if not isinstance(ids, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a tensor of token ids, got {type(ids).__name__}")
    if ids.dtype not in TOKEN_ID_DTYPES:
        raise ValueError(f"{name} must hold integer token ids, got dtype {ids.dtype}")
    if ids.numel() == 0 or torch.compiler.is_exporting():
        # an exported graph (torch.export, ONNX) has no values to read: its runtime checks them
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name} holds token id {bad}, outside the vocabulary [0, {vocab_size})")


def check_batch(name: str, x: torch.Tensor) -> None:
    """A tensor whose first (batch) dimension is not empty."""
    if not isinstance(x, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a tensor, got {type(x).__name__}")
    if x.dim() == 0 or x.shape[0] == 0:
        raise ValueError(f"{name} holds no samples (shape {tuple(x.shape)}); pass a batch of at least one")


def float_input(name: str, x: torch.Tensor, dtype: torch.dtype, what: str) -> torch.Tensor:
    """``x`` as ``dtype`` if it is a floating-point tensor; integer and bool tensors (raw uint8
    pixels, int16 audio samples) are refused: ``what`` says which preprocessing they need."""
    if not isinstance(x, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor of {what}, got dtype {x.dtype}")
    return x if x.dtype == dtype else x.to(dtype)


PIXELS = "normalized pixels (preprocess raw images with the image processor, e.g. ImagePreprocessor)"


def module_dtype(module: torch.nn.Module) -> torch.dtype:
    """The dtype of a module's first floating-point parameter (float32 if it has none)."""
    for param in module.parameters():
        if param.is_floating_point():
            return param.dtype
    return torch.float32
