"""The ``symbolic-audio-generation`` pipeline: a MIDI prompt in, a continued MIDI file out.

MIDI files are turned into event tokens and back by perceiver-data's MIDI processor, imported
when the pipeline runs (``pip install "perceiver-data[audio]"``), with the encoding settings the
model was trained with (the config's ``midi_settings``, e.g. ``include_drums``). Rendering the result to audio
needs a synthesizer (pretty-midi's ``fluidsynth`` with a SoundFont): ``render_audio=True`` adds a
waveform when one is available and says why not otherwise.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from perceiver.hf._base import refuse_pipeline_arguments
from perceiver.model.core.validation import check_int

__all__ = ["SymbolicAudioGenerationPipeline"]


def _midi_codec():
    try:
        from perceiver.data.audio.midi import PAD_TOKEN_ID, decode_midi, encode_midi
    except ImportError as error:
        raise ImportError(
            'the symbolic-audio-generation pipeline needs perceiver-data\'s MIDI processor: pip install "perceiver-data[audio]"'
        ) from error
    return encode_midi, decode_midi, PAD_TOKEN_ID


class SymbolicAudioGenerationPipeline(Pipeline):
    """Continue a MIDI prompt (a path, a ``pretty_midi.PrettyMIDI`` or a list of event ids).

    Returns ``{"token_ids": [...], "midi": PrettyMIDI}``, plus ``"path"`` when ``output_path`` is
    given (the file is written atomically) and ``"audio"`` / ``"sample_rate"`` with
    ``render_audio=True``.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def _sanitize_parameters(
        self,
        max_new_tokens: int | None = None,
        num_latents: int | None = None,
        do_sample: bool | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        temperature: float | None = None,
        output_path: str | os.PathLike | None = None,
        render_audio: bool | None = None,
        include_prompt: bool | None = None,
        max_prompt_length: int | None = None,
        sf2_path: str | os.PathLike | None = None,
        render: bool | None = None,
        return_full_audio: bool | None = None,
        **kwargs,
    ):
        # render / return_full_audio: perceiver-io 0.11's names of render_audio / include_prompt
        render_audio = _one_of("render_audio", render_audio, "render", render, default=False)
        include_prompt = _one_of(
            "include_prompt", include_prompt, "return_full_audio", return_full_audio, default=True
        )
        refuse_pipeline_arguments(
            "symbolic-audio-generation",
            kwargs,
            {"return_type": "the result holds both 'token_ids' and 'midi'; drop it"},
        )
        preprocess = {}
        if max_prompt_length is not None:
            preprocess["max_prompt_length"] = check_int("max_prompt_length", max_prompt_length, minimum=1)
        if sf2_path is not None and not Path(sf2_path).is_file():
            raise FileNotFoundError(f"sf2_path {os.fspath(sf2_path)!r} is not a SoundFont file")
        generate_kwargs = {
            k: v
            for k, v in dict(
                max_new_tokens=max_new_tokens,
                num_latents=num_latents,
                do_sample=do_sample,
                top_k=top_k,
                top_p=top_p,
                temperature=temperature,
            ).items()
            if v is not None
        }
        postprocess = dict(
            output_path=output_path,
            render_audio=render_audio,
            include_prompt=include_prompt,
            sf2_path=sf2_path,
        )
        return preprocess, generate_kwargs, postprocess

    def preprocess(self, midi: Any, max_prompt_length: int | None = None) -> dict[str, torch.Tensor]:
        if isinstance(midi, list | tuple):
            ids = list(midi)
            bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, numbers.Integral)]
            if bad:
                raise ValueError(f"a MIDI prompt given as event ids must hold ints, got {bad[0]!r}")
        else:
            encode_midi, _, _ = _midi_codec()
            # encoded as in training: the model's config records the training's MIDI settings
            ids = encode_midi(midi, **getattr(self.model.config, "midi_settings", None) or {})
        if not ids:
            raise ValueError(f"the MIDI prompt {midi!r} holds no notes")
        if max_prompt_length is not None:
            ids = ids[:max_prompt_length]  # the prompt's beginning, as in perceiver-io 0.11
        max_seq_len = self.model.backend_model.max_seq_len
        return {"input_ids": torch.tensor([ids[-max_seq_len:]], dtype=torch.long)}

    def _forward(self, model_inputs: dict[str, torch.Tensor], **generate_kwargs) -> dict[str, torch.Tensor]:
        _, _, pad_token_id = _midi_codec()
        generate_kwargs.setdefault("max_new_tokens", 256)
        output = self.model.generate(model_inputs["input_ids"], pad_token_id=pad_token_id, **generate_kwargs)
        return {"sequence": output[0], "prompt_len": model_inputs["input_ids"].shape[1]}

    def postprocess(
        self, model_outputs, output_path=None, render_audio=False, include_prompt=True, sf2_path=None
    ) -> dict[str, Any]:
        _, decode_midi, _ = _midi_codec()
        ids = model_outputs["sequence"].tolist()
        if not include_prompt:
            ids = ids[model_outputs["prompt_len"] :]
        midi = decode_midi(ids)
        result: dict[str, Any] = {"token_ids": ids, "midi": midi}
        if output_path is not None:
            path = Path(output_path)
            partial = path.with_name(f".{path.name}.partial")
            midi.write(os.fspath(partial))
            os.replace(partial, path)
            result["path"] = path
        if render_audio:
            try:
                audio = midi.fluidsynth(
                    fs=22050, **({} if sf2_path is None else {"sf2_path": os.fspath(sf2_path)})
                )
                result["audio"], result["sample_rate"] = audio, 22050
            except Exception as error:  # no fluidsynth / SoundFont on this machine
                raise RuntimeError(
                    f"rendering MIDI to audio needs fluidsynth and a SoundFont: {error}"
                ) from error
        return result


def _one_of(name: str, value: Any, old_name: str, old_value: Any, default: Any) -> Any:
    """``value``, or perceiver-io 0.11's ``old_value`` for it; both given and different is an error."""
    if value is not None and old_value is not None and value != old_value:
        raise ValueError(
            f"{name}={value!r} and {old_name}={old_value!r} (its perceiver-io 0.11 name) disagree"
        )
    chosen = value if value is not None else old_value
    if chosen is None:
        return default
    if not isinstance(chosen, bool):
        raise TypeError(f"{name if value is not None else old_name} must be True or False, got {chosen!r}")
    return chosen


PIPELINE_REGISTRY.register_pipeline(
    "symbolic-audio-generation",
    pipeline_class=SymbolicAudioGenerationPipeline,
    pt_model=AutoModelForCausalLM,
    type="multimodal",
)
