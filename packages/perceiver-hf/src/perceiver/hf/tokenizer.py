"""Tokenizers by name, resolved through perceiver-core's one table of tokenizer names
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
import os
from pathlib import Path

from huggingface_hub.utils import HFValidationError, validate_repo_id
from transformers import AutoTokenizer, PerceiverTokenizer, PreTrainedTokenizerBase

from perceiver.model.text.tokenizer_names import (
    UTF8_BYTES_TOKENIZER,
    TokenizerUnavailableError,
    hub_unavailable_reason,
    tokenizer_candidates,
)

__all__ = ["TokenizerUnavailableError", "load_tokenizer"]

logger = logging.getLogger(__name__)


def load_tokenizer(name_or_path: str, **kwargs) -> PreTrainedTokenizerBase:
    """The tokenizer of a model name, Hub id or local directory; `kwargs` go to `from_pretrained`
    (or to ``PerceiverTokenizer`` for the UTF-8 bytes names).

    Raises:
        TokenizerUnavailableError: the tokenizer needs Hub files that are not cached while the Hub
            cannot be used.
        OSError: transformers cannot load it (a bad path or a name that does not exist).
    """
    if not isinstance(name_or_path, str | os.PathLike):
        raise TypeError(f"name_or_path must be a Hub id or a local directory, got {name_or_path!r}")
    name_or_path = os.fspath(name_or_path)
    candidates = tokenizer_candidates(name_or_path)
    if candidates[0] == UTF8_BYTES_TOKENIZER:
        return PerceiverTokenizer(**kwargs)
    if Path(name_or_path).is_dir():
        return AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    try:
        validate_repo_id(candidates[0])
    except HFValidationError as e:
        raise OSError(
            f"cannot load tokenizer {name_or_path!r}: not a directory and not a Hub id ({e})"
        ) from e
    for candidate in candidates:
        try:
            return AutoTokenizer.from_pretrained(candidate, **{**kwargs, "local_files_only": True})
        except (OSError, ValueError):
            logger.debug("tokenizer %s is not in the local cache", candidate)
    reason = hub_unavailable_reason()
    if reason is not None:
        raise TokenizerUnavailableError(
            f"tokenizer {name_or_path!r} needs files from the Hub ({candidates[0]!r}), which are not in the "
            f"local cache, and the Hub cannot be used: {reason}"
        )
    return AutoTokenizer.from_pretrained(candidates[0], **kwargs)
