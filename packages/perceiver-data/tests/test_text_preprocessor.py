import torch

from perceiver.data.text import TextPreprocessor


def test_utf8_tokenizer_resolves_offline_by_hub_name():
    preproc = TextPreprocessor("deepmind/language-perceiver", max_seq_len=32)
    assert len(preproc.tokenizer) == 262
    ids, pad_mask = preproc.preprocess("héllo")
    # UTF-8 bytes shifted by the 6 special tokens; é is two bytes
    assert ids.tolist() == [b + 6 for b in "héllo".encode()]
    assert ids.dtype == torch.long and pad_mask.dtype == torch.bool
    assert not pad_mask.any()
    assert preproc.tokenizer.decode(ids) == "héllo"


def test_left_padding_of_a_batch():
    preproc = TextPreprocessor("deepmind/language-perceiver", max_seq_len=32, padding_side="left")
    ids, pad_mask = preproc.preprocess_batch(["abcd", "ab"])
    assert ids.shape == pad_mask.shape == (2, 4)
    assert pad_mask.tolist() == [[False] * 4, [True, True, False, False]]
    assert ids[1, 2:].tolist() == ids[0, :2].tolist()
    assert (ids[pad_mask] == preproc.tokenizer.pad_token_id).all()


def test_padding_side_set_on_tokenizer_as_in_the_seed_docs():
    preproc = TextPreprocessor("deepmind/language-perceiver", max_seq_len=32, add_special_tokens=False)
    _, right = preproc.preprocess_batch(["abc", "a"])
    preproc.tokenizer.padding_side = "left"
    _, left = preproc.preprocess_batch(["abc", "a"])
    assert right[1].tolist() == [False, True, True]
    assert left[1].tolist() == [True, True, False]


def test_truncation_and_special_tokens():
    preproc = TextPreprocessor("deepmind/language-perceiver", max_seq_len=5, add_special_tokens=True)
    ids, _ = preproc.preprocess("abcdefgh")
    assert len(ids) == 5
    assert ids[0] == preproc.tokenizer.cls_token_id and ids[-1] == preproc.tokenizer.sep_token_id


def test_invalid_arguments():
    import pytest

    with pytest.raises(ValueError, match="max_seq_len"):
        TextPreprocessor("deepmind/language-perceiver", max_seq_len=0)
    with pytest.raises(ValueError, match="padding_side"):
        TextPreprocessor("deepmind/language-perceiver", max_seq_len=8, padding_side="middle")
    with pytest.raises(ValueError, match="cannot load tokenizer"):
        TextPreprocessor("/nonexistent/tokenizer-dir", max_seq_len=8)
