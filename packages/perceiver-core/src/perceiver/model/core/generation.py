"""Autoregressive generation with a Perceiver AR (:class:`CausalSequenceModel`).

The window schedule
-------------------
Decoding starts with ``num_latents`` latents at the end of the prompt. Each new token becomes
one more latent, so the latent window grows, and the prefix before it stays fixed. When the
window holds ``max_latents`` latents, or would exceed ``max_seq_len``, it *restarts*: it drops back
to ``num_latents`` latents, and the prefix slides forward so that the window, grown again to
``max_latents`` latents, still fits into ``max_seq_len`` tokens. The restart is one full forward pass
over the new window, which also rebuilds the KV cache.

Between restarts a step only appends to the window (the latent set's left edge and the prefix
stay put). Cached decoding therefore computes exactly what a full forward pass over the current
window computes: cached and uncached generation agree token for token, however many tokens are
generated. The cost of a step does not grow with the number of tokens generated; a restart's
cost is spread over ``max_latents - num_latents`` steps. Restarting at a lower ``num_latents`` is
cheaper, and restarting at a higher one keeps more latents for every prediction.

What ``num_latents`` means where
--------------------------------
- ``max_latents`` (model config; ``config.num_latents`` is a read-only alias, and the training
  CLI's ``--model.num_latents`` its older name): the most latents the model has.
- In training, the last ``min(n, max_latents)`` tokens of a sequence of length n are latents
  (``forward(x, prefix_len=n - num_latents)``).
- ``num_latents`` here, in :func:`generate` and :class:`IncrementalDecoder`: the latents a
  window starts and restarts with, ``1..max_latents``.
- (Perceiver IO configs' ``num_latents``: the length of their latent array.)

docs/generation.md has the same table, with the CLI and 🤗 names.

Compiled decoding
-----------------
A cached step reads every weight once for one token per sequence; on a CPU, where that is
memory-bound, the operators' dispatch and the Python around them add about half again to the
weights' reading time. ``compile=True`` runs the cached step through ``torch.compile``
(inductor, dynamic in the cache length, so one compilation serves every step and every window),
which fuses the elementwise work and drops most of that overhead. The first step compiles
(tens of seconds on CPU); later steps, and later calls in the same process, reuse the
compiled code. Prompts and restarts run eagerly. Logits agree with the eager step to float
rounding.

Quantized decoding
------------------
``quantize="int8"`` decodes with int8 weights (see ``perceiver.model.core.quantize``), which
reads about a quarter of the bytes per step; with ``compile=True`` as well, the compiled step
calls the same int8 kernel.

Verified drafts (self-speculative decoding)
-------------------------------------------
``quantize="int8", draft_tokens=k`` decodes greedily with float32's tokens at close to int8's
speed: the int8 copy drafts up to k tokens with cached steps, then the float32 model runs the
last accepted token and the k drafts as one cached pass (one read of its weights for k + 1
positions) and keeps the drafts up to the first one it would not have chosen itself; its own
choice there is the next token. The cache then holds float32's keys for every kept token, the
drafts' keys are dropped, and prompts and restarts run in float32. So the tokens are float32's
greedy tokens (up to float rounding between a pass over k + 1 tokens and k + 1 single steps),
and each kept draft saves a float32 step.

Shapes: b batch, n prompt length, t generated tokens, v vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import torch

from perceiver.model.core._validation import (
    ArgumentTypeError,
    as_index_tensor,
    check_bool,
    check_int,
    check_number,
    check_optional_int,
    check_token_ids,
)
from perceiver.model.core.masks import check_pad_mask, check_prompt_padding
from perceiver.model.core.quantize import quantized_for_decoding

__all__ = ["IncrementalDecoder", "Streamer", "VerifiedDrafts", "generate", "sample_next_token"]


class Streamer(Protocol):
    """Receives tokens as they are produced (the protocol of transformers' streamers)."""

    def put(self, value: torch.Tensor) -> None: ...

    def end(self) -> None: ...


class IncrementalDecoder:
    """Runs a causal Perceiver AR one token at a time under the window schedule.

    ``start(prompt)`` and each ``step(tokens)`` return the next-token logits (b, v).
    ``max_new_tokens`` sizes the token buffer; it grows if more tokens come. ``compile``: run
    the cached step through ``torch.compile`` (see the module docstring; needs ``use_cache``);
    ``compile_options``: inductor options for it, e.g. ``{"cpp_wrapper": True}``.
    """

    def __init__(
        self,
        model,
        num_latents: int,
        max_new_tokens: int,
        use_cache: bool = True,
        compile: bool = False,
        compile_options: Mapping[str, Any] | None = None,
    ) -> None:
        check_int("num_latents", num_latents)
        check_int("max_new_tokens", max_new_tokens, minimum=0)
        check_bool("use_cache", use_cache)
        check_bool("compile", compile)
        if not 1 <= num_latents <= model.max_latents:
            raise ValueError(
                f"num_latents must be in [1, {model.max_latents}] (max_latents), got {num_latents}"
            )
        if compile and not use_cache:
            raise ValueError("compile=True compiles the cached decoding step; it needs use_cache=True")
        _check_compile_options(compile, compile_options)
        self.model = model
        self._compiled = _compiled_cached_step(compile_options) if compile else None
        self._compile_options = compile_options
        self.num_latents = num_latents
        self.max_new_tokens = max_new_tokens
        self.cache = model.create_cache() if use_cache else None
        self.tokens: torch.Tensor | None = None  # (b, n + t) buffer, written in place
        self.pad_mask: torch.Tensor | None = None
        self.length = 0  # tokens in the buffer
        self.window_start = 0
        self.latents = 0
        self._appended = 0  # tokens appended to the cached window since the last full forward

    def start(self, prompt: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Take left-padded prompts (b, n) and return the logits (b, v) of their next tokens.

        Narrow integer ids (uint8, int16, ...) are widened to int64. Raises ``ValueError`` for
        an empty batch or prompt, ids outside the vocabulary, and a ``pad_mask`` that pads on the
        right or pads a whole prompt (see :func:`check_prompt_padding`).
        """
        check_token_ids("prompt", prompt, self.model.vocab_size)
        if prompt.dim() != 2:
            raise ValueError(f"prompt must have shape (batch, length), got {tuple(prompt.shape)}")
        b, n = prompt.shape
        if b == 0:
            raise ValueError(f"prompt holds no sequences (shape {tuple(prompt.shape)})")
        if n == 0:
            raise ValueError("prompt must hold at least one token")
        if n > self.model.max_seq_len:
            raise ValueError(f"prompt length {n} exceeds max_seq_len ({self.model.max_seq_len})")
        check_pad_mask(pad_mask, (b, n))
        check_prompt_padding(pad_mask)
        prompt = as_index_tensor(prompt)
        self.tokens = prompt.new_zeros(b, n + self.max_new_tokens)
        self.pad_mask = torch.zeros(b, n + self.max_new_tokens, dtype=torch.bool, device=prompt.device)
        self.tokens[:, :n] = prompt
        if pad_mask is not None:
            self.pad_mask[:, :n] = pad_mask
        self._padded = pad_mask is not None and bool(pad_mask.any())
        self.length = n
        self.window_start = 0
        self.latents = min(self.num_latents, n)
        return self._full_forward()

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append tokens (b,) and return the logits for the token after them."""
        self._check_tokens(tokens)
        if self.length >= self.tokens.shape[1]:
            self._grow()
        self.tokens[:, self.length] = tokens
        self.length += 1
        window_len = self.length - self.window_start
        if self.latents + 1 > self.model.max_latents or window_len > self.model.max_seq_len:
            return self._restart()
        self.latents += 1
        if self.cache is None:
            return self._full_forward()
        self._appended += 1
        if self._compiled is not None:
            check_token_ids("tokens", tokens, self.model.vocab_size)  # outside the compiled code
            return self._compiled(self.model, tokens, self.cache)
        return self.model(tokens[:, None], prefix_len=0, kv_cache=self.cache)[:, -1]

    def room(self) -> int:
        """How many tokens :meth:`step` or :meth:`extend` can append before the window restarts
        (0: the next step restarts it)."""
        if self.tokens is None:
            raise RuntimeError("call start(prompt) first")
        window_len = self.length - self.window_start
        return min(self.model.max_latents - self.latents, self.model.max_seq_len - window_len)

    def extend(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append tokens (b, n) in one cached pass; return the logits (b, n, v) after each.

        Needs the cache and ``1 <= n <= room()`` (the pass does not restart the window).
        """
        if self.cache is None:
            raise ValueError("extend() appends to the KV cache; the decoder was made with use_cache=False")
        if self.tokens is None:
            raise RuntimeError("call start(prompt) before extend()")
        if (
            not isinstance(tokens, torch.Tensor)
            or tokens.dim() != 2
            or tokens.shape[0] != self.tokens.shape[0]
        ):
            shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(f"tokens must have shape ({self.tokens.shape[0]}, n), got {shape}")
        n = tokens.shape[1]
        if not 1 <= n <= self.room():
            raise ValueError(
                f"extend() takes 1 to {self.room()} tokens before the window restarts (room()), got {n}"
            )
        check_token_ids("tokens", tokens, self.model.vocab_size)
        while self.length + n > self.tokens.shape[1]:
            self._grow()
        self.tokens[:, self.length : self.length + n] = tokens
        self.length += n
        self.latents += n
        self._appended += n
        if self._compiled is not None:
            return _compiled_cached_extend(self._compile_options)(self.model, tokens, self.cache)
        return _cached_extend(self.model, tokens, self.cache)

    def drop_last(self, n: int) -> None:
        """Forget the last ``n`` tokens appended by :meth:`step` or :meth:`extend` since the
        window last (re)started, from the sequences and the cache."""
        check_int("n", n, minimum=0)
        if n > self._appended:
            raise ValueError(
                f"cannot drop {n} tokens: {self._appended} were appended since the window last (re)started"
            )
        self.length -= n
        self.latents -= n
        self._appended -= n
        if self.cache is not None:
            self.cache.drop_last(n)

    def append(self, tokens: torch.Tensor) -> None:
        """Append tokens (b,) without computing logits (the last token of a generation)."""
        self._check_tokens(tokens)
        if self.length >= self.tokens.shape[1]:
            self._grow()
        self.tokens[:, self.length] = tokens
        self.length += 1

    @property
    def sequences(self) -> torch.Tensor:
        """Prompt and generated tokens so far (b, n + t)."""
        if self.tokens is None:
            raise RuntimeError("no sequences yet: call start(prompt) first")
        return self.tokens[:, : self.length]

    def _check_tokens(self, tokens: torch.Tensor) -> None:
        # shape and dtype only: the values are checked by the model's forward (or, for compiled
        # steps, before the compiled code), so that no step reads the ids back twice
        if self.tokens is None:
            raise RuntimeError("call start(prompt) before step() or append()")
        if not isinstance(tokens, torch.Tensor) or tokens.shape != self.tokens.shape[:1]:
            shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(
                f"tokens must have shape ({self.tokens.shape[0]},), one per sequence, got {shape}"
            )
        if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
            raise ValueError(f"tokens must hold integer token ids, got dtype {tokens.dtype}")

    def _grow(self) -> None:
        # doubling keeps the amortised cost of appending constant when more tokens come than
        # max_new_tokens announced (callers such as transformers' generate do not announce any)
        self.tokens = torch.cat([self.tokens, torch.zeros_like(self.tokens)], dim=1)
        self.pad_mask = torch.cat([self.pad_mask, torch.zeros_like(self.pad_mask)], dim=1)

    def _restart(self) -> torch.Tensor:
        max_window = self.model.max_seq_len - (self.model.max_latents - self.num_latents)
        self.window_start = self.length - min(self.length, max_window)
        self.latents = self.num_latents
        return self._full_forward()

    def _full_forward(self) -> torch.Tensor:
        window = self.tokens[:, self.window_start : self.length]
        pad_mask = self.pad_mask[:, self.window_start : self.length] if self._padded else None
        if self.cache is not None:
            self.cache.reset()
        self._appended = 0
        prefix_len = window.shape[1] - self.latents
        return self.model(window, prefix_len=prefix_len, pad_mask=pad_mask, kv_cache=self.cache)[:, -1]


def _cached_step(model, tokens: torch.Tensor, cache) -> torch.Tensor:
    # next-token logits (b, v) after appending tokens (b,) to a filled cache
    return model.logits(tokens[:, None], 0, None, cache)[:, -1]


def _cached_extend(model, tokens: torch.Tensor, cache) -> torch.Tensor:
    # logits (b, n, v) after each of tokens (b, n) appended to a filled cache
    return model.logits(tokens, 0, None, cache)


_compiled_steps: dict[tuple[str, str], Callable] = {}  # by function and inductor options


def _compiled(fn: Callable, options: Mapping[str, Any] | None) -> Callable:
    """``fn`` compiled with ``torch.compile`` under inductor ``options`` (one per process, function
    and options, shared by all models: their parameters are inputs of the compiled code, and the
    cache length is dynamic)."""
    key = (fn.__name__, repr(sorted((options or {}).items())))
    if key not in _compiled_steps:
        _compiled_steps[key] = torch.compile(fn, dynamic=True, options=dict(options) if options else None)
    return _compiled_steps[key]


def _compiled_cached_step(options: Mapping[str, Any] | None = None) -> Callable:
    """The cached decoding step, compiled (see :func:`_compiled`)."""
    return _compiled(_cached_step, options)


def _compiled_cached_extend(options: Mapping[str, Any] | None = None) -> Callable:
    """The cached pass over several new tokens (speculative decoding's check), compiled."""
    return _compiled(_cached_extend, options)


class VerifiedDrafts:
    """Greedy decoding with checked drafts, over an :class:`IncrementalDecoder`:
    ``draft_model`` (e.g. the int8 copy of the decoder's model, with the same cache layout)
    proposes up to ``draft_tokens`` tokens with cached steps on the decoder's cache, the decoder's
    model checks them in one :meth:`IncrementalDecoder.extend` and keeps those it would have
    chosen itself (see the module docstring). Kept drafts wait in a queue: the next calls of
    :meth:`step` with those tokens return their logits without computing anything. What
    ``generate(..., quantize="int8", draft_tokens=k)`` and the 🤗 causal LM's
    ``generate(..., quantize_decoding="int8", draft_tokens=k)`` decode with."""

    def __init__(self, decoder: IncrementalDecoder, draft_model, draft_tokens: int) -> None:
        check_int("draft_tokens", draft_tokens, minimum=1)
        if decoder.cache is None:
            raise ValueError(
                "VerifiedDrafts drafts with cached steps; the decoder was made with use_cache=False"
            )
        self.decoder = decoder
        self.draft_model = draft_model
        self.draft_tokens = draft_tokens
        self.queue: list[tuple[torch.Tensor, torch.Tensor]] = []  # (token (b,), logits after it (b, v))
        self.drafted = 0
        self.kept = 0

    def step(self, tokens: torch.Tensor, needed: int) -> torch.Tensor:
        """Append tokens (b,) and return the logits after them; ``needed``: how many more steps the
        caller will take after this one (drafts beyond them would be wasted)."""
        if self.queue:
            queued, logits = self.queue.pop(0)
            if torch.equal(tokens, queued):
                return logits
            # the caller chose other tokens (e.g. padding after an end-of-sequence token)
            self.decoder.drop_last(len(self.queue) + 1)
            self.queue.clear()
        decoder = self.decoder
        n = min(self.draft_tokens, decoder.room() - 1, needed)
        if n <= 0:
            return decoder.step(tokens)
        decoder._check_tokens(tokens)
        drafts = []
        last = tokens
        step = decoder._compiled or _cached_step  # the decoder's own (compiled) cached step
        for _ in range(n):  # the drafts' keys go into the cache and are dropped right after
            last = step(self.draft_model, last, decoder.cache).argmax(dim=-1)
            drafts.append(last)
        decoder.cache.drop_last(n)
        proposed = torch.stack([tokens, *drafts], dim=1)  # (b, n + 1)
        logits = decoder.extend(proposed)  # (b, n + 1, v)
        agree = (logits[:, :n].argmax(dim=-1) == proposed[:, 1:]).all(dim=0)  # (n,)
        kept = n if bool(agree.all()) else int(agree.int().argmin())
        decoder.drop_last(n - kept)
        self.queue = [(proposed[:, j], logits[:, j]) for j in range(1, kept + 1)]
        self.drafted += n
        self.kept += kept
        return logits[:, 0]

    def discard_queue(self) -> None:
        """Drop the kept drafts that were not asked for (the generation ended first)."""
        self.decoder.drop_last(len(self.queue))
        self.queue.clear()


def _check_compile_options(compile: bool, compile_options: Mapping[str, Any] | None) -> None:
    if compile_options is None:
        return
    if not isinstance(compile_options, Mapping):
        raise TypeError(f"compile_options must be a mapping of inductor options, got {compile_options!r}")
    if not compile:
        raise ValueError(f"compile_options={dict(compile_options)!r} needs compile=True")
    from torch._inductor import list_options

    unknown = sorted(set(compile_options) - set(list_options()))
    if unknown:
        raise ValueError(
            f"compile_options: unknown inductor option(s) {unknown} (see torch._inductor.list_options())"
        )


def _check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    check_number("temperature", temperature)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    check_optional_int("top_k", top_k)
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if top_p is not None:
        check_number("top_p", top_p)
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def sample_next_token(
    logits: torch.Tensor,
    do_sample: bool,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Greedy or sampled next tokens (b,) from logits (b, v).

    ``temperature`` must be finite and positive (an infinite temperature, which would sample
    uniformly whatever the logits, is refused), ``top_k`` an int of at least 1, ``top_p`` in
    (0, 1].
    """
    _check_sampling(temperature, top_k, top_p)
    if not do_sample:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # drop a token when the tokens ranked above it already reach top_p
        drop = (cumulative - sorted_logits.softmax(dim=-1)) >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)


def generate(
    model,
    prompt: torch.Tensor,
    pad_mask: torch.Tensor | None = None,
    num_tokens: int = 32,
    num_latents: int = 1,
    do_sample: bool | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_token_id: int | None = None,
    pad_token_id: int = 0,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    streamer: Streamer | Callable[[torch.Tensor], None] | None = None,
    compile: bool = False,
    compile_options: Mapping[str, Any] | None = None,
    quantize: str | None = None,
    draft_tokens: int | None = None,
) -> torch.Tensor:
    """Continue left-padded prompts (b, n) by ``num_tokens`` tokens; returns (b, n + t).

    Args:
        prompt: token ids; narrow integer dtypes (uint8, int16, int8) are widened to int64.
        pad_mask: (b, n), True = padding (prompts of different lengths are left-padded). Right
            padding, and a prompt that is all padding, are refused with a ``ValueError``.
        num_latents: latents the window starts (and restarts) with, 1..max_latents.
        do_sample: sample instead of greedy decoding; by default sampling is on when
            temperature, top_k or top_p is given.
        eos_token_id: a sequence that produced it is finished; later positions get
            ``pad_token_id`` (both must be ids of the vocabulary), and generation stops when every sequence is finished (so t may be
            smaller than ``num_tokens``).
        generator: random generator for reproducible sampling.
        use_cache: decode with the KV cache (same tokens, much faster).
        streamer: receives each step's tokens (b,) as they are produced: an object with
            ``put`` / ``end`` (transformers' streamers) or a callable.
        compile: run each cached step through ``torch.compile`` (faster steps after a
            compilation of tens of seconds on the first call in a process; needs use_cache).
        compile_options: inductor options for the compiled step (``torch.compile``'s
            ``options``). On CPU ``{"cpp_wrapper": True}`` gives the generated code a C++
            wrapper instead of a Python one: steps about 6% faster, for a compilation about
            twice as long.
        quantize: ``"int8"`` decodes with a copy of the model whose linear layers hold int8
            weights with per-output-channel float32 scales (``perceiver.model.core.quantize``):
            a cached step reads about a quarter of the weight bytes, at the cost of logits that
            differ from float32 by the weights' rounding (greedy tokens can differ at near-ties).
            CPU and float32 models only. The copy is made on the first call and reused while
            the model's parameters stay the same. None (default): the model as it is.
        draft_tokens: with ``quantize`` and greedy decoding: the quantized copy drafts up to this
            many tokens, and the float32 model checks them in one cached pass and keeps those it
            would have chosen (self-speculative decoding, see the module docstring). The tokens
            are float32's greedy tokens; the speed is close to the quantized copy's while most
            drafts are kept. None (default): no drafts.

    Decoding runs under ``torch.inference_mode`` (no autograd bookkeeping at all, which makes
    a cached step about 4% faster than under ``no_grad``). The tokens a streamer receives are
    therefore inference tensors (read them, or clone them to modify them in place); the
    returned sequences are an ordinary tensor.
    """
    check_int("num_tokens", num_tokens, minimum=1)
    _check_sampling(temperature, top_k, top_p)
    if do_sample is not None:
        check_bool("do_sample", do_sample)
    for name, token_id in (("eos_token_id", eos_token_id), ("pad_token_id", pad_token_id)):
        if token_id is None and name == "eos_token_id":
            continue
        check_int(name, token_id)
        if not 0 <= token_id < model.vocab_size:
            raise ValueError(f"{name} ({token_id}) is outside the vocabulary [0, {model.vocab_size})")
    if streamer is not None and not (hasattr(streamer, "put") or callable(streamer)):
        raise ArgumentTypeError(
            f"streamer must have put/end methods or be callable, got {type(streamer).__name__}"
        )
    if do_sample is None:
        do_sample = temperature != 1.0 or top_k is not None or top_p is not None
    draft_model = None
    if draft_tokens is not None:
        check_int("draft_tokens", draft_tokens, minimum=1)
        if quantize is None:
            raise ValueError(
                f"draft_tokens={draft_tokens} drafts with the quantized copy of the model; pass quantize as well"
            )
        if do_sample:
            raise ValueError(
                f"draft_tokens={draft_tokens} checks drafts against greedy choices; it does not sample "
                "(leave do_sample, temperature, top_k and top_p at their defaults)"
            )
        if not use_cache:
            raise ValueError(f"draft_tokens={draft_tokens} drafts with cached steps; it needs use_cache=True")
        draft_model = quantized_for_decoding(model, quantize, "quantize")  # validates both
    elif quantize is not None:
        model = quantized_for_decoding(model, quantize, "quantize")  # validates both

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            decoder = IncrementalDecoder(
                model, num_latents, num_tokens, use_cache=use_cache, compile=compile,
                compile_options=compile_options,
            )  # fmt: skip
            logits = decoder.start(prompt, pad_mask)  # validates the prompt and its pad mask
            speculator = None if draft_model is None else VerifiedDrafts(decoder, draft_model, draft_tokens)
            finished = torch.zeros(prompt.shape[0], dtype=torch.bool, device=prompt.device)
            put = getattr(streamer, "put", streamer)
            for i in range(num_tokens):
                tokens = sample_next_token(logits, do_sample, temperature, top_k, top_p, generator)
                tokens = tokens.masked_fill(finished, pad_token_id)
                if put is not None:
                    put(tokens)
                if eos_token_id is not None:
                    finished |= tokens == eos_token_id
                if i == num_tokens - 1 or (eos_token_id is not None and bool(finished.all())):
                    if speculator is not None:
                        speculator.discard_queue()
                    decoder.append(tokens)
                    break
                if speculator is not None:
                    logits = speculator.step(tokens, needed=num_tokens - i - 2)
                else:
                    logits = decoder.step(tokens)
            if streamer is not None and hasattr(streamer, "end"):
                streamer.end()
        # copied outside inference mode: an ordinary tensor, which the caller may update in place
        return decoder.sequences.clone()
    finally:
        model.train(was_training)
