"""OnnxCausalLanguageModel: a Perceiver AR exported by export_onnx_decoder, run by ONNX Runtime.

It has the interface that :func:`perceiver.model.core.generate` drives (``create_cache()``, a
call with ``prefix_len`` and a cache, the vocabulary and window sizes), so decoding with ONNX
Runtime follows the same window schedule as decoding with PyTorch, with the same sampling
options: greedy decoding gives the tokens of ``model.generate(...)``.

Shapes: b batch, n tokens, v vocabulary.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from perceiver.hf.onnx._decoder_graphs import cache_names
from perceiver.hf.onnx._deps import require
from perceiver.hf.onnx._export import DECODER_CONFIG, DECODER_FORMAT
from perceiver.model.core.generation import Streamer, generate
from perceiver.model.core.validation import ArgumentTypeError, check_int, check_pad_mask, check_token_ids


class OnnxDecoderCache:
    """The KV cache of ONNX Runtime decoding: the present keys and values of the last graph run,
    the attention mask of the cached tokens and the next tokens' positions (numpy arrays)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tensors: list[np.ndarray] = []
        self.attention_mask: np.ndarray | None = None  # (b, m), 1 = token
        self.next_positions: np.ndarray | None = None  # (b,)

    @property
    def length(self) -> int:
        return 0 if self.attention_mask is None else self.attention_mask.shape[1]


class OnnxCausalLanguageModel:
    """Generation with the graphs that :func:`~perceiver.hf.onnx.export_onnx_decoder` wrote to
    ``directory``.

    ``providers`` and ``session_options`` go to each ``onnxruntime.InferenceSession`` (default:
    the CPU). :meth:`generate` takes the arguments of the PyTorch model's ``generate`` (greedy by
    default, sampling with ``temperature`` / ``top_k`` / ``top_p``), except ``num_latents``,
    which the graphs fix, and ``compile``.
    """

    training = False

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        providers: Sequence[str] | None = None,
        session_options: object | None = None,
    ) -> None:
        ort = require("onnxruntime")
        if not isinstance(directory, (str, os.PathLike)):
            raise ArgumentTypeError(f"directory must be a path, got {type(directory).__name__}")
        directory = Path(directory)
        config_path = directory / DECODER_CONFIG
        if not config_path.is_file():
            raise FileNotFoundError(
                f"{str(config_path)!r} not found: directory must hold the graphs that export_onnx_decoder wrote"
            )
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.get("format") != DECODER_FORMAT or config.get("version") != 1:
            raise ValueError(
                f"{str(config_path)!r} is not a Perceiver AR ONNX export (format {config.get('format')!r}, "
                f"version {config.get('version')!r}; expected {DECODER_FORMAT!r}, version 1)"
            )
        self.config = config
        self.vocab_size: int = config["vocab_size"]
        self.max_seq_len: int = config["max_seq_len"]
        self.max_latents: int = config["max_latents"]
        self.num_latents: int = config["num_latents"]
        num_layers = config["num_self_attention_layers"]
        self._present = cache_names("present", num_layers)
        self._past = cache_names("past", num_layers)
        providers = list(providers) if providers is not None else ["CPUExecutionProvider"]
        graphs = config["graphs"]
        self.prefill_session = ort.InferenceSession(
            str(directory / graphs["prefill"]), sess_options=session_options, providers=providers
        )
        self.step_session = ort.InferenceSession(
            str(directory / graphs["step"]), sess_options=session_options, providers=providers
        )

    # the model interface that perceiver.model.core.generate uses

    def eval(self) -> OnnxCausalLanguageModel:
        return self

    def train(self, mode: bool = True) -> OnnxCausalLanguageModel:
        if mode:
            raise ValueError("an ONNX Runtime model is for inference only; it has no training mode")
        return self

    def create_cache(self) -> OnnxDecoderCache:
        return OnnxDecoderCache()

    def __call__(
        self,
        x: torch.Tensor,
        prefix_len: int,
        pad_mask: torch.Tensor | None = None,
        kv_cache: OnnxDecoderCache | None = None,
    ) -> torch.Tensor:
        """Next-token logits (b, 1, v) of token ids x (b, n): a prefill over the window x (whose
        last ``num_latents`` tokens are latents) when ``kv_cache`` is empty or None, else one
        decoding step for the new tokens x (b, 1) after the cached ones."""
        self._check_call(x, prefix_len, pad_mask, kv_cache)
        ids = x.detach().cpu().numpy().astype(np.int64, copy=False)
        if kv_cache is not None and kv_cache.length > 0:
            return self._step(ids, kv_cache)
        n = ids.shape[1]
        if prefix_len != n - self.num_latents:
            latents = n - prefix_len
            raise ValueError(
                f"the prefill graph was exported with num_latents={self.num_latents}: a window of {n} tokens needs "
                f"prefix_len {n - self.num_latents}, got {prefix_len} ({latents} latents)"
                + (f"; prompts need at least {self.num_latents} tokens" if n < self.num_latents else "")
            )
        mask = np.ones_like(ids) if pad_mask is None else (~pad_mask.detach().cpu().numpy()).astype(np.int64)
        outputs = self.prefill_session.run(None, {"input_ids": ids, "attention_mask": mask})
        logits, next_positions, *tensors = outputs
        if kv_cache is not None:
            kv_cache.tensors = tensors
            kv_cache.attention_mask = mask
            kv_cache.next_positions = next_positions
        return torch.from_numpy(logits)[:, None]

    def _check_call(
        self, x: object, prefix_len: object, pad_mask: object, kv_cache: OnnxDecoderCache | None
    ) -> None:
        # the graphs check nothing: an id outside the vocabulary or a wrong shape fails deep in
        # ONNX Runtime, and a negative or fractional id would silently pick another embedding
        check_token_ids("input_ids", x, self.vocab_size)
        if x.dim() != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(
                f"input_ids must have shape (batch, seq_len) with both > 0, got {tuple(x.shape)}"
            )
        check_int("prefix_len", prefix_len)
        if kv_cache is not None and not isinstance(kv_cache, OnnxDecoderCache):
            raise ArgumentTypeError(
                f"kv_cache must be an OnnxDecoderCache (from create_cache()), got {type(kv_cache).__name__}"
            )
        b, n = x.shape
        if kv_cache is None or kv_cache.length == 0:
            check_pad_mask(pad_mask, (b, n))
            if n > self.max_seq_len:
                raise ValueError(f"a window of {n} tokens exceeds max_seq_len ({self.max_seq_len})")
            return
        cached_batch = kv_cache.attention_mask.shape[0]
        if n != 1 or prefix_len != 0 or pad_mask is not None or b != cached_batch:
            raise ValueError(
                f"a cached decoding step takes one new token per cached sequence ({cached_batch}, 1) with "
                f"prefix_len 0 and no pad_mask, got shape {tuple(x.shape)}, prefix_len {prefix_len}"
                + ("" if pad_mask is None else " and a pad_mask")
            )
        if kv_cache.length + 1 > self.max_seq_len:
            raise ValueError(
                f"1 new token after {kv_cache.length} cached exceeds max_seq_len ({self.max_seq_len}); "
                "generate() restarts the window before this"
            )

    def step_inputs(self, input_ids: np.ndarray, cache: OnnxDecoderCache) -> dict[str, np.ndarray]:
        """The decoding-step graph's inputs for new token ids (b, 1) after a filled cache."""
        return {
            "input_ids": input_ids,
            "positions": cache.next_positions,
            "past_attention_mask": cache.attention_mask,
            **dict(zip(self._past, cache.tensors, strict=True)),
        }

    def _step(self, ids: np.ndarray, cache: OnnxDecoderCache) -> torch.Tensor:
        logits, *tensors = self.step_session.run(None, self.step_inputs(ids, cache))
        cache.tensors = tensors
        b = ids.shape[0]
        cache.attention_mask = np.concatenate([cache.attention_mask, np.ones((b, 1), np.int64)], axis=1)
        cache.next_positions = cache.next_positions + 1
        return torch.from_numpy(logits)[:, None]

    def generate(
        self,
        prompt: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        num_tokens: int = 32,
        do_sample: bool | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        eos_token_id: int | None = None,
        pad_token_id: int = 0,
        generator: torch.Generator | None = None,
        streamer: Streamer | Callable[[torch.Tensor], None] | None = None,
    ) -> torch.Tensor:
        """Continue left-padded prompts (b, n) by ``num_tokens`` tokens; returns (b, n + t), as
        :func:`perceiver.model.core.generate` (prompts need at least ``num_latents`` tokens)."""
        if isinstance(prompt, np.ndarray):
            prompt = torch.from_numpy(prompt)
        if isinstance(pad_mask, np.ndarray):
            pad_mask = torch.from_numpy(pad_mask)
        if isinstance(prompt, torch.Tensor) and prompt.dim() == 2 and 0 < prompt.shape[1] < self.num_latents:
            raise ValueError(
                f"prompt has {prompt.shape[1]} tokens, fewer than the num_latents ({self.num_latents}) the graphs "
                "were exported with"
            )
        return generate(
            self,
            prompt,
            pad_mask,
            num_tokens=num_tokens,
            num_latents=self.num_latents,
            do_sample=do_sample,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            generator=generator,
            streamer=streamer,
        )
