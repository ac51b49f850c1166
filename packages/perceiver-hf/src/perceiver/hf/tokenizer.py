"""Tokenizers by name: perceiver-core's `load_named_tokenizer` (the one implementation, shared with
perceiver-data) with transformers' classes, resolved through core's one table of tokenizer names
(`perceiver.model.text.tokenizer_names`).

``deepmind/language-perceiver`` and the perceiver-io models built on it tokenize text into UTF-8
bytes with transformers' ``PerceiverTokenizer``, which needs no files: those names are built
locally, online or offline. ``krasserm/perceiver-ar-clm-base`` was trained with the XLNet
SentencePiece tokenizer, which needs files: from the local Hub cache, or from the Hub; when the Hub
cannot be used (``HF_HUB_OFFLINE`` or no network) loading fails at once with a
``TokenizerUnavailableError`` (an ``OSError``) instead of retrying the network.

:func:`training_tokenizer` makes the tokenizer saved with a converted model behave as in
training: the special tokens the training data had (none by default: ``PerceiverBytesTokenizer``
then does not wrap texts in ``[CLS] ... [SEP]``), the training's padding side (left for causal
language models) and ``model_max_length`` = the model's ``max_seq_len``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from transformers import AutoTokenizer, PerceiverTokenizer, PreTrainedTokenizerBase

from perceiver.model.core.data_spec import text_settings
from perceiver.model.text.tokenizer_names import TokenizerUnavailableError, load_named_tokenizer

__all__ = [
    "DEFAULT_TOKENIZER",
    "PerceiverBytesTokenizer",
    "TokenizerUnavailableError",
    "load_tokenizer",
    "training_tokenizer",
]

# the tokenizer of perceiver-data's text data modules unless they name another (UTF-8 bytes)
DEFAULT_TOKENIZER = "deepmind/language-perceiver"


class PerceiverBytesTokenizer(PerceiverTokenizer):
    """transformers' UTF-8 bytes ``PerceiverTokenizer`` that adds ``[CLS]`` and ``[SEP]`` around a
    text only with ``add_cls_sep=True`` (as ``PerceiverTokenizer`` always does).

    perceiver-data tokenizes training texts without special tokens (``add_special_tokens=False``);
    the tokenizer saved with such a model has ``add_cls_sep=False``, so that pipelines, which call
    the tokenizer with its defaults, give the model what training gave it. It is saved as
    ``PerceiverBytesTokenizer`` and loaded by ``AutoTokenizer`` after ``import perceiver.hf``.
    """

    def __init__(self, *args: Any, add_cls_sep: bool = True, **kwargs: Any) -> None:
        if not isinstance(add_cls_sep, bool):
            raise TypeError(f"add_cls_sep must be True or False, got {add_cls_sep!r}")
        self.add_cls_sep = add_cls_sep
        super().__init__(*args, add_cls_sep=add_cls_sep, **kwargs)

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        if self.add_cls_sep:
            return super().build_inputs_with_special_tokens(token_ids_0, token_ids_1)
        return token_ids_0 if token_ids_1 is None else token_ids_0 + token_ids_1

    def get_special_tokens_mask(
        self,
        token_ids_0: list[int],
        token_ids_1: list[int] | None = None,
        already_has_special_tokens: bool = False,
    ) -> list[int]:
        if self.add_cls_sep or already_has_special_tokens:
            return super().get_special_tokens_mask(token_ids_0, token_ids_1, already_has_special_tokens)
        return [0] * (len(token_ids_0) + len(token_ids_1 or ()))


logger = logging.getLogger(__name__)


def load_tokenizer(name_or_path: str, **kwargs) -> PreTrainedTokenizerBase:
    """The tokenizer of a model name, Hub id or local directory; `kwargs` go to `from_pretrained`
    (or to ``PerceiverTokenizer`` for the UTF-8 bytes names).

    Raises:
        TokenizerUnavailableError: the tokenizer needs Hub files that are not cached while the Hub
            cannot be used.
        TokenizerLoadError: (an OSError) it cannot be loaded (a bad path or a name that does not exist).
    """
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    return load_named_tokenizer(
        name_or_path, from_pretrained=AutoTokenizer.from_pretrained, utf8_bytes=PerceiverTokenizer, **kwargs
    )


def _without_special_tokens(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """``tokenizer`` changed so that its default call adds no special tokens (as in training)."""
    if isinstance(tokenizer, PerceiverTokenizer):
        return PerceiverBytesTokenizer(add_cls_sep=False, model_max_length=tokenizer.model_max_length)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # a tokenizers-backed tokenizer: a post-processor that adds nothing
        from tokenizers.processors import TemplateProcessing

        backend.post_processor = TemplateProcessing(single="$A", pair="$A $B:1", special_tokens=[])
    probe = "perceiver"
    if tokenizer(probe)["input_ids"] != tokenizer(probe, add_special_tokens=False)["input_ids"]:
        raise ValueError(
            f"the model was trained without special tokens, but tokenizer {tokenizer.name_or_path!r} "
            f"({type(tokenizer).__name__}) cannot be saved to leave them out by default: pass "
            "tokenizer_name=None and call the tokenizer with add_special_tokens=False"
        )
    return tokenizer


def training_tokenizer(
    name_or_path: str | None,
    data_hparams: Mapping[str, Any],
    max_seq_len: int,
    causal: bool,
) -> PreTrainedTokenizerBase:
    """The tokenizer a model was trained with, set up as in training.

    Args:
        name_or_path: the tokenizer; None: the one the data module's hyperparameters name
            (``tokenizer``), else :data:`DEFAULT_TOKENIZER`.
        data_hparams: the training data module's hyperparameters (``{}`` if unknown):
            ``add_special_tokens`` (default False), ``padding_side`` (default left for a causal
            language model, right otherwise).
        max_seq_len: the model's input length, saved as ``model_max_length``, so that
            ``truncation=True`` cuts texts to what the model takes.
        causal: a causal language model: left padding by default, and truncation from the left
            (a prompt keeps its end, which the continuation follows).
    """
    if name_or_path is None:
        recorded = data_hparams.get("tokenizer")
        name_or_path = recorded if isinstance(recorded, str) else DEFAULT_TOKENIZER
    tokenizer = load_tokenizer(name_or_path)
    add_special_tokens, padding_side = text_settings(data_hparams, causal)
    if not add_special_tokens:
        tokenizer = _without_special_tokens(tokenizer)
    settings = {"model_max_length": max_seq_len, "padding_side": padding_side}
    if causal:
        settings["truncation_side"] = "left"
    for name, value in settings.items():
        setattr(tokenizer, name, value)
        tokenizer.init_kwargs[name] = value  # what save_pretrained writes
    return tokenizer
