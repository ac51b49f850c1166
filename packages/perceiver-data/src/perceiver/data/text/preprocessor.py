"""Text to model input: token ids and a padding mask (True = padding; converted from the tokenizer's
``attention_mask`` by core's :func:`perceiver.model.core.masks.pad_mask_from_attention_mask`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch

from perceiver.data.text._tokenizer import load_tokenizer
from perceiver.model.core.masks import pad_mask_from_attention_mask
from perceiver.model.core.validation import check_int

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["TextPreprocessor"]


class TextPreprocessor:
    """Tokenizes text to `(input_ids, pad_mask)`; `pad_mask` is True at padding positions.

    Args:
        tokenizer: a tokenizer instance, a Hub name or a local directory.
        max_seq_len: inputs are truncated to this many tokens.
        add_special_tokens: whether the tokenizer adds its special tokens (e.g. `[CLS]`, `[SEP]`).
        padding_side: `"left"` (Perceiver AR prompts) or `"right"`; `None` keeps the tokenizer's.
    """

    def __init__(
        self,
        tokenizer: str | PreTrainedTokenizerBase,
        max_seq_len: int,
        add_special_tokens: bool = False,
        padding_side: Literal["left", "right"] | None = None,
    ):
        check_int("max_seq_len", max_seq_len, 1)
        if padding_side not in (None, "left", "right"):
            raise ValueError(f"padding_side ({padding_side!r}) must be 'left' or 'right'")
        self.tokenizer = load_tokenizer(tokenizer)
        if padding_side is not None:
            self.tokenizer.padding_side = padding_side
        self.max_seq_len = max_seq_len
        self.add_special_tokens = add_special_tokens

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def preprocess(self, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns `input_ids` (n,) int64 and `pad_mask` (n,) bool."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a string, got {type(text).__name__}")
        input_ids, pad_mask = self.preprocess_batch([text])
        return input_ids[0], pad_mask[0]

    def preprocess_batch(self, text_batch: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns `input_ids` (b, n) int64 and `pad_mask` (b, n) bool, padded to the longest text."""
        if isinstance(text_batch, str):
            raise TypeError("preprocess_batch expects a list of strings; use preprocess for one string")
        text_batch = list(text_batch)
        if not text_batch:
            raise ValueError("text_batch is empty")
        for i, text in enumerate(text_batch):
            if not isinstance(text, str):
                raise ValueError(f"text_batch[{i}] must be a string, got {type(text).__name__}")
        result = self.tokenizer(
            list(text_batch),
            padding=True,
            truncation=True,
            max_length=self.max_seq_len,
            add_special_tokens=self.add_special_tokens,
            return_token_type_ids=False,
            return_attention_mask=True,
            return_tensors="pt",
        )
        pad_mask = pad_mask_from_attention_mask(result["attention_mask"])
        empty = pad_mask.all(dim=-1) if pad_mask.shape[-1] else torch.ones(len(text_batch), dtype=torch.bool)
        if empty.any():
            i = int(empty.nonzero()[0])
            raise ValueError(
                f"text_batch[{i}] ({text_batch[i]!r}) gives no tokens: a model input needs at least one"
            )
        return result["input_ids"].long(), pad_mask
