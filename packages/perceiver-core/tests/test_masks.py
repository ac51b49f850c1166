"""The pad-mask convention (perceiver.model.core.masks): semantics, checks and one conversion per
forward pass on the way from a 🤗 attention_mask to SDPA."""

import pytest
import torch
from torch.testing import assert_close

from perceiver.model.core import attention, masks, perceiver_ar, perceiver_io
from perceiver.model.core.masks import (
    attend_mask,
    check_pad_mask,
    check_prompt_padding,
    effective_pad_mask,
    pad_mask_from_attention_mask,
)
from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig
from perceiver.model.text.mlm import MaskedLanguageModel, MaskedLanguageModelConfig, TextDecoderConfig
from perceiver.model.text.mlm import TextEncoderConfig as EncoderConfig


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.float32])
def test_attention_mask_becomes_pad_mask(dtype):
    attention_mask = torch.tensor([[0, 1, 1], [1, 1, 1]]).to(dtype)
    pad_mask = pad_mask_from_attention_mask(attention_mask)
    assert pad_mask.dtype == torch.bool
    assert torch.equal(pad_mask, torch.tensor([[True, False, False], [False, False, False]]))
    assert pad_mask_from_attention_mask(None) is None


def test_bad_attention_masks_are_named():
    with pytest.raises(TypeError, match="attention_mask must be a tensor"):
        pad_mask_from_attention_mask([[1, 0]])
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(batch, seq_len\), got \(3,\)"):
        pad_mask_from_attention_mask(torch.ones(3))
    with pytest.raises(ValueError, match="1 \\(token\\) and 0 \\(padding\\) only, got 2"):
        pad_mask_from_attention_mask(torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match=r"got 0\.5"):
        pad_mask_from_attention_mask(torch.tensor([[0.5, 1.0]]))


def test_check_pad_mask_names_dtype_and_shape():
    check_pad_mask(None, (2, 3))
    check_pad_mask(torch.zeros(2, 3, dtype=torch.bool), (2, 3))
    with pytest.raises(TypeError, match="pad_mask must be a bool tensor"):
        check_pad_mask([[True]], (1, 1))
    with pytest.raises(ValueError, match=r"got dtype torch\.int64"):
        check_pad_mask(torch.zeros(2, 3, dtype=torch.long), (2, 3))
    with pytest.raises(ValueError, match=r"key_mask has shape \(2, 4\), expected \(2, 3\)"):
        check_pad_mask(torch.zeros(2, 4, dtype=torch.bool), (2, 3), name="key_mask")


def test_effective_pad_mask_reads_a_device_mask_only_when_asked():
    no_padding = torch.zeros(2, 5, dtype=torch.bool)
    padded = no_padding.clone()
    padded[0, 0] = True
    assert effective_pad_mask(no_padding) is None and effective_pad_mask(padded) is padded
    assert effective_pad_mask(None) is None
    meta = torch.zeros(2, 5, dtype=torch.bool, device="meta")  # stands for an accelerator's mask
    assert effective_pad_mask(meta) is meta  # not read: the host would wait for the device


@pytest.mark.gpu
def test_effective_pad_mask_on_cuda():
    no_padding = torch.zeros(2, 5, dtype=torch.bool, device="cuda")
    assert effective_pad_mask(no_padding) is no_padding
    assert effective_pad_mask(no_padding, read_device=True) is None


def test_attend_mask_is_sdpa_convention_with_bottom_right_causality():
    pad_mask = torch.tensor([[True, False, False, False], [False, False, False, False]])
    assert torch.equal(attend_mask(pad_mask, 4, 4, causal=False), ~pad_mask[:, None, None, :])
    mask = attend_mask(pad_mask, 2, 4, causal=True)  # the last 2 of 4 positions are queries
    expected = torch.tensor(
        [
            [[False, True, True, False], [False, True, True, True]],
            [[True, True, True, False], [True, True, True, True]],
        ]
    )
    assert mask.shape == (2, 1, 2, 4) and torch.equal(mask[:, 0], expected)
    assert attend_mask(None, 3, 5, causal=False) is None


def test_prompt_padding_must_be_on_the_left():
    check_prompt_padding(torch.tensor([[True, False, False], [False, False, False]]))
    with pytest.raises(ValueError, match="right padding"):
        check_prompt_padding(torch.tensor([[False, False, True]]))
    with pytest.raises(ValueError, match="every token of prompt 1"):
        check_prompt_padding(torch.tensor([[False, False], [True, True]]), name="attention_mask")


def _count_calls(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_attention_mask_reaches_sdpa_through_one_conversion(monkeypatch):
    """From a 🤗 attention_mask to SDPA: one conversion to a pad mask, one effective_pad_mask per
    forward pass, and SDPA sees exactly the keys the attention mask marks as tokens."""
    config = MaskedLanguageModelConfig(
        encoder=EncoderConfig(
            vocab_size=20,
            max_seq_len=6,
            num_input_channels=8,
            num_cross_attention_heads=2,
            num_self_attention_heads=2,
            num_self_attention_layers_per_block=1,
        ),
        decoder=TextDecoderConfig(vocab_size=20, max_seq_len=6, num_cross_attention_heads=2),
        num_latents=3,
        num_latent_channels=8,
    )
    model = MaskedLanguageModel(config).eval()
    attention_mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    ids = torch.randint(20, (2, 6))
    effective = _count_calls(monkeypatch, perceiver_io, "effective_pad_mask")
    sdpa_masks = []
    original_attend = attention._attend

    def recording_attend(q, k, v, mask, dropout_p):
        sdpa_masks.append((k.shape[2], mask))
        return original_attend(q, k, v, mask, dropout_p)

    monkeypatch.setattr(attention, "_attend", recording_attend)
    with torch.no_grad():
        model(ids, pad_mask=pad_mask_from_attention_mask(attention_mask))
    assert len(effective) == 1
    # the encoder's cross-attention is the only attention over the 6 input positions
    over_inputs = [mask for num_keys, mask in sdpa_masks if num_keys == 6]
    assert len(over_inputs) == 1
    assert torch.equal(over_inputs[0][:, 0, 0], attention_mask.bool())
    # the same batch without padding runs unmasked: a mask without padding counts as none
    sdpa_masks.clear()
    with torch.no_grad():
        model(ids, pad_mask=pad_mask_from_attention_mask(torch.ones_like(attention_mask)))
    assert all(mask is None for _, mask in sdpa_masks)


def test_perceiver_ar_converts_the_pad_mask_once_per_forward(monkeypatch):
    config = CausalLanguageModelConfig(
        vocab_size=20, max_seq_len=8, max_latents=4, num_channels=8, num_heads=2, num_self_attention_layers=1
    )
    model = CausalLanguageModel(config).eval()
    effective = _count_calls(monkeypatch, perceiver_ar, "effective_pad_mask")
    pad_mask = torch.tensor([[True, True, False, False, False, False, False, False]])
    ids = torch.randint(20, (1, 8))
    with torch.no_grad():
        padded = model(ids, prefix_len=4, pad_mask=pad_mask)
        alone = model(ids[:, 2:], prefix_len=2)
    assert len(effective) == 2  # once per forward pass
    assert_close(padded, alone, atol=1e-5, rtol=1e-5)


def test_masks_is_the_only_home_of_the_convention():
    from perceiver.model.core import _validation

    assert not hasattr(_validation, "check_pad_mask")
    assert (
        "effective_pad_mask" not in vars(attention)
        or attention.effective_pad_mask is masks.effective_pad_mask
    )
    assert attention.attend_mask is masks.attend_mask
