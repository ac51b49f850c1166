"""🤗 wrapper of the symbolic audio Perceiver AR (MIDI event tokens), with ``generate()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from perceiver.hf.text.clm import (
    PerceiverCausalLanguageModel,
    PerceiverCausalLanguageModelConfig,
    convert_causal_checkpoint,
)
from perceiver.model.audio.symbolic import SymbolicAudioModel, SymbolicAudioModelConfig

__all__ = [
    "PerceiverSymbolicAudioModel",
    "PerceiverSymbolicAudioModelConfig",
    "convert_checkpoint",
]


class PerceiverSymbolicAudioModelConfig(PerceiverCausalLanguageModelConfig):
    model_type = "perceiver-ar-symbolic-audio-model"
    backend_config_class = SymbolicAudioModelConfig
    legacy_task = "audio.symbolic"


class PerceiverSymbolicAudioModel(PerceiverCausalLanguageModel):
    config_class = PerceiverSymbolicAudioModelConfig
    backend_class = SymbolicAudioModel
    pipeline_tag = "symbolic-audio-generation"


def convert_checkpoint(
    save_dir: str | Path,
    ckpt_url: str | Path,
    tokenizer_name: str | None = None,
    push_to_hub: bool = False,
    **hub: Any,
) -> PerceiverSymbolicAudioModel:
    """Convert a perceiver-lightning training checkpoint (local path or URL) of task ``audio.symbolic``
    to a 🤗 model in ``save_dir``, with the tokenizer ``tokenizer_name`` saved alongside (its
    pad/bos/eos ids go into the config and ``generation_config.json``). ``hub``: ``repo_id``,
    ``commit_message``, ``private``, ``token``, options of ``push_to_hub=True`` (refused without it)."""
    return convert_causal_checkpoint(
        save_dir, ckpt_url, PerceiverSymbolicAudioModel, "audio.symbolic", tokenizer_name, push_to_hub, hub
    )


AutoConfig.register(PerceiverSymbolicAudioModelConfig.model_type, PerceiverSymbolicAudioModelConfig)
AutoModelForCausalLM.register(PerceiverSymbolicAudioModelConfig, PerceiverSymbolicAudioModel)
AutoModel.register(PerceiverSymbolicAudioModelConfig, PerceiverSymbolicAudioModel)
