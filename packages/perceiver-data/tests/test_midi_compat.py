"""MIDI tokenization equals krasserm/perceiver-io 0.11's, token for token (its symbolic-audio model was
trained on it), and the work a MIDI file can cause is bounded."""

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pretty_midi")

from perceiver.data.audio import MidiDataModule, MidiProcessor, encode_midi
from perceiver.data.audio.midi import DEFAULT_MAX_DURATION

REFERENCE = Path(__file__).with_name("midi_reference") / "tokens.npz"


def _reference() -> dict[str, tuple[np.ndarray, str]]:
    archive = np.load(REFERENCE)
    names = sorted({key.rsplit(".", 1)[0] for key in archive.files})
    return {
        name.replace("__", "/"): (archive[f"{name}.tokens"], str(archive[f"{name}.sha256"])) for name in names
    }


@pytest.mark.parametrize("name", sorted(n for n in _reference() if not n.startswith("synthetic/")))
def test_tokens_equal_perceiver_io_0_11(data_dir, name):
    tokens, sha256 = _reference()[name]
    path = data_dir / "midi" / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256, (
        f"{path} differs from the reference's input"
    )
    ids = MidiProcessor().encode(path)
    assert len(ids) == len(tokens)
    np.testing.assert_array_equal(np.asarray(ids), tokens.astype(np.int64))


def test_tokens_equal_perceiver_io_0_11_on_synthetic_edge_cases():
    """Random small files with pedals, repeated and zero-length notes of one pitch, drums, several tracks."""
    synthetic = {name: value for name, value in _reference().items() if name.startswith("synthetic/")}
    assert len(synthetic) == 24
    for name, (tokens, sha256) in synthetic.items():
        path = REFERENCE.with_name(name.split("/")[0]) / name.split("/")[1]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
        assert MidiProcessor().encode(path) == tokens.astype(np.int64).tolist(), name


def test_reference_covers_sustain_pedal_and_repeated_velocities(data_dir):
    import pretty_midi

    reference = {name: value for name, value in _reference().items() if not name.startswith("synthetic/")}
    pedals = sum(
        cc.number == 64
        for name in reference
        for instrument in pretty_midi.PrettyMIDI(str(data_dir / "midi" / name)).instruments
        for cc in instrument.control_changes
    )
    assert pedals > 1000
    tokens = np.concatenate([t for t, _ in reference.values()]).astype(np.int64)
    velocity_tokens = (tokens >= 356) & (tokens < 388)
    # a velocity token precedes (nearly) every note-on, also when it repeats the previous one
    assert velocity_tokens.sum() > 0.9 * (tokens < 128).sum()


def test_sustain_pedal_holds_notes():
    import pretty_midi

    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    piano.notes += [
        pretty_midi.Note(velocity=64, pitch=60, start=0.1, end=0.2),  # held by the first pedal until 1.0
        pretty_midi.Note(velocity=64, pitch=62, start=0.3, end=0.4),  # held until the next 62 starts
        pretty_midi.Note(velocity=64, pitch=62, start=0.5, end=0.6),  # held until 1.0
        pretty_midi.Note(velocity=64, pitch=64, start=1.5, end=1.6),  # between the pedals: as it is
        pretty_midi.Note(velocity=64, pitch=66, start=3.5, end=3.6),  # after the last pedal: dropped
    ]
    piano.control_changes += [
        pretty_midi.ControlChange(64, 127, 0.0),
        pretty_midi.ControlChange(64, 0, 1.0),
        pretty_midi.ControlChange(64, 127, 2.0),
        pretty_midi.ControlChange(64, 0, 3.0),
    ]
    midi.instruments.append(piano)
    before = [(n.start, n.end) for n in piano.notes]
    ids = encode_midi(midi)
    assert [(n.start, n.end) for n in piano.notes] == before  # the caller's MIDI object is left alone
    v = 356 + 16  # velocity 64 -> bin 16, repeated before every note-on that follows a note-off
    shift = {10: 265, 20: 275, 50: 305}  # steps of 10 ms -> token
    assert ids == [
        shift[10], v, 60,
        shift[20], v, 62,
        shift[20], 128 + 62, v, 62,
        shift[50], 128 + 60, 128 + 62,
        shift[50], v, 64,
        shift[10], 128 + 64,
    ]  # fmt: skip


def _huge_midi_bytes() -> bytes:
    """A 44-byte MIDI file: 1 tick per quarter note, a quarter lasting 16.8 s, one note of 9,999,999 ticks
    (pretty_midi's largest accepted tick is 1e7): 1.7e8 seconds of music, 1.7e8 time-shift tokens."""
    track = (
        b"\x00\xff\x51\x03\xff\xff\xff"  # tempo: 16,777,215 microseconds per quarter note
        + b"\x00\x90\x3c\x40"  # note-on C4
        + b"\x84\xe2\xac\x7f\x80\x3c\x40"  # 9,999,999 ticks later: note-off
        + b"\x00\xff\x2f\x00"  # end of track
    )
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


def test_a_tiny_file_with_an_extreme_tempo_is_refused_by_name(tmp_path):
    path = tmp_path / "bomb.mid"
    path.write_bytes(_huge_midi_bytes())
    assert path.stat().st_size == 44
    with pytest.raises(
        ValueError, match=r"bomb\.mid: its notes last 1\.6\d*e\+08 s, longer than max_duration"
    ):
        encode_midi(path)
    with pytest.raises(ValueError, match=r"bomb\.mid: .* longer than max_duration \(60 s\)"):
        MidiProcessor(max_duration=60).encode(path)
    with pytest.raises(ValueError, match=r"max_duration \(0\)"):
        MidiProcessor(max_duration=0)
    assert DEFAULT_MAX_DURATION >= 3600  # long genuine recordings still fit


def test_data_module_skips_the_file_by_name(data_dir, tmp_path):
    import shutil

    folder = tmp_path / "midi"
    folder.mkdir()
    for name in ("krasserm_audio_prompt_1.mid", "note_seq_melody.mid", "note_seq_english3.mid"):
        shutil.copy(data_dir / "midi" / "misc" / name, folder)
    (folder / "a_bomb.mid").write_bytes(_huge_midi_bytes())
    dm = MidiDataModule(str(folder), max_seq_len=16, dataset_dir=str(tmp_path / "cache"), num_workers=0)
    with pytest.warns(UserWarning, match=r"skipping .*a_bomb\.mid: .*longer than max_duration"):
        dm.prepare_data()
