"""Tokenizer loading by name, path or instance: perceiver-core's `load_named_tokenizer` (the one
implementation, shared with perceiver-hf) with transformers' classes. Names resolve through core's
one table of tokenizer names (`perceiver.model.text.tokenizer_names`): the UTF-8 bytes tokenizer is
built locally, other names come from the Hub cache or the Hub, and fail at once when they need the
Hub offline."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from perceiver.model.text.tokenizer_names import load_named_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

__all__ = ["load_tokenizer", "tokenizer_name"]


def load_tokenizer(tokenizer: str | PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Return a tokenizer given an instance, a name (see `perceiver.model.text.tokenizer_names`), a Hub id
    or a local directory.

    Raises:
        TokenizerUnavailableError: (a ValueError) the tokenizer needs files from the Hub that are not
            cached while the Hub cannot be reached (offline mode or no network).
        TokenizerLoadError: (a ValueError) the tokenizer cannot be loaded otherwise (a bad path or name).
    """
    if not isinstance(tokenizer, str):
        return tokenizer

    from transformers import AutoTokenizer, PerceiverTokenizer

    return load_named_tokenizer(
        tokenizer, from_pretrained=AutoTokenizer.from_pretrained, utf8_bytes=PerceiverTokenizer
    )


def tokenizer_name(tokenizer: str | PreTrainedTokenizerBase) -> str:
    """A stable name for a tokenizer, used in cache keys."""
    if isinstance(tokenizer, str):
        return tokenizer
    name = getattr(tokenizer, "name_or_path", "") or ""
    return f"{type(tokenizer).__name__}:{name}:{len(tokenizer)}"
