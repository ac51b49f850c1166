"""Symbolic audio data: MIDI tokenization and MIDI data modules (needs the `audio` extra, pretty-midi).

Names load on first use (PEP 562), so that the MIDI tokenization (`perceiver.data.audio.midi`)
imports without Lightning and datasets; the data modules load them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PAD_TOKEN_ID": "midi",
    "VOCAB_SIZE": "midi",
    "MidiProcessor": "midi",
    "decode_midi": "midi",
    "encode_midi": "midi",
    "GiantMidiPianoDataModule": "datamodule",
    "MaestroV3DataModule": "datamodule",
    "MidiDataModule": "datamodule",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
