"""Perceiver AR over symbolic audio: MIDI performances as event tokens.

The token vocabulary is that of perceiver-data's MIDI processor (note-on, note-off, time-shift
and velocity events, Music Transformer family). Generation works as for text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from perceiver.model._moved import moved_name
from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig

__all__ = ["SymbolicAudioModel", "SymbolicAudioModelConfig"]


@dataclass
class SymbolicAudioModelConfig(CausalLanguageModelConfig):
    """The Perceiver AR over MIDI event tokens: a causal language model config with the
    defaults of the symbolic audio model (the fields are those of CausalLanguageModelConfig)."""

    vocab_size: int = 389
    max_seq_len: int = 6144
    max_latents: int = 2048
    num_channels: int = 512
    num_self_attention_layers: int = 8
    cross_attention_dropout: float = 0.1


class SymbolicAudioModel(CausalLanguageModel):
    """A causal Perceiver AR whose tokens are MIDI events."""

    def __init__(self, config: SymbolicAudioModelConfig) -> None:
        super().__init__(config)


# perceiver-io 0.11's submodules of this module (.backend, .lightning, .huggingface) are looked up
# here and answered by perceiver.model._moved with where their contents went
__path__: list[str] = []


def __getattr__(name: str) -> NoReturn:
    moved_name(__name__, name)
