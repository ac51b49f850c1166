"""MIDI <-> token ids with a Music Transformer event vocabulary (Huang et al. 2018).

| ids       | event                                            |
|-----------|--------------------------------------------------|
| 0-127     | note-on, pitch 0-127                             |
| 128-255   | note-off, pitch 0-127                            |
| 256-355   | time-shift of 1-100 steps of 10 ms (10 ms - 1 s) |
| 356-387   | set velocity, bin 0-31 (velocity // 4)           |
| 388       | padding                                          |

Times are quantised to 10 ms steps and velocities to 32 bins (decoded as `4 * bin + 3`); a note
shorter than one step is lengthened to one step. Within those limits encoding and decoding are exact
inverses. Notes of all non-drum instruments are merged into one piano-roll stream.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "NOTE_OFF_OFFSET",
    "NOTE_ON_OFFSET",
    "PAD_TOKEN_ID",
    "TIME_SHIFT_OFFSET",
    "VELOCITY_OFFSET",
    "VOCAB_SIZE",
    "MidiProcessor",
    "decode_midi",
    "encode_midi",
]

NOTE_ON_OFFSET = 0
NOTE_OFF_OFFSET = 128
TIME_SHIFT_OFFSET = 256
VELOCITY_OFFSET = 356
PAD_TOKEN_ID = 388
VOCAB_SIZE = 389
NUM_TIME_SHIFTS = 100
STEPS_PER_SECOND = 100
NUM_VELOCITY_BINS = 32


def _load(midi: Any) -> Any:
    import pretty_midi

    if isinstance(midi, pretty_midi.PrettyMIDI):
        return midi
    try:
        return pretty_midi.PrettyMIDI(os.fspath(midi))
    except Exception as e:  # pretty_midi/mido raise many kinds of errors for corrupt files
        raise ValueError(f"{midi}: cannot read MIDI file ({type(e).__name__}: {e})") from e


def quantised_notes(midi: Any, include_drums: bool = False) -> list[tuple[int, int, int, int]]:
    """(start step, end step, pitch, velocity bin) of every note, as the vocabulary represents them."""
    notes = []
    for instrument in _load(midi).instruments:
        if instrument.is_drum and not include_drums:
            continue
        for note in instrument.notes:
            start = round(note.start * STEPS_PER_SECOND)
            end = max(round(note.end * STEPS_PER_SECOND), start + 1)
            notes.append((start, end, note.pitch, min(note.velocity // 4, NUM_VELOCITY_BINS - 1)))
    return sorted(notes)


def encode_midi(midi: Any, include_drums: bool = False) -> list[int]:
    """A MIDI file (path or `pretty_midi.PrettyMIDI`) -> token ids."""
    events = []  # (step, order, pitch, velocity bin): note-offs before note-ons at the same step
    for start, end, pitch, velocity in quantised_notes(midi, include_drums):
        events.append((start, 1, pitch, velocity))
        events.append((end, 0, pitch, velocity))
    events.sort()
    ids: list[int] = []
    step, velocity_bin = 0, -1
    for time, is_on, pitch, velocity in events:
        shift = time - step
        while shift > 0:
            n = min(shift, NUM_TIME_SHIFTS)
            ids.append(TIME_SHIFT_OFFSET + n - 1)
            shift -= n
        step = time
        if is_on:
            if velocity != velocity_bin:
                ids.append(VELOCITY_OFFSET + velocity)
                velocity_bin = velocity
            ids.append(NOTE_ON_OFFSET + pitch)
        else:
            ids.append(NOTE_OFF_OFFSET + pitch)
    return ids


def decode_midi(ids: list[int] | Any, program: int = 0) -> Any:
    """Token ids -> `pretty_midi.PrettyMIDI` with one instrument. Padding is skipped; a note-off ends the
    earliest sounding note of its pitch; notes still sounding at the end are closed there."""
    import pretty_midi

    step, velocity_bin = 0, NUM_VELOCITY_BINS - 1
    sounding: dict[int, list[tuple[int, int]]] = {}
    notes = []
    for token in (int(i) for i in ids):
        if token == PAD_TOKEN_ID:
            continue
        if not 0 <= token < PAD_TOKEN_ID:
            raise ValueError(f"token id {token} is outside the MIDI vocabulary (0-{PAD_TOKEN_ID})")
        if token < NOTE_OFF_OFFSET:
            sounding.setdefault(token, []).append((step, velocity_bin))
        elif token < TIME_SHIFT_OFFSET:
            pitch = token - NOTE_OFF_OFFSET
            if sounding.get(pitch):
                start, velocity = sounding[pitch].pop(0)
                notes.append((start, step, pitch, velocity))
        elif token < VELOCITY_OFFSET:
            step += token - TIME_SHIFT_OFFSET + 1
        else:
            velocity_bin = token - VELOCITY_OFFSET
    for pitch, starts in sounding.items():
        notes += [(start, max(step, start + 1), pitch, velocity) for start, velocity in starts]
    midi = pretty_midi.PrettyMIDI()
    instrument = pretty_midi.Instrument(program=program)
    for start, end, pitch, velocity in sorted(notes):
        instrument.notes.append(
            pretty_midi.Note(
                velocity=4 * velocity + 3,
                pitch=pitch,
                start=start / STEPS_PER_SECOND,
                end=end / STEPS_PER_SECOND,
            )
        )
    midi.instruments.append(instrument)
    return midi


class MidiProcessor:
    """Encodes MIDI files to token ids and decodes them back (see the module docstring for the ids)."""

    vocab_size = VOCAB_SIZE
    pad_token_id = PAD_TOKEN_ID

    def __init__(self, include_drums: bool = False):
        self.include_drums = include_drums

    def encode(self, midi: Any) -> list[int]:
        return encode_midi(midi, self.include_drums)

    def decode(self, ids: list[int] | Any) -> Any:
        return decode_midi(ids)
