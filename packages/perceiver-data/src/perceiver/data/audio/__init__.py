"""Symbolic audio data: MIDI tokenization and MIDI data modules (needs the `audio` extra, pretty-midi).

Names load on first use (PEP 562), so that the MIDI tokenization (`perceiver.data.audio.midi`)
imports without Lightning and datasets; the data modules load them.
"""

from __future__ import annotations

from perceiver.data._lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
