import pytest
import torch
from transformers import PerceiverTokenizer

from perceiver.data.text import (
    CausalCollator,
    ClassificationCollator,
    TokenMaskingCollator,
    WordMaskingCollator,
)
from perceiver.data.text.collator import IGNORE_INDEX


@pytest.fixture(scope="module")
def tokenizer():
    return PerceiverTokenizer()


def test_causal_collator_shifts_labels_and_left_pads():
    labels, input_ids, pad_mask = CausalCollator(pad_token_id=0, padding_side="left")(
        [{"input_ids": [10, 11, 12, 13]}, {"input_ids": [20, 21]}]
    )
    assert input_ids.tolist() == [[10, 11, 12], [0, 0, 20]]
    assert labels.tolist() == [[11, 12, 13], [IGNORE_INDEX, IGNORE_INDEX, 21]]
    assert pad_mask.tolist() == [[False, False, False], [True, True, False]]


def test_classification_collator():
    labels, input_ids, pad_mask = ClassificationCollator(pad_token_id=0, padding_side="right")(
        [{"input_ids": [7, 8], "label": 1}, {"input_ids": [9], "label": 0}]
    )
    assert labels.tolist() == [1, 0] and labels.dtype == torch.long
    assert input_ids.tolist() == [[7, 8], [9, 0]]
    assert pad_mask.tolist() == [[False, False], [False, True]]


def test_token_masking_rates(tokenizer):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(6, 262, (64, 512))
    examples = [{"input_ids": row.tolist()} for row in ids]
    examples[0]["input_ids"] = examples[0]["input_ids"][:256]  # some padding
    labels, masked, pad_mask = TokenMaskingCollator(tokenizer, 0.15, generator=generator)(examples)
    selected = labels != IGNORE_INDEX
    assert not selected[pad_mask].any()
    assert selected.float().sum() / (~pad_mask).sum() == pytest.approx(0.15, abs=0.01)
    # labels hold the original tokens at the selected positions
    assert (labels[selected] == pad_sequences_ref(examples)[selected]).all()
    n = selected.sum()
    assert (masked[selected] == tokenizer.mask_token_id).sum() / n == pytest.approx(0.8, abs=0.02)
    unchanged = (masked[selected] == labels[selected]).sum() / n
    assert unchanged == pytest.approx(0.1, abs=0.02)
    # unselected tokens are never changed
    assert (masked[~selected] == pad_sequences_ref(examples)[~selected]).all()


def pad_sequences_ref(examples):
    length = max(len(e["input_ids"]) for e in examples)
    return torch.tensor([e["input_ids"] + [0] * (length - len(e["input_ids"])) for e in examples])


def test_whole_word_masking_masks_all_tokens_of_a_word(tokenizer):
    generator = torch.Generator().manual_seed(1)
    words = [[w] * 3 for w in range(200)]  # 200 words of 3 tokens
    example = {"input_ids": [100] * 600, "word_ids": [w for ws in words for w in ws]}
    labels, _, _ = WordMaskingCollator(tokenizer, 0.15, generator=generator)([example])
    selected = (labels[0] != IGNORE_INDEX).view(200, 3)
    assert (selected.all(dim=1) | ~selected.any(dim=1)).all()
    assert selected.all(dim=1).float().mean() == pytest.approx(0.15, abs=0.05)


def test_mask_prob_validated(tokenizer):
    with pytest.raises(ValueError, match="mask_prob"):
        TokenMaskingCollator(tokenizer, 1.5)
