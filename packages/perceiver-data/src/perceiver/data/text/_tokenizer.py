"""Tokenizer loading by name, path or instance. Names resolve through perceiver-core's one table of
tokenizer names (`perceiver.model.text.tokenizer_names`): the UTF-8 bytes tokenizer is built locally,
other names come from the Hub cache or the Hub, and fail at once when they need the Hub offline."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from perceiver.model.text.tokenizer_names import (
    UTF8_BYTES_TOKENIZER,
    TokenizerUnavailableError,
    hub_unavailable_reason,
    tokenizer_candidates,
)

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
        ValueError: the tokenizer cannot be loaded otherwise (a bad path or name).
    """
    if not isinstance(tokenizer, str):
        return tokenizer

    from transformers import AutoTokenizer, PerceiverTokenizer

    candidates = tokenizer_candidates(tokenizer)
    if candidates[0] == UTF8_BYTES_TOKENIZER:
        return PerceiverTokenizer()
    if Path(tokenizer).is_dir():
        candidates, local = (tokenizer,), True
    else:
        local = False
        from huggingface_hub.utils import HFValidationError, validate_repo_id

        try:
            validate_repo_id(candidates[0])
        except HFValidationError as e:
            raise ValueError(
                f"cannot load tokenizer {tokenizer!r}: not a directory and not a Hub id ({e})"
            ) from e
    for candidate in candidates:
        try:
            return AutoTokenizer.from_pretrained(candidate, local_files_only=True)
        except (OSError, ValueError) as e:
            if local:
                raise ValueError(f"cannot load tokenizer from directory {tokenizer!r}: {e}") from e
    reason = hub_unavailable_reason()
    if reason is not None:
        raise TokenizerUnavailableError(
            f"tokenizer {tokenizer!r} needs files from the Hub ({candidates[0]!r}), which are not in the "
            f"local cache, and the Hub cannot be used: {reason}"
        )
    try:
        return AutoTokenizer.from_pretrained(candidates[0])
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot load tokenizer {tokenizer!r} (from {candidates[0]!r}): {e}") from e


def tokenizer_name(tokenizer: str | PreTrainedTokenizerBase) -> str:
    """A stable name for a tokenizer, used in cache keys."""
    if isinstance(tokenizer, str):
        return tokenizer
    name = getattr(tokenizer, "name_or_path", "") or ""
    return f"{type(tokenizer).__name__}:{name}:{len(tokenizer)}"
