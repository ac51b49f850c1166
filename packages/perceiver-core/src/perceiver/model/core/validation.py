"""Argument checks for the packages built on perceiver-core (perceiver-hf, perceiver-lightning,
perceiver-data), so that their entry points refuse bad input with the same errors as core's.

Each raises a ``ValueError`` naming the argument and its value; a wrong type raises
:class:`ArgumentTypeError`, which is both a ``TypeError`` and a ``ValueError``.
:func:`module_dtype` is the floating-point dtype that inputs of a module are converted to.
"""

from perceiver.model.core._validation import (
    ArgumentTypeError,
    check_batch,
    check_bool,
    check_int,
    check_number,
    check_optional_int,
    check_token_ids,
    module_dtype,
)
from perceiver.model.core.masks import check_pad_mask

__all__ = [
    "ArgumentTypeError",
    "check_batch",
    "check_bool",
    "check_int",
    "check_number",
    "check_optional_int",
    "check_pad_mask",
    "check_token_ids",
    "module_dtype",
]
