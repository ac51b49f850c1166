"""Tokenizers by name: perceiver-core's `load_named_tokenizer` (the one implementation, shared with
perceiver-data) with transformers' classes, resolved through core's one table of tokenizer names
(`perceiver.model.text.tokenizer_names`).

``deepmind/language-perceiver`` and the perceiver-io models built on it tokenize text into UTF-8
bytes with transformers' ``PerceiverTokenizer``, which needs no files: those names are built
locally, online or offline. ``krasserm/perceiver-ar-clm-base`` was trained with the XLNet
SentencePiece tokenizer, which needs files: from the local Hub cache, or from the Hub; when the Hub
cannot be used (``HF_HUB_OFFLINE`` or no network) loading fails at once with a
``TokenizerUnavailableError`` (an ``OSError``) instead of retrying the network.
"""

from __future__ import annotations

import logging

from transformers import AutoTokenizer, PerceiverTokenizer, PreTrainedTokenizerBase

from perceiver.model.text.tokenizer_names import TokenizerUnavailableError, load_named_tokenizer

__all__ = ["TokenizerUnavailableError", "load_tokenizer"]

logger = logging.getLogger(__name__)


def load_tokenizer(name_or_path: str, **kwargs) -> PreTrainedTokenizerBase:
    """The tokenizer of a model name, Hub id or local directory; `kwargs` go to `from_pretrained`
    (or to ``PerceiverTokenizer`` for the UTF-8 bytes names).

    Raises:
        TokenizerUnavailableError: the tokenizer needs Hub files that are not cached while the Hub
            cannot be used.
        TokenizerLoadError: (an OSError) it cannot be loaded (a bad path or a name that does not exist).
    """
    return load_named_tokenizer(
        name_or_path, from_pretrained=AutoTokenizer.from_pretrained, utf8_bytes=PerceiverTokenizer, **kwargs
    )
