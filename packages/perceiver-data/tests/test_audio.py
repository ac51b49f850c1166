import collections

import pytest
import torch

pytest.importorskip("pretty_midi")

from perceiver.data.audio import PAD_TOKEN_ID, MidiDataModule, MidiProcessor
from perceiver.data.audio.midi import quantised_notes


@pytest.mark.parametrize(
    "name", ["misc/krasserm_audio_prompt_1.mid", "misc/note_seq_melody.mid", "piano-midi-de/bach_846.mid"]
)
def test_midi_round_trip(data_dir, name):
    processor = MidiProcessor()
    path = data_dir / "midi" / name
    ids = processor.encode(path)
    assert ids and min(ids) >= 0 and max(ids) < PAD_TOKEN_ID
    decoded = processor.decode(ids)
    # what the vocabulary represents (10 ms steps, 32 velocity bins) survives exactly
    original = quantised_notes(path)
    again = quantised_notes(decoded)
    assert collections.Counter((s, p, v) for s, _, p, v in again) == collections.Counter(
        (s, p, v) for s, _, p, v in original
    )
    assert collections.Counter((e, p) for _, e, p, _ in again) == collections.Counter(
        (e, p) for _, e, p, _ in original
    )
    assert processor.encode(decoded) == ids
    # and is close to the original performance
    import pretty_midi

    notes = sorted(
        (n.start, n.pitch)
        for i in pretty_midi.PrettyMIDI(str(path)).instruments
        if not i.is_drum
        for n in i.notes
    )
    assert len(decoded.instruments[0].notes) == len(notes)
    assert (
        max(
            abs(a[0] - b.start)
            for a, b in zip(notes, sorted(decoded.instruments[0].notes, key=lambda n: (n.start, n.pitch)))
        )
        <= 0.005 + 1e-9
    )


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
