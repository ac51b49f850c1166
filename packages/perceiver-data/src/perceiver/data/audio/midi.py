"""MIDI <-> token ids with the Music Transformer event vocabulary (Huang et al. 2018), tokenized
exactly as krasserm/perceiver-io 0.11 did (its symbolic-audio models were trained on these tokens).

| ids       | event                                            |
|-----------|--------------------------------------------------|
| 0-127     | note-on, pitch 0-127                             |
| 128-255   | note-off, pitch 0-127                            |
| 256-355   | time-shift of 1-100 steps of 10 ms (10 ms - 1 s) |
| 356-387   | set velocity, bin 0-31 (velocity // 4)           |
| 388       | padding                                          |

Encoding, in the order the events are produced:

1. Notes of every instrument (drums included unless `include_drums=False`) are merged into one stream.
2. Sustain pedal (control change 64): a pedal press (value >= 64) and the next release (< 64) span a
   pedal; a repeated release moves the end of the last pedal, a press that is never released is
   dropped. Notes starting inside a pedal are held: each one lasts until the next note of its pitch
   starts inside the same pedal, or else until the later of its own end and the pedal's release.
   The pass over an instrument's notes is krasserm/perceiver-io's, quirks included: notes that start
   after the last pedal's release are dropped, and when a pedal's notes run to the end of the list
   the next pedal passes over the same notes again.
3. Every note becomes a note-on at its start and a note-off at its end; the events are sorted by
   time (stably: at equal times the order of the notes, sorted by start, is kept).
4. Between consecutive events, the time difference in seconds is rounded to 10 ms steps
   (`round((t1 - t0) * 100)`, per gap, not on an absolute grid) and written as time-shifts of at
   most 100 steps.
5. A velocity token precedes a note-on unless the previous event's raw velocity equals this
   note's bin (a note-off has no velocity); in practice nearly every note-on repeats its velocity.

Decoding pairs each note-off with the earliest sounding note of its pitch, closes notes still
sounding at the end, and decodes bin b as velocity `4 * b + 3` (the middle of the bin).

A file is refused (ValueError naming it) when its notes last longer than `max_duration` seconds
(default `DEFAULT_MAX_DURATION`), checked before any time-shift is written: every second of music
costs at least one token, so a tiny file with an extreme tempo could otherwise expand to hundreds
of millions of tokens.
"""

from __future__ import annotations

import os
from typing import Any

from perceiver.model.core.data_spec import MIDI_PAD_TOKEN_ID, MIDI_VOCAB_SIZE

__all__ = [
    "DEFAULT_MAX_DURATION",
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
PAD_TOKEN_ID = MIDI_PAD_TOKEN_ID  # 388 = VELOCITY_OFFSET + NUM_VELOCITY_BINS
VOCAB_SIZE = MIDI_VOCAB_SIZE  # 389
NUM_TIME_SHIFTS = 100
STEPS_PER_SECOND = 100
NUM_VELOCITY_BINS = 32
SUSTAIN_PEDAL = 64  # MIDI control change number
DEFAULT_MAX_DURATION = 6 * 3600.0  # seconds; the longest piano recordings in public datasets last under 2 h


def _load(midi: Any) -> Any:
    import pretty_midi

    if isinstance(midi, pretty_midi.PrettyMIDI):
        return midi
    try:
        return pretty_midi.PrettyMIDI(os.fspath(midi))
    except Exception as e:  # pretty_midi/mido raise many kinds of errors for corrupt files
        raise ValueError(f"{midi}: cannot read MIDI file ({type(e).__name__}: {e})") from e


class _Note:
    """A mutable copy of a `pretty_midi.Note`: the sustain pass rewrites note ends in place, and a
    note may sit in several lists of that pass (the caller's MIDI object is never changed)."""

    __slots__ = ("end", "pitch", "start", "velocity")

    def __init__(self, start: float, end: float, pitch: int, velocity: int):
        self.start, self.end, self.pitch, self.velocity = start, end, pitch, velocity


class _Pedal:
    """A sustain pedal span and the notes that start while it is down."""

    __slots__ = ("end", "notes", "start")

    def __init__(self, start: float):
        self.start: float = start
        self.end: float | None = None
        self.notes: list[_Note] = []

    def hold(self) -> None:
        """Each held note lasts until the next held note of its pitch starts, or else until the later
        of its own end and the pedal's release."""
        next_start: dict[int, float] = {}
        for note in reversed(self.notes):
            note.end = next_start.get(note.pitch, max(self.end, note.end))
            next_start[note.pitch] = note.start


def _pedals(control_changes: list[Any]) -> list[_Pedal]:
    pedals: list[_Pedal] = []
    down: _Pedal | None = None
    for cc in control_changes:
        if cc.number != SUSTAIN_PEDAL:
            continue
        if cc.value >= 64:
            if down is None:
                down = _Pedal(cc.time)
        elif down is not None:
            down.end = cc.time
            pedals.append(down)
            down = None
        elif pedals:
            pedals[-1].end = cc.time
    return pedals


def _sustained(pedals: list[_Pedal], notes: list[_Note]) -> list[_Note]:
    """krasserm/perceiver-io's pass over an instrument's notes (in pretty_midi's order), kept as is
    because its models were trained on its output (see the module docstring)."""
    stream: list[_Note] = []
    for pedal in pedals:
        for i, note in enumerate(notes):
            if note.start < pedal.start:
                stream.append(note)
            elif note.start > pedal.end:
                notes = notes[i:]
                pedal.hold()
                break
            else:
                pedal.notes.append(note)
    for pedal in pedals:
        stream += pedal.notes
    stream.sort(key=lambda note: note.start)
    return stream


def _source_name(midi: Any) -> str:
    if isinstance(midi, str | os.PathLike):
        return os.fspath(midi)
    return f"MIDI input ({type(midi).__name__})"


def encode_midi(
    midi: Any, include_drums: bool = True, max_duration: float | None = DEFAULT_MAX_DURATION
) -> list[int]:
    """A MIDI file (path or `pretty_midi.PrettyMIDI`) -> token ids (see the module docstring).

    Raises:
        ValueError: the file cannot be read, or its notes last longer than `max_duration` seconds
            (None: no limit).
    """
    if max_duration is not None and not max_duration > 0:
        raise ValueError(f"max_duration ({max_duration}) must be a positive number of seconds or None")
    notes: list[_Note] = []
    for instrument in _load(midi).instruments:
        if instrument.is_drum and not include_drums:
            continue
        own = [_Note(n.start, n.end, n.pitch, n.velocity) for n in instrument.notes]
        pedals = _pedals(instrument.control_changes)
        notes += _sustained(pedals, own) if pedals else own

    notes.sort(key=lambda note: note.start)
    events: list[tuple[float, int, int | None]] = []  # (time, token of the event, velocity of a note-on)
    for note in notes:
        events.append((note.start, NOTE_ON_OFFSET + note.pitch, note.velocity))
        events.append((note.end, NOTE_OFF_OFFSET + note.pitch, None))
    events.sort(key=lambda event: event[0])

    if events and max_duration is not None and events[-1][0] > max_duration:
        raise ValueError(
            f"{_source_name(midi)}: its notes last {events[-1][0]:.6g} s, longer than max_duration "
            f"({max_duration:g} s); it would expand to at least {int(events[-1][0]):,} time-shift tokens. "
            "Raise max_duration if the file is genuine."
        )

    ids: list[int] = []
    time, velocity = 0.0, 0
    for event_time, token, event_velocity in events:
        steps = round((event_time - time) * STEPS_PER_SECOND)
        while steps >= NUM_TIME_SHIFTS:
            ids.append(TIME_SHIFT_OFFSET + NUM_TIME_SHIFTS - 1)
            steps -= NUM_TIME_SHIFTS
        if steps > 0:
            ids.append(TIME_SHIFT_OFFSET + steps - 1)
        if event_velocity is not None and velocity != event_velocity // 4:
            ids.append(VELOCITY_OFFSET + event_velocity // 4)
        ids.append(token)
        time, velocity = event_time, event_velocity
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

    def __init__(self, include_drums: bool = True, max_duration: float | None = DEFAULT_MAX_DURATION):
        if max_duration is not None and not max_duration > 0:
            raise ValueError(f"max_duration ({max_duration}) must be a positive number of seconds or None")
        self.include_drums = include_drums
        self.max_duration = max_duration

    def encode(self, midi: Any) -> list[int]:
        return encode_midi(midi, self.include_drums, self.max_duration)

    def decode(self, ids: list[int] | Any) -> Any:
        return decode_midi(ids)
