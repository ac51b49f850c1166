"""Which tokenizer each published text model was trained with: the one table of tokenizer names that
perceiver-data and perceiver-hf resolve a name with before they load a tokenizer.

Plain data and the standard library only (perceiver-core imports nothing but torch). The packages
that load tokenizers with transformers (perceiver-data, perceiver-hf) both call `load_named_tokenizer`
with transformers' classes, the one implementation of these rules:

- a name that maps to `UTF8_BYTES_TOKENIZER` is transformers' `PerceiverTokenizer()` with its default
  arguments (UTF-8 bytes, 6 special tokens, 262 ids, `model_max_length` 2048). It needs no files, so it
  is built locally and never touches the Hub, online or offline;
- any other name is loaded from the local Hub cache if one of `tokenizer_candidates(name)` is there;
  otherwise from the Hub, unless `hub_unavailable_reason()` says the Hub cannot be reached, in which
  case loading fails at once with that reason instead of retrying the network.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

__all__ = [
    "MODEL_TOKENIZERS",
    "UTF8_BYTES_TOKENIZER",
    "TokenizerLoadError",
    "TokenizerUnavailableError",
    "hub_unavailable_reason",
    "load_named_tokenizer",
    "tokenizer_candidates",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

UTF8_BYTES_TOKENIZER = "utf8-bytes"

# model or tokenizer name -> the tokenizer it was trained with (UTF8_BYTES_TOKENIZER or a Hub id)
MODEL_TOKENIZERS: Mapping[str, str] = MappingProxyType(
    {
        UTF8_BYTES_TOKENIZER: UTF8_BYTES_TOKENIZER,
        "utf8": UTF8_BYTES_TOKENIZER,
        "bytes": UTF8_BYTES_TOKENIZER,
        # Perceiver IO language model (Jaegle et al. 2021) and krasserm/perceiver-io's models built on it
        "deepmind/language-perceiver": UTF8_BYTES_TOKENIZER,
        "krasserm/perceiver-io-mlm": UTF8_BYTES_TOKENIZER,
        "krasserm/perceiver-io-mlm-imdb": UTF8_BYTES_TOKENIZER,
        "krasserm/perceiver-io-txt-clf-imdb": UTF8_BYTES_TOKENIZER,
        # krasserm/perceiver-io's Perceiver AR trained on C4 with the XLNet SentencePiece tokenizer
        # (32,000 ids); its Hub repository holds a copy of that tokenizer's files
        "krasserm/perceiver-ar-clm-base": "xlnet/xlnet-base-cased",
        "xlnet-base-cased": "xlnet/xlnet-base-cased",
    }
)

_TRUE = {"1", "ON", "YES", "TRUE"}
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


class TokenizerUnavailableError(OSError, ValueError):
    """A tokenizer that needs files from the Hub which are neither cached nor reachable.

    An `OSError` (as transformers raises for missing files) and a `ValueError` (as for bad arguments).
    """


class TokenizerLoadError(OSError, ValueError):
    """A tokenizer that cannot be loaded: a bad path or name, or files transformers refuses.

    An `OSError` (as transformers raises for missing files) and a `ValueError` (as for bad arguments).
    """


def tokenizer_candidates(name: str) -> tuple[str, ...]:
    """The tokenizers to try for `name`, in order: `(UTF8_BYTES_TOKENIZER,)`, or the Hub id it maps to
    followed by `name` itself (a model repository may hold a copy of its tokenizer), or `(name,)`."""
    target = MODEL_TOKENIZERS.get(name, name)
    if target in (UTF8_BYTES_TOKENIZER, name):
        return (target,)
    return (target, name)


def hub_unavailable_reason(timeout: float = 3.0) -> str | None:
    """Why the Hub cannot be used now (offline mode, or its host does not answer within `timeout`
    seconds), or None. Behind a proxy, the Hub is assumed reachable."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().upper() in _TRUE:
            return f"{variable} is set"
    if any(os.environ.get(variable) for variable in _PROXY_VARIABLES):
        return None
    endpoint = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return f"{host}:{port} cannot be reached ({e})"
    return None


# the form of a Hub repository id (huggingface_hub's rule, checked here without importing it)
_REPO_ID = re.compile(r"(?:[\w\-.]+/)?[\w\-.]{1,96}")


def _is_repo_id(name: str) -> bool:
    return (
        _REPO_ID.fullmatch(name) is not None
        and "--" not in name
        and ".." not in name
        and not name.endswith((".git", "."))
        and not name.startswith((".", "-"))
    )


def load_named_tokenizer(
    name_or_path: str | os.PathLike,
    *,
    from_pretrained: Callable[..., T],
    utf8_bytes: Callable[..., T],
    **kwargs: Any,
) -> T:
    """Loads the tokenizer of a model name, Hub id or local directory by the rules above.

    Args:
        from_pretrained: transformers' `AutoTokenizer.from_pretrained`.
        utf8_bytes: transformers' `PerceiverTokenizer` (built for the UTF-8 bytes names).
        kwargs: passed to either.

    Raises:
        TypeError: `name_or_path` is neither a string nor a path.
        TokenizerUnavailableError: the tokenizer needs Hub files that are not cached while the Hub
            cannot be used.
        TokenizerLoadError: the tokenizer cannot be loaded otherwise (a bad path or name).
    """
    if not isinstance(name_or_path, str | os.PathLike):
        raise TypeError(f"name_or_path must be a Hub id or a local directory, got {name_or_path!r}")
    name = os.fspath(name_or_path)
    candidates = tokenizer_candidates(name)
    if candidates[0] == UTF8_BYTES_TOKENIZER:
        return utf8_bytes(**kwargs)
    if Path(name).is_dir():
        try:
            return from_pretrained(name, **kwargs)
        except (OSError, ValueError) as e:
            raise TokenizerLoadError(f"cannot load tokenizer from directory {name!r}: {e}") from e
    if not _is_repo_id(candidates[0]):
        raise TokenizerLoadError(f"cannot load tokenizer {name!r}: not a directory and not a Hub id")
    for candidate in candidates:
        try:
            return from_pretrained(candidate, **{**kwargs, "local_files_only": True})
        except (OSError, ValueError):
            logger.debug("tokenizer %s is not in the local cache", candidate)
    reason = hub_unavailable_reason()
    if reason is not None:
        raise TokenizerUnavailableError(
            f"tokenizer {name!r} needs files from the Hub ({candidates[0]!r}), which are not in the "
            f"local cache, and the Hub cannot be used: {reason}"
        )
    try:
        return from_pretrained(candidates[0], **kwargs)
    except (OSError, ValueError) as e:
        raise TokenizerLoadError(f"cannot load tokenizer {name!r} (from {candidates[0]!r}): {e}") from e
