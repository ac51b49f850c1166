"""Tokenizer loading by name or path, with an offline UTF-8 bytes tokenizer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

__all__ = ["UTF8_TOKENIZER_NAMES", "load_tokenizer", "tokenizer_name"]

# Hub names whose tokenizer is transformers' PerceiverTokenizer with its default arguments (UTF-8 bytes,
# 6 special tokens, vocab 262). It needs no files, so it is built directly and never touches the Hub.
UTF8_TOKENIZER_NAMES = frozenset(
    {
        "deepmind/language-perceiver",
        "krasserm/perceiver-io-mlm",
        "krasserm/perceiver-ar-clm-base",
        "krasserm/perceiver-ar-utf8-clm-base",
        "utf8",
        "bytes",
    }
)


def load_tokenizer(tokenizer: str | PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Return a tokenizer given an instance, a Hub name or a local directory.

    The UTF-8 bytes tokenizer names in `UTF8_TOKENIZER_NAMES` resolve offline to
    `transformers.PerceiverTokenizer()`.

    Raises:
        ValueError: if the tokenizer cannot be loaded (offline and not cached, or a bad path).
    """
    if not isinstance(tokenizer, str):
        return tokenizer

    from transformers import AutoTokenizer, PerceiverTokenizer

    if tokenizer in UTF8_TOKENIZER_NAMES:
        return PerceiverTokenizer()
    try:
        return AutoTokenizer.from_pretrained(tokenizer)
    except (OSError, ValueError) as e:
        raise ValueError(
            f"cannot load tokenizer {tokenizer!r} (not a local directory and not in the Hub cache; "
            f"HF_HUB_OFFLINE may be set): {e}"
        ) from e


def tokenizer_name(tokenizer: str | PreTrainedTokenizerBase) -> str:
    """A stable name for a tokenizer, used in cache keys."""
    if isinstance(tokenizer, str):
        return tokenizer
    name = getattr(tokenizer, "name_or_path", "") or ""
    return f"{type(tokenizer).__name__}:{name}:{len(tokenizer)}"
