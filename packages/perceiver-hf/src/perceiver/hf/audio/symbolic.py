"""🤗 wrapper of the symbolic audio Perceiver AR (MIDI event tokens), with ``generate()``.

The config's ``midi_settings`` are the arguments of perceiver-data's MIDI encoding that the model
was trained with (``include_drums``, ``max_duration``): ``convert_checkpoint`` takes them from the
training data module's hyperparameters, and the ``symbolic-audio-generation`` pipeline encodes
prompts with them. An empty ``midi_settings`` means the encoding's defaults.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from perceiver.hf.text.clm import (
    PerceiverCausalLanguageModel,
    PerceiverCausalLanguageModelConfig,
    convert_causal_checkpoint,
)
from perceiver.model.audio.symbolic import SymbolicAudioModel, SymbolicAudioModelConfig
from perceiver.model.core.data_spec import inference_spec

__all__ = [
    "MIDI_SETTINGS",
    "PerceiverSymbolicAudioModel",
    "PerceiverSymbolicAudioModelConfig",
    "check_midi_settings",
    "convert_checkpoint",
]

logger = logging.getLogger(__name__)

# the arguments of perceiver-data's MIDI encoding (``encode_midi``, ``MidiProcessor``), which are
# also the hyperparameters of its MIDI data modules
MIDI_SETTINGS = ("include_drums", "max_duration")


def check_midi_settings(settings: Mapping[str, Any], what: str = "midi_settings") -> dict[str, Any]:
    """``settings`` as a plain dict, or a ValueError naming ``what`` and the offending value."""
    if not isinstance(settings, Mapping):
        raise ValueError(f"{what} must be a dict with keys among {list(MIDI_SETTINGS)}, got {settings!r}")
    unknown = sorted(set(settings) - set(MIDI_SETTINGS))
    if unknown:
        raise ValueError(f"{what} has unknown keys {unknown}; the MIDI encoding takes {list(MIDI_SETTINGS)}")
    include_drums = settings.get("include_drums", True)
    if not isinstance(include_drums, bool):
        raise ValueError(f"{what}['include_drums'] must be True or False, got {include_drums!r}")
    max_duration = settings.get("max_duration")
    if max_duration is not None and (
        isinstance(max_duration, bool)
        or not isinstance(max_duration, numbers.Real)
        or not 0 < max_duration < math.inf
    ):
        raise ValueError(
            f"{what}['max_duration'] must be a positive number of seconds or None, got {max_duration!r}"
        )
    return dict(settings)


class PerceiverSymbolicAudioModelConfig(PerceiverCausalLanguageModelConfig):
    """``midi_settings``: the MIDI encoding of training (see the module docstring)."""

    model_type = "perceiver-ar-symbolic-audio-model"
    backend_config_class = SymbolicAudioModelConfig
    legacy_task = "audio.symbolic"

    def __init__(
        self,
        backend_config: SymbolicAudioModelConfig | dict | None = None,
        midi_settings: Mapping[str, Any] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(backend_config, **kwargs)
        self.midi_settings = check_midi_settings(midi_settings or {})


class PerceiverSymbolicAudioModel(PerceiverCausalLanguageModel):
    config_class = PerceiverSymbolicAudioModelConfig
    backend_class = SymbolicAudioModel
    pipeline_tag = "symbolic-audio-generation"


def _training_midi_settings(data_hparams: Mapping[str, Any], source: str) -> dict[str, Any]:
    if not any(name in data_hparams for name in MIDI_SETTINGS):
        logger.info("%s records no MIDI encoding settings: prompts are encoded with the defaults", source)
        return {}
    try:  # read by the owner of the data module hyperparameters' meaning
        midi = inference_spec(data_hparams, kind="midi").midi
    except ValueError as e:
        raise ValueError(f"{source}: the data module's MIDI settings: {e}") from e
    settings = {name: midi[name] for name in MIDI_SETTINGS}
    return {"midi_settings": check_midi_settings(settings, f"{source}: the data module's MIDI settings")}


def convert_checkpoint(
    save_dir: str | Path,
    ckpt_url: str | Path,
    tokenizer_name: str | None = None,
    push_to_hub: bool = False,
    **hub: Any,
) -> PerceiverSymbolicAudioModel:
    """Convert a perceiver-lightning training checkpoint (local path or URL) of task ``audio.symbolic``
    to a 🤗 model in ``save_dir``, with the tokenizer ``tokenizer_name`` saved alongside (its
    pad/bos/eos ids go into the config and ``generation_config.json``). The MIDI encoding settings
    of the training data module (``include_drums``, ``max_duration``) go into the config's
    ``midi_settings``, which the ``symbolic-audio-generation`` pipeline encodes prompts with.
    ``hub``: ``repo_id``, ``commit_message``, ``private``, ``token``, options of ``push_to_hub=True``
    (refused without it)."""
    return convert_causal_checkpoint(
        save_dir,
        ckpt_url,
        PerceiverSymbolicAudioModel,
        "audio.symbolic",
        tokenizer_name,
        push_to_hub,
        hub,
        data_config=_training_midi_settings,
    )


AutoConfig.register(PerceiverSymbolicAudioModelConfig.model_type, PerceiverSymbolicAudioModelConfig)
AutoModelForCausalLM.register(PerceiverSymbolicAudioModelConfig, PerceiverSymbolicAudioModel)
AutoModel.register(PerceiverSymbolicAudioModelConfig, PerceiverSymbolicAudioModel)
