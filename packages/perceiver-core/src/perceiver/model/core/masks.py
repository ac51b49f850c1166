"""The pad-mask convention that every perceiver package shares, in one place.

Three conventions meet on the way from a tokenizer to attention:

=====================  ==========================  ===========================================
mask                   True / 1 means              where
=====================  ==========================  ===========================================
``attention_mask``     a token (0 = padding)       🤗 tokenizers and models (int or bool)
``pad_mask``           padding                     perceiver's models, data modules, Lightning
SDPA mask              the query may attend        ``scaled_dot_product_attention``
=====================  ==========================  ===========================================

``pad_mask`` is the one convention of perceiver's public API. A 🤗 ``attention_mask`` becomes a
``pad_mask`` once, at the boundary (:func:`pad_mask_from_attention_mask`); a model drops a mask
without padding once per forward pass (:func:`effective_pad_mask`), and each attention turns the
``pad_mask`` (and the causal mask) into SDPA's convention (:func:`attend_mask`).

Shapes: b batch, n queries, m keys.
"""

from __future__ import annotations

import torch

from perceiver.model.core._validation import ArgumentTypeError

__all__ = [
    "attend_mask",
    "check_pad_mask",
    "check_prompt_padding",
    "effective_pad_mask",
    "pad_mask_from_attention_mask",
]


def check_pad_mask(pad_mask: torch.Tensor | None, shape: tuple[int, ...], name: str = "pad_mask") -> None:
    """Raise unless ``pad_mask`` is None or a bool tensor of ``shape`` (True = padding).

    Reads shapes and dtypes only, never values: free on any device.
    """
    if pad_mask is None:
        return
    if not isinstance(pad_mask, torch.Tensor):
        raise ArgumentTypeError(
            f"{name} must be a bool tensor (True = padding), got {type(pad_mask).__name__}"
        )
    if pad_mask.dtype != torch.bool:
        raise ValueError(f"{name} must be a bool tensor (True = padding), got dtype {pad_mask.dtype}")
    if tuple(pad_mask.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(pad_mask.shape)}, expected {tuple(shape)}")


def check_prompt_padding(pad_mask: torch.Tensor | None, name: str = "pad_mask") -> None:
    """Refuse a prompt pad mask (b, n) (True = padding) that pads on the right or pads a whole
    prompt.

    Generation continues each prompt after the batch's last position, so a right-padded prompt
    would be continued after its padding (a silently different continuation). Reads the mask
    once (one host-device synchronization per call, none per decoding step).
    """
    if pad_mask is None or pad_mask.shape[-1] == 0:
        return
    mask = pad_mask.detach().to("cpu", torch.bool)
    all_padding = mask.all(dim=-1)
    if bool(all_padding.any()):
        row = int(all_padding.nonzero()[0, 0])
        raise ValueError(f"{name} marks every token of prompt {row} as padding; each prompt needs a token")
    right = (~mask[:, :-1] & mask[:, 1:]).any(dim=-1)
    if bool(right.any()):
        row = int(right.nonzero()[0, 0])
        raise ValueError(
            f"{name} has padding after a token in prompt {row} (right padding); generation continues "
            "every prompt at the end of the batch, so pad prompts on the left (e.g. "
            "tokenizer.padding_side = 'left', or TextPreprocessor(..., padding_side='left'))"
        )


def pad_mask_from_attention_mask(
    attention_mask: torch.Tensor | None, name: str = "attention_mask"
) -> torch.Tensor | None:
    """The ``pad_mask`` (bool, True = padding) of a 🤗 ``attention_mask`` (1 = token, 0 = padding).

    ``attention_mask`` may be a bool, integer or floating-point tensor of shape (b, m). Its values
    are checked (0 or 1 only) where that needs no wait for a device, that is on the CPU.

    Raises:
        ArgumentTypeError: ``attention_mask`` is not a tensor.
        ValueError: it is not two-dimensional, or (on the CPU) holds values other than 0 and 1.
    """
    if attention_mask is None:
        return None
    if not isinstance(attention_mask, torch.Tensor):
        raise ArgumentTypeError(
            f"{name} must be a tensor (1 = token, 0 = padding), got {type(attention_mask).__name__}"
        )
    if attention_mask.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, seq_len), got {tuple(attention_mask.shape)}")
    if attention_mask.dtype == torch.bool:
        return ~attention_mask
    pad_mask = attention_mask == 0
    if attention_mask.device.type == "cpu" and attention_mask.numel():
        invalid = ~pad_mask & (attention_mask != 1)
        if bool(invalid.any()):
            bad = attention_mask[invalid][0].item()
            raise ValueError(f"{name} must hold 1 (token) and 0 (padding) only, got {bad}")
    return pad_mask


def effective_pad_mask(pad_mask: torch.Tensor | None, read_device: bool = False) -> torch.Tensor | None:
    """``pad_mask``, or None where it marks no padding at all.

    Tokenizers and collators hand an all-False mask for a batch without padding; without a
    mask, attention runs unmasked (or with SDPA's own causal masking, which on CUDA lets SDPA
    choose flash attention) and skips the handling of queries without keys.

    ``PerceiverEncoder`` and ``PerceiverAR`` call this once per forward pass, where a mask on an
    accelerator is kept as it is: reading it would make the host wait for the device. Callers
    for which one wait per step is small next to the step pass ``read_device=True`` before
    calling the model, as the Lightning text wrappers do in training and validation; the model
    then receives None for a batch without padding. While compiling, the mask is kept; the
    result is the same either way.
    """
    if pad_mask is None or torch.compiler.is_compiling():
        return pad_mask
    if pad_mask.device.type != "cpu" and not read_device:
        return pad_mask
    return pad_mask if bool(pad_mask.any()) else None


def attend_mask(
    pad_mask: torch.Tensor | None,
    num_queries: int,
    num_keys: int,
    causal: bool,
    device: torch.device | None = None,
) -> torch.Tensor | None:
    """SDPA's boolean mask (b|1, 1, n|1, m), True = attend, or None when every query sees every key.

    Combines ``pad_mask`` (b, m), True = padding key, with a causal mask aligned to the bottom
    right: query i sees keys up to ``i + m - n``, so queries that are the last n of the m keys
    see themselves and everything before them.
    """
    # bottom-right alignment: a single query that is the last key sees every key
    causal = causal and num_queries > 1
    mask = None
    if pad_mask is not None:
        mask = ~pad_mask[:, None, None, :]  # (b, 1, 1, m)
    if causal:
        offset = num_keys - num_queries
        q_idx = torch.arange(num_queries, device=device)[:, None]
        k_idx = torch.arange(num_keys, device=device)[None, :]
        causal_mask = (k_idx <= q_idx + offset)[None, None]  # (1, 1, n, m)
        mask = causal_mask if mask is None else mask & causal_mask
    return mask
