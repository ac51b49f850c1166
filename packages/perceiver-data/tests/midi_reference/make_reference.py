"""Writes `tokens.npz`: krasserm/perceiver-io 0.11's MIDI tokens of a few files of the sample data folder,
the reference that `test_midi_compat.py` compares our tokenization with.

It runs that library's own encoder, `perceiver/data/audio/midi_processor.py`, outside this repository,
in a separate virtual environment with the pretty-midi version our tests use:

    git -C <perceiver-io clone> show 0.11.1:perceiver/data/audio/midi_processor.py > /tmp/ref/midi_processor.py
    uv venv /tmp/ref/venv && uv pip install --python /tmp/ref/venv/bin/python pretty-midi==0.2.11.post0 mido==1.3.3 numpy tqdm
    /tmp/ref/venv/bin/python make_reference.py --processor_dir /tmp/ref --data_dir $PERCEIVER_DATA_DIR

The archive holds, per file, its token ids (int16) and the SHA-256 of the MIDI file they came from.
It also writes `synthetic/*.mid`: small random files (written with pretty-midi, fixed seed) full of
the cases where the old encoder has quirks: sustain pedals and other control changes, repeated and
zero-length notes of one pitch, drums, several instruments. Their tokens are in the archive too.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
from pathlib import Path

import numpy as np

# Chosen to cover: the Perceiver AR prompt of the symbolic-audio model card, drums, several instruments,
# and piano pieces with many sustain pedal events (where the old encoder rewrites note ends).
FILES = [
    "misc/krasserm_audio_prompt_1.mid",
    "misc/note_seq_example_is_drum.mid",
    "misc/note_seq_english3.mid",
    "piano-midi-de/alb_esp1.mid",
    "piano-midi-de/bach_846.mid",
    "piano-midi-de/chpn-p12.mid",
    "piano-midi-de/deb_clai.mid",
    "piano-midi-de/ty_april.mid",
]


NUM_SYNTHETIC = 24


def write_synthetic_files(folder: Path) -> list[Path]:
    import random

    import pretty_midi

    folder.mkdir(exist_ok=True)
    rng = random.Random(1)
    paths = []
    for k in range(NUM_SYNTHETIC):
        midi = pretty_midi.PrettyMIDI()
        for _ in range(rng.randint(1, 3)):
            instrument = pretty_midi.Instrument(rng.randint(0, 5), is_drum=rng.random() < 0.2)
            t = 0.0
            for _ in range(rng.randint(0, 40)):
                t += rng.choice([0, 0, 0.005, 0.013, 0.1, 0.25, 1.7, 3.0])
                duration = rng.choice([0, 0.004, 0.01, 0.2, 0.5, 2.5])
                pitch = rng.choice([60, 62, 64, 65])
                instrument.notes.append(pretty_midi.Note(rng.randint(1, 127), pitch, t, t + duration))
            t = 0.0
            for _ in range(rng.randint(0, 12)):
                t += rng.choice([0, 0.05, 0.3, 1.0, 2.0])
                number, value = rng.choice([64, 64, 7]), rng.choice([0, 30, 64, 127])
                instrument.control_changes.append(pretty_midi.ControlChange(number, value, t))
            midi.instruments.append(instrument)
        path = folder / f"random_{k:02d}.mid"
        midi.write(str(path))
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--processor_dir", required=True, help="folder holding perceiver-io's midi_processor.py"
    )
    parser.add_argument(
        "--data_dir", required=True, help="the sample data folder ($PERCEIVER_DATA_DIR, with midi/)"
    )
    parser.add_argument("--output", default=str(Path(__file__).with_name("tokens.npz")))
    args = parser.parse_args()

    sys.path.insert(0, args.processor_dir)
    processor = importlib.import_module("midi_processor")
    import pretty_midi

    synthetic = write_synthetic_files(Path(args.output).with_name("synthetic"))
    sources = [(name, Path(args.data_dir) / "midi" / name) for name in FILES]
    sources += [(f"synthetic/{path.name}", path) for path in synthetic]
    arrays = {}
    for name, path in sources:
        ids = processor.encode_midi(pretty_midi.PrettyMIDI(str(path)))
        key = name.replace("/", "__")
        arrays[f"{key}.tokens"] = np.asarray(ids, dtype=np.int16)
        arrays[f"{key}.sha256"] = np.asarray(hashlib.sha256(path.read_bytes()).hexdigest())
        print(f"{name}: {len(ids)} tokens")
    np.savez_compressed(args.output, **arrays)


if __name__ == "__main__":
    main()
