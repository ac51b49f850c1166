"""Argument checks shared by the data modules and file readers: each raises a ValueError that names
the argument and its value, so that bad input fails where it enters the library. Integers are
checked with perceiver-core's ``check_int`` (``perceiver.model.core.validation``), as in every package."""

from __future__ import annotations

import math
import numbers
from typing import Any

from perceiver.model.core.validation import check_int

__all__ = ["check_class_names", "check_label", "check_loader_args", "check_probability"]


def check_probability(name: str, value: Any, low_open: bool = True, high_open: bool = True) -> float:
    """``value`` as a float in (0, 1), or [0, 1] with the open ends closed."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(
            f"{name} ({value!r}) must be a number in {'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        )
    low_ok = value > 0 if low_open else value >= 0
    high_ok = value < 1 if high_open else value <= 1
    if not (low_ok and high_ok):
        raise ValueError(
            f"{name} ({value}) must be in {'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        )
    return float(value)


def check_label(value: Any, num_classes: int | None, where: str) -> int:
    """A class id: an integer (or an integral float such as 1.0) in [0, num_classes); ``where`` names its
    origin in the error (a file and row, a split ...)."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer()
    ):
        label = int(value)
    else:
        raise ValueError(f"{where}: label {value!r} is not an integer class id")
    if label < 0 or (num_classes is not None and label >= num_classes):
        bound = f"[0, {num_classes})" if num_classes is not None else "non-negative"
        raise ValueError(f"{where}: label {label} is out of range (class ids must be {bound})")
    return label


def check_loader_args(batch_size: Any, num_workers: Any) -> None:
    check_int("batch_size", batch_size, 1)
    check_int("num_workers", num_workers, 0)


def check_class_names(names: Any) -> list[str]:
    """A class map: a non-empty list of distinct, non-empty strings (label i is ``names[i]``)."""
    if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"class_names ({names!r}) must be a list of non-empty strings")
    names = list(names)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"class_names has duplicates: {duplicates}")
    if not names:
        raise ValueError("class_names is empty")
    return names
