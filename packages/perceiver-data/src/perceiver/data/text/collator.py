"""Batch collators. Every collator returns `(labels, input_ids, pad_mask)`.

Shapes: b = batch size, n = sequence length. `labels` is (b, n) int64 with -100 where no loss is
taken (padding, unmasked tokens for MLM), or (b,) for classification; `input_ids` is (b, n) int64;
`pad_mask` is (b, n) bool, True at padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch

from perceiver.data._checks import check_label, check_probability
from perceiver.model.core.validation import check_int

__all__ = [
    "IGNORE_INDEX",
    "CausalCollator",
    "ClassificationCollator",
    "DefaultCollator",
    "TokenMaskingCollator",
    "WordMaskingCollator",
    "mask_tokens",
    "pad_sequences",
]

IGNORE_INDEX = -100
PaddingSide = Literal["left", "right"]


def _check_padding(pad_token_id: Any, padding_side: Any) -> None:
    check_int("pad_token_id", pad_token_id, 0)
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side ({padding_side!r}) must be 'left' or 'right'")


def _check_examples(examples: Sequence[dict[str, Any]], min_tokens: int = 1) -> None:
    """Per batch, on the host: the examples are a non-empty list of dicts with enough input_ids."""
    if len(examples) == 0:
        raise ValueError("examples is empty: a batch needs at least one example")
    for i, example in enumerate(examples):
        if not isinstance(example, dict) or "input_ids" not in example:
            raise ValueError(f"examples[{i}] must be a dict with 'input_ids', got {type(example).__name__}")
        if len(example["input_ids"]) < min_tokens:
            raise ValueError(
                f"examples[{i}] has {len(example['input_ids'])} input_ids, fewer than {min_tokens}"
            )


def pad_sequences(
    sequences: Sequence[Sequence[int] | torch.Tensor], pad_value: int, padding_side: PaddingSide
) -> torch.Tensor:
    """Pads 1-d integer sequences to the longest one: (b, n) int64."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side ({padding_side!r}) must be 'left' or 'right'")
    if len(sequences) == 0:
        raise ValueError("sequences is empty")
    length = max(len(s) for s in sequences)
    out = torch.full((len(sequences), length), pad_value, dtype=torch.long)
    for i, seq in enumerate(sequences):
        seq = torch.as_tensor(seq, dtype=torch.long)
        if len(seq) == 0:
            continue
        if padding_side == "left":
            out[i, length - len(seq) :] = seq
        else:
            out[i, : len(seq)] = seq
    return out


def _pad_mask(sequences: Sequence[Sequence[int]], padding_side: PaddingSide) -> torch.Tensor:
    lengths = torch.tensor([len(s) for s in sequences])
    positions = torch.arange(int(lengths.max()))[None, :]  # (1, n)
    if padding_side == "left":
        return positions < (lengths.max() - lengths)[:, None]
    return positions >= lengths[:, None]


def mask_tokens(
    input_ids: torch.Tensor,
    selected: torch.Tensor,
    mask_token_id: int,
    random_token_ids: torch.Tensor,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT-style corruption of the `selected` positions: 80% mask token, 10% random token, 10% kept.

    Returns `(labels, masked_input_ids)`; labels are -100 where not selected.
    """
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    masked = input_ids.clone()
    r = torch.rand(input_ids.shape, generator=generator)
    replace_mask = selected & (r < 0.8)
    replace_random = selected & (r >= 0.8) & (r < 0.9)
    masked[replace_mask] = mask_token_id
    idx = torch.randint(len(random_token_ids), (int(replace_random.sum()),), generator=generator)
    masked[replace_random] = random_token_ids[idx]
    return labels, masked


class _TokenizerInfo:
    def __init__(self, tokenizer: Any):
        if tokenizer.mask_token_id is None:
            raise ValueError(f"tokenizer {type(tokenizer).__name__} has no mask token, needed for MLM")
        if tokenizer.pad_token_id is None:
            raise ValueError(f"tokenizer {type(tokenizer).__name__} has no pad token")
        self.pad_token_id = tokenizer.pad_token_id
        self.mask_token_id = tokenizer.mask_token_id
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
        vocab = torch.arange(len(tokenizer))
        self.random_token_ids = vocab[~torch.isin(vocab, self.special_ids)]


class DefaultCollator:
    """Pads `input_ids` (and statically masked `labels`, if present) of MLM examples."""

    def __init__(self, pad_token_id: int, padding_side: PaddingSide = "right"):
        _check_padding(pad_token_id, padding_side)
        self.pad_token_id = pad_token_id
        self.padding_side = padding_side

    def __call__(self, examples: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check_examples(examples)
        ids = [e["input_ids"] for e in examples]
        input_ids = pad_sequences(ids, self.pad_token_id, self.padding_side)
        pad_mask = _pad_mask(ids, self.padding_side)
        if "labels" in examples[0]:
            for i, e in enumerate(examples):
                if len(e["labels"]) != len(e["input_ids"]):
                    raise ValueError(
                        f"examples[{i}] has {len(e['labels'])} labels for {len(e['input_ids'])} input_ids"
                    )
            labels = pad_sequences([e["labels"] for e in examples], IGNORE_INDEX, self.padding_side)
        else:
            labels = input_ids.masked_fill(pad_mask, IGNORE_INDEX)
        return labels, input_ids, pad_mask


class CausalCollator:
    """Examples hold n + 1 tokens; inputs are the first n, labels the last n (shifted by one)."""

    def __init__(self, pad_token_id: int, padding_side: PaddingSide = "left"):
        _check_padding(pad_token_id, padding_side)
        self.pad_token_id = pad_token_id
        self.padding_side = padding_side

    def __call__(self, examples: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check_examples(examples, min_tokens=2)  # n + 1 tokens: inputs and shifted labels
        inputs = [list(e["input_ids"][:-1]) for e in examples]
        targets = [list(e["input_ids"][1:]) for e in examples]
        input_ids = pad_sequences(inputs, self.pad_token_id, self.padding_side)
        labels = pad_sequences(targets, IGNORE_INDEX, self.padding_side)
        return labels, input_ids, _pad_mask(inputs, self.padding_side)


class ClassificationCollator:
    """Examples hold `input_ids` and an integer `label` (in [0, num_classes) if given); labels are (b,)."""

    def __init__(
        self, pad_token_id: int, padding_side: PaddingSide = "right", num_classes: int | None = None
    ):
        _check_padding(pad_token_id, padding_side)
        if num_classes is not None:
            check_int("num_classes", num_classes, 1)
        self.pad_token_id = pad_token_id
        self.padding_side = padding_side
        self.num_classes = num_classes

    def __call__(self, examples: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check_examples(examples)
        ids = [e["input_ids"] for e in examples]
        labels = [
            check_label(e.get("label"), self.num_classes, f"examples[{i}]") for i, e in enumerate(examples)
        ]
        labels = torch.tensor(labels, dtype=torch.long)
        return (
            labels,
            pad_sequences(ids, self.pad_token_id, self.padding_side),
            _pad_mask(ids, self.padding_side),
        )


class TokenMaskingCollator:
    """Dynamic MLM masking of individual tokens (rate `mask_prob`, then 80/10/10)."""

    def __init__(
        self,
        tokenizer: Any,
        mask_prob: float = 0.15,
        padding_side: PaddingSide = "right",
        generator: torch.Generator | None = None,
    ):
        check_probability("mask_prob", mask_prob)
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side ({padding_side!r}) must be 'left' or 'right'")
        self.info = _TokenizerInfo(tokenizer)
        self.mask_prob = mask_prob
        self.padding_side = padding_side
        self.generator = generator

    def _candidates(self, input_ids: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        return ~pad_mask & ~torch.isin(input_ids, self.info.special_ids)

    def _select(self, examples: list[dict[str, Any]], input_ids: torch.Tensor, pad_mask: torch.Tensor):
        probs = torch.rand(input_ids.shape, generator=self.generator)
        return (probs < self.mask_prob) & self._candidates(input_ids, pad_mask)

    def __call__(self, examples: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check_examples(examples)
        ids = [e["input_ids"] for e in examples]
        input_ids = pad_sequences(ids, self.info.pad_token_id, self.padding_side)
        pad_mask = _pad_mask(ids, self.padding_side)
        selected = self._select(examples, input_ids, pad_mask)
        labels, masked = mask_tokens(
            input_ids, selected, self.info.mask_token_id, self.info.random_token_ids, self.generator
        )
        return labels, masked, pad_mask


class WordMaskingCollator(TokenMaskingCollator):
    """Dynamic whole-word masking: each word is selected with probability `mask_prob` and all of its
    tokens are then corrupted (80/10/10 per token). Examples need `word_ids` (-1 = not part of a word)."""

    def _select(self, examples: list[dict[str, Any]], input_ids: torch.Tensor, pad_mask: torch.Tensor):
        for i, e in enumerate(examples):
            if "word_ids" not in e:
                raise ValueError(f"examples[{i}] has no 'word_ids', needed for whole word masking")
            if len(e["word_ids"]) != len(e["input_ids"]):
                raise ValueError(
                    f"examples[{i}] has {len(e['word_ids'])} word_ids for {len(e['input_ids'])} input_ids"
                )
        word_ids = pad_sequences([e["word_ids"] for e in examples], -1, self.padding_side)  # (b, n)
        selected = torch.zeros_like(input_ids, dtype=torch.bool)
        for i in range(len(examples)):
            words = torch.unique(word_ids[i][word_ids[i] >= 0])
            chosen = words[torch.rand(len(words), generator=self.generator) < self.mask_prob]
            selected[i] = torch.isin(word_ids[i], chosen)
        return selected & self._candidates(input_ids, pad_mask)
