"""Symbolic audio data: MIDI tokenization and MIDI data modules (needs the `audio` extra, pretty-midi)."""

from perceiver.data.audio.datamodule import GiantMidiPianoDataModule, MaestroV3DataModule, MidiDataModule
from perceiver.data.audio.midi import PAD_TOKEN_ID, VOCAB_SIZE, MidiProcessor, decode_midi, encode_midi

__all__ = [
    "PAD_TOKEN_ID",
    "VOCAB_SIZE",
    "GiantMidiPianoDataModule",
    "MaestroV3DataModule",
    "MidiDataModule",
    "MidiProcessor",
    "decode_midi",
    "encode_midi",
]
