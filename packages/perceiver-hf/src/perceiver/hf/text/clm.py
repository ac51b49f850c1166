"""🤗 wrapper of the Perceiver AR causal language model, usable with transformers' ``generate()``.

Generation runs perceiver-core's window schedule (``perceiver.model.core.generation``): the
cache handed to ``GenerationMixin`` is a :class:`PerceiverARGenerationCache`, a transformers
``Cache`` that holds the core incremental decoder. Greedy ``model.generate(...)`` therefore
yields exactly the tokens of the core ``generate``, and sampling, streamers, stopping criteria
and the other ``generate`` options work as for any 🤗 causal LM.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer, GenerationMixin
from transformers.cache_utils import Cache
from transformers.modeling_outputs import CausalLMOutputWithPast

from perceiver.hf._base import (
    PerceiverBackendConfig,
    PerceiverBackendModel,
    check_class_labels,
    check_forward_arguments,
)
from perceiver.hf._convert import convert_text_checkpoint, hub_options
from perceiver.hf.tokenizer import PerceiverBytesTokenizer
from perceiver.model.core import IncrementalDecoder, VerifiedDrafts, check_prompt_padding
from perceiver.model.core.masks import pad_mask_from_attention_mask
from perceiver.model.core.quantize import quantized_for_decoding
from perceiver.model.core.validation import check_int, check_number
from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig

# the name of generation's cache, as an argument of prepare_inputs_for_generation and forward
# and as a field of the output: ``cache`` from transformers 5.24, ``past_key_values`` before
_CACHE_ARGUMENT = (
    "cache" if "cache" in {f.name for f in dataclasses.fields(CausalLMOutputWithPast)} else "past_key_values"
)

__all__ = [
    "PerceiverARGenerationCache",
    "PerceiverCausalLanguageModel",
    "PerceiverCausalLanguageModelConfig",
    "convert_checkpoint",
]


class PerceiverARGenerationCache(Cache):
    """A transformers ``Cache`` holding a Perceiver AR's incremental decoder (and its KV cache)."""

    def __init__(
        self,
        model: CausalLanguageModel,
        num_latents: int,
        compile: bool = False,
        compile_options: dict | None = None,
        quantize: str | None = None,
        draft_tokens: int | None = None,
    ) -> None:
        super().__init__(layers=[])
        draft_model = None
        if draft_tokens is not None:
            if quantize is None:
                raise ValueError(
                    f"draft_tokens={draft_tokens} drafts with the quantized copy of the model; "
                    "pass quantize_decoding as well"
                )
            draft_model = quantized_for_decoding(model, quantize, "quantize_decoding")  # validates both
        elif quantize is not None:
            model = quantized_for_decoding(model, quantize, "quantize_decoding")  # validates both
        self.decoder = IncrementalDecoder(
            model,
            num_latents=num_latents,
            max_new_tokens=64,
            compile=compile,
            compile_options=compile_options,
        )
        self.drafts = None if draft_model is None else VerifiedDrafts(self.decoder, draft_model, draft_tokens)
        self.started = False

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append tokens (b,) and return the next-token logits (b, v)."""
        if self.drafts is None:
            return self.decoder.step(tokens)
        # transformers does not say how many tokens it still wants: drafts run up to draft_tokens
        return self.drafts.step(tokens, needed=self.drafts.draft_tokens)

    @property
    def is_compileable(self) -> bool:
        return False

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.decoder.length

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        raise NotImplementedError("beam search is not supported by Perceiver AR generation")


class PerceiverCausalLanguageModelConfig(PerceiverBackendConfig):
    """Config of a Perceiver AR; ``pad_token_id``, ``bos_token_id`` and ``eos_token_id`` are the
    special token ids of the tokenizer the model was trained with (None: it has none), which
    ``generate()`` uses by default (saved in ``generation_config.json`` too)."""

    model_type = "perceiver-ar-causal-language-model"
    backend_config_class = CausalLanguageModelConfig
    legacy_task = "text.clm"
    standard_attributes = {
        "vocab_size": lambda c: c.vocab_size,
        "hidden_size": lambda c: c.num_channels,
        "num_hidden_layers": lambda c: c.num_self_attention_layers,
        "num_attention_heads": lambda c: c.num_heads,
        "max_position_embeddings": lambda c: c.max_seq_len,
    }

    def __init__(
        self,
        backend_config: CausalLanguageModelConfig | dict | None = None,
        pad_token_id: int | None = None,
        bos_token_id: int | None = None,
        eos_token_id: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(backend_config, **kwargs)
        vocab_size = self.backend_config.vocab_size
        for name, token_id in (
            ("pad_token_id", pad_token_id),
            ("bos_token_id", bos_token_id),
            ("eos_token_id", eos_token_id),
        ):
            if token_id is not None:
                check_int(name, token_id)
                if not 0 <= token_id < vocab_size:
                    raise ValueError(f"{name} ({token_id}) is outside the vocabulary [0, {vocab_size})")
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id


class PerceiverCausalLanguageModel(PerceiverBackendModel, GenerationMixin):
    config_class = PerceiverCausalLanguageModelConfig
    backend_class = CausalLanguageModel
    main_input_name = "input_ids"
    auto_class_name = "AutoModelForCausalLM"
    pipeline_tag = "text-generation"

    def __init__(self, config: PerceiverCausalLanguageModelConfig) -> None:
        super().__init__(config)
        # generate()'s default number of latents to (re)start each window with; pad/eos/bos ids
        # come from the config. All are saved in generation_config.json.
        if getattr(self.generation_config, "num_latents", None) is None:
            self.generation_config.num_latents = 1
        # transformers loads the entries of its own only from a generation_config.json that was not
        # derived from a model config: this one holds num_latents
        self.generation_config._from_model_config = False

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # the cache is made in prepare_inputs_for_generation

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.backend_model.perceiver_ar.input_adapter.txt_embedding

    def generate(self, inputs: torch.Tensor | None = None, generation_config=None, **kwargs):
        """transformers' ``generate()``, with the arguments that would silently change its result
        refused first (once per call): a right-padded or all-padding ``attention_mask``, a
        non-finite ``temperature`` (an infinite one samples uniformly whatever the logits), a
        float ``max_new_tokens`` and ``eos_token_id`` / ``pad_token_id`` outside the vocabulary."""
        config = generation_config if generation_config is not None else self.generation_config
        # num_latents: the argument, else the generation config's (generation_config.json). It
        # reaches prepare_inputs_for_generation under another name, because transformers would
        # take an argument that the generation config also holds into the config.
        num_latents = kwargs.pop("num_latents", None)
        for source in (config, self.generation_config):
            if num_latents is None:
                num_latents = getattr(source, "num_latents", None)
        if num_latents is not None:
            check_int("num_latents", num_latents, minimum=1)
            kwargs["generation_num_latents"] = num_latents
        attention_mask = kwargs.get("attention_mask")
        if attention_mask is not None:
            check_prompt_padding(pad_mask_from_attention_mask(attention_mask), name="attention_mask")
        temperature = kwargs.get("temperature", getattr(config, "temperature", None))
        if temperature is not None:
            check_number("temperature", temperature)
        if kwargs.get("max_new_tokens") is not None:
            check_int("max_new_tokens", kwargs["max_new_tokens"], minimum=1)
        if kwargs.get("draft_tokens") is not None:
            draft_tokens = check_int("draft_tokens", kwargs["draft_tokens"], minimum=1)
            for name, greedy in (("do_sample", False), ("num_beams", 1)):
                value = kwargs.get(name, getattr(config, name, None))
                if value is not None and (type(value), value) != (type(greedy), greedy):
                    raise ValueError(
                        f"draft_tokens={draft_tokens} checks drafts against greedy choices; "
                        f"it does not combine with {name}={value!r}"
                    )
            if kwargs.get("use_cache") is False:
                raise ValueError(
                    f"draft_tokens={draft_tokens} drafts with cached steps; it needs use_cache=True"
                )
        vocab_size = self.backend_model.vocab_size
        for name in ("eos_token_id", "pad_token_id"):
            value = kwargs.get(name, getattr(config, name, None))
            for token_id in value if isinstance(value, list | tuple) else [value]:
                if token_id is None or isinstance(token_id, torch.Tensor):
                    continue
                check_int(name, token_id)
                if not 0 <= token_id < vocab_size:
                    raise ValueError(f"{name} ({token_id}) is outside the vocabulary [0, {vocab_size})")
        return super().generate(inputs, generation_config=generation_config, **kwargs)

    def prepare_inputs_for_generation(
        self,
        input_ids: torch.LongTensor,
        past_key_values: Cache | None = None,
        attention_mask: torch.LongTensor | None = None,
        use_cache: bool = True,
        num_latents: int | None = None,
        compile_decoding: bool = False,
        compile_decoding_options: dict | None = None,
        quantize_decoding: str | None = None,
        draft_tokens: int | None = None,
        cache: Cache | None = None,
        generation_num_latents: int | None = None,
        **kwargs,
    ) -> dict:
        """``compile_decoding=True`` (a ``generate()`` argument) compiles the cached decoding step
        with ``torch.compile``, as perceiver-core's ``generate(compile=True)`` does;
        ``compile_decoding_options`` are its inductor options (perceiver-core's
        ``compile_options``, e.g. ``{"cpp_wrapper": True}``). ``quantize_decoding="int8"``
        decodes with int8 weights, as perceiver-core's ``generate(quantize="int8")`` does; with
        ``draft_tokens=k`` as well, the int8 copy drafts up to k tokens and the float32 model checks
        them (greedy search only): the tokens are float32's (perceiver-core's ``draft_tokens``). The
        cache arrives as ``cache`` (transformers 5.24 and later) or ``past_key_values`` (earlier 5.x)."""
        if compile_decoding and not use_cache:
            raise ValueError(
                "compile_decoding=True compiles the cached decoding step; it needs use_cache=True"
            )
        if quantize_decoding is not None and not use_cache:
            raise ValueError(
                f"quantize_decoding={quantize_decoding!r} quantizes the cached decoding; it needs use_cache=True"
            )
        cache = cache if cache is not None else past_key_values
        if num_latents is None:
            num_latents = generation_num_latents
        if use_cache and cache is None:
            cache = PerceiverARGenerationCache(
                self.backend_model,
                1 if num_latents is None else num_latents,
                compile_decoding,
                compile_decoding_options,
                quantize_decoding,
                draft_tokens,
            )
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            _CACHE_ARGUMENT: cache if use_cache else None,
            "num_latents": num_latents,
        }

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        past_key_values: PerceiverARGenerationCache | None = None,
        num_latents: int | None = None,
        prefix_len: int | None = None,
        return_dict: bool | None = None,
        cache: PerceiverARGenerationCache | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        """Next-token logits for the latent positions, the last ``n - prefix_len`` tokens.

        Args:
            attention_mask: 1 = token, 0 = (left) padding.
            labels: the input ids (shifted inside, as for any 🤗 causal LM); -100 = ignore.
            past_key_values, cache: a generation cache (``cache`` is its name from transformers
                5.24); then ``input_ids`` is the whole sequence so far and only its last token
                is new. The output carries it under the installed transformers' name for it.
            num_latents: latents of an uncached forward (default ``max_latents``, at most n);
                during cached generation, the latents the window (re)starts with.
        """
        check_forward_arguments(self, kwargs)
        pad_mask = pad_mask_from_attention_mask(attention_mask)
        cache = cache if cache is not None else past_key_values
        if isinstance(cache, PerceiverARGenerationCache):
            decoder = cache.decoder
            if not cache.started:
                logits = decoder.start(input_ids, pad_mask)
                cache.started = True
            else:
                logits = cache.step(input_ids[:, -1])
            return CausalLMOutputWithPast(logits=logits[:, None], **{_CACHE_ARGUMENT: cache})

        model = self.backend_model
        if num_latents is not None:
            check_int("num_latents", num_latents, minimum=1)
        if labels is not None:
            check_class_labels(labels, tuple(input_ids.shape), model.vocab_size, ignore_index=-100)
        n = input_ids.shape[1]
        if n > model.max_seq_len:  # without a cache, attend to the last max_seq_len tokens
            input_ids, n = input_ids[:, -model.max_seq_len :], model.max_seq_len
            pad_mask = None if pad_mask is None else pad_mask[:, -n:]
        if prefix_len is None:
            prefix_len = n - min(n, model.max_latents if num_latents is None else num_latents)
        logits = model(input_ids, prefix_len=prefix_len, pad_mask=pad_mask)
        loss = None
        if labels is not None:
            targets = labels[:, -n:][:, prefix_len + 1 :]  # the token after each latent
            loss = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets, ignore_index=-100)
        return CausalLMOutputWithPast(loss=loss, logits=logits)


def convert_checkpoint(
    save_dir: str | Path,
    ckpt_url: str | Path,
    tokenizer_name: str | bool | None = True,
    push_to_hub: bool = False,
    **hub: Any,
) -> PerceiverCausalLanguageModel:
    """Convert a perceiver-lightning training checkpoint (local path or URL) of task ``text.clm``
    to a 🤗 model in ``save_dir``, with its tokenizer saved alongside (its pad/bos/eos ids go into
    the config and ``generation_config.json``).

    Args:
        tokenizer_name: True: the tokenizer the model was trained with (named by the checkpoint's
            data module; the UTF-8 bytes tokenizer where it names none); a name or path: that
            tokenizer; None: no tokenizer. It is saved as in training: special tokens only where
            training added them, the training's padding side, ``model_max_length`` = the model's
            ``max_seq_len``.
        hub: ``repo_id``, ``commit_message``, ``private``, ``token``: options of
            ``push_to_hub=True`` (as perceiver-io 0.11's ``**kwargs``); refused without it.
    """
    return convert_causal_checkpoint(
        save_dir, ckpt_url, PerceiverCausalLanguageModel, "text.clm", tokenizer_name, push_to_hub, hub
    )


def convert_causal_checkpoint(
    save_dir: str | Path,
    ckpt_url: str | Path,
    model_class: type[PerceiverCausalLanguageModel],
    task: str,
    tokenizer_name: str | bool | None,
    push_to_hub: bool = False,
    hub: Mapping[str, Any] | None = None,
    data_config: Callable[[Mapping[str, Any], str], dict[str, Any]] | None = None,
) -> PerceiverCausalLanguageModel:
    """``convert_checkpoint`` of the causal models: the saved tokenizer's special token ids become
    the model's generation defaults. ``hub``: options of ``push_to_hub=True`` (see
    :func:`perceiver.hf._convert.hub_options`); ``data_config``: see ``convert_checkpoint_to``."""
    hub = hub_options("convert_checkpoint", push_to_hub, hub or {})
    model = convert_text_checkpoint(
        save_dir, ckpt_url, model_class, task, tokenizer_name, push_to_hub=False, data_config=data_config
    )
    tokenizer = None
    if (Path(save_dir) / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(save_dir)
        special = special_token_ids(tokenizer, model.config.backend_config.vocab_size)
        if special:
            for name, token_id in special.items():
                setattr(model.config, name, token_id)
                setattr(model.generation_config, name, token_id)
            model.save_pretrained(save_dir)
    if push_to_hub:
        model.save_pretrained(save_dir, push_to_hub=True, **hub)
        if tokenizer is not None:
            tokenizer.save_pretrained(save_dir, push_to_hub=True, **hub)
    return model


def special_token_ids(tokenizer, vocab_size: int) -> dict[str, int]:
    """The pad, bos and eos ids of ``tokenizer`` that are inside the vocabulary of the model."""
    ids = {name: getattr(tokenizer, name, None) for name in ("pad_token_id", "bos_token_id", "eos_token_id")}
    return {
        name: token_id
        for name, token_id in ids.items()
        if isinstance(token_id, int) and 0 <= token_id < vocab_size
    }


AutoConfig.register(PerceiverCausalLanguageModelConfig.model_type, PerceiverCausalLanguageModelConfig)
AutoModelForCausalLM.register(PerceiverCausalLanguageModelConfig, PerceiverCausalLanguageModel)
AutoModel.register(PerceiverCausalLanguageModelConfig, PerceiverCausalLanguageModel)
AutoTokenizer.register(PerceiverCausalLanguageModelConfig, slow_tokenizer_class=PerceiverBytesTokenizer)
