import collections

import pytest
import torch

pytest.importorskip("pretty_midi")

from perceiver.data.audio import PAD_TOKEN_ID, MidiDataModule, MidiProcessor


@pytest.mark.parametrize(
    "name", ["misc/krasserm_audio_prompt_1.mid", "misc/note_seq_melody.mid", "piano-midi-de/appass_2.mid"]
)
def test_midi_round_trip(data_dir, name):
    import pretty_midi

    processor = MidiProcessor()
    path = data_dir / "midi" / name
    ids = processor.encode(path)
    assert ids and min(ids) >= 0 and max(ids) < PAD_TOKEN_ID
    decoded = processor.decode(ids).instruments[0].notes
    # files without sustain pedal: every note comes back with its pitch and velocity bin, at times
    # rounded to 10 ms steps per gap between events (so rounding errors add up along the piece)
    original = sorted(
        (n for i in pretty_midi.PrettyMIDI(str(path)).instruments for n in i.notes), key=lambda n: n.start
    )
    key = lambda n: (n.pitch, n.velocity // 4)
    assert collections.Counter(map(key, decoded)) == collections.Counter(map(key, original))
    starts = sorted(n.start for n in original)
    for k, (start, note) in enumerate(zip(starts, decoded)):
        # at most 5 ms per gap between the (at most 2k) events before the k-th note-on
        assert abs(start - note.start) <= 0.005 * (2 * k + 1) + 1e-9
    assert len(decoded) == len(original)


def test_long_pauses_and_velocity_tokens():
    import pretty_midi

    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    piano.notes += [
        pretty_midi.Note(velocity=100, pitch=60, start=0.0, end=0.5),
        pretty_midi.Note(velocity=20, pitch=64, start=2.5, end=2.6),
    ]
    midi.instruments.append(piano)
    ids = MidiProcessor().encode(midi)
    # velocity bin 25, note-on 60, 50 steps, note-off 60, 100 + 100 steps (2 s), velocity bin 5, note-on 64, 10 steps, note-off 64
    assert ids == [356 + 25, 60, 256 + 49, 128 + 60, 256 + 99, 256 + 99, 356 + 5, 64, 256 + 9, 128 + 64]


def test_midi_folder_data_module_skips_corrupt_file(data_dir, tmp_path):
    import shutil

    folder = tmp_path / "midi"
    folder.mkdir()
    for path in sorted((data_dir / "midi" / "misc").glob("*.mid")):
        shutil.copy(path, folder)
    (folder / "a_corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    dm = MidiDataModule(
        str(folder),
        max_seq_len=32,
        dataset_dir=str(tmp_path / "cache"),
        batch_size=4,
        num_workers=0,
        valid_fraction=0.2,
    )
    with pytest.warns(UserWarning, match=r"skipping .*a_corrupt\.mid"):
        dm.prepare_data()
    dm.setup()
    labels, input_ids, pad_mask = next(iter(dm.train_dataloader()))
    assert input_ids.shape == (4, 32) and input_ids.dtype == torch.long and pad_mask.dtype == torch.bool
    assert torch.equal(labels[:, :-1], input_ids[:, 1:])
    assert dm.vocab_size == 389 and len(dm.ds_valid) > 0


def test_midi_max_seq_len_that_does_not_fit(data_dir, tmp_path):
    dm = MidiDataModule(str(data_dir / "midi" / "misc"), max_seq_len=1_000_000, dataset_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"max_seq_len \(1000000\) does not fit"):
        dm.prepare_data()
