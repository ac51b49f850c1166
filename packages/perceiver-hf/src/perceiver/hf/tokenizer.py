"""Tokenizers by name, with the UTF-8 bytes tokenizer available offline.

``deepmind/language-perceiver`` (and the perceiver models converted from it) tokenize text
into UTF-8 bytes with transformers' ``PerceiverTokenizer``, which needs no files. When the Hub
cannot be reached (or ``HF_HUB_OFFLINE`` is set), those names resolve to a locally built
``PerceiverTokenizer`` instead of failing.
"""

from __future__ import annotations

import logging
import os

from transformers import AutoTokenizer, PerceiverTokenizer, PreTrainedTokenizerBase

__all__ = ["UTF8_BYTES_TOKENIZER_NAMES", "load_tokenizer"]

logger = logging.getLogger(__name__)

UTF8_BYTES_TOKENIZER_NAMES = frozenset(
    {
        "deepmind/language-perceiver",
        "krasserm/perceiver-io-mlm",
        "krasserm/perceiver-io-mlm-imdb",
        "krasserm/perceiver-io-txt-clf-imdb",
        "krasserm/perceiver-ar-clm-base",
        "krasserm/perceiver-ar-utf8-clm",
    }
)


def load_tokenizer(name_or_path: str, **kwargs) -> PreTrainedTokenizerBase:
    """``AutoTokenizer.from_pretrained``, falling back to ``PerceiverTokenizer`` for the UTF-8 bytes names."""
    if not isinstance(name_or_path, str | os.PathLike):
        raise TypeError(f"name_or_path must be a Hub id or a local directory, got {name_or_path!r}")
    try:
        return AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as error:
        if name_or_path not in UTF8_BYTES_TOKENIZER_NAMES:
            raise
        logger.info("%s not reachable (%s); using a locally built PerceiverTokenizer", name_or_path, error)
        return PerceiverTokenizer(**kwargs)
