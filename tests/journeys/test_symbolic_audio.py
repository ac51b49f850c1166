"""Journey: train a Perceiver AR symbolic audio model on MIDI files with the LightningCLI script,
convert the checkpoint, and continue a raw MIDI prompt with
``pipeline("symbolic-audio-generation")`` in a fresh process: the commands and code of docs/journeys/symbolic-audio.md, with a tiny model."""

from __future__ import annotations

import pytest
import torch
from journeys.helpers import run_fresh, run_page_python, train_as_page

PAGE = "symbolic-audio.md"

MAX_SEQ_LEN = 64
NEW_TOKENS = 8

MODEL_ARGS = [
    "--model.max_latents=8",
    "--model.num_channels=16",
    "--model.num_heads=2",
    "--model.num_self_attention_layers=1",
    "--model.cross_attention_dropout=0.0",
    "--optimizer.lr=0.005",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("symbolic-audio")
    midi_dir = root / "data" / "midi"  # the page's data/midi
    midi_dir.mkdir(parents=True)
    for path in sorted((data_dir / "midi" / "piano-midi-de").glob("*.mid"))[:6]:
        (midi_dir / path.name).symlink_to(path)
    ckpt = train_as_page(
        PAGE,
        [
            f"--data.max_seq_len={MAX_SEQ_LEN}",
            f"--data.dataset_dir={root / 'cache'}",
            "--data.valid_fraction=0.2",
            "--data.batch_size=8",
            "--data.num_workers=0",
            *MODEL_ARGS,
        ],
        root,
        max_steps=5,
    )
    return root, ckpt


def test_symbolic_audio_journey(trained):
    from perceiver.data.audio.midi import MidiProcessor
    from perceiver.lightning.audio.symbolic import LitSymbolicAudioModel
    from perceiver.model.core import generate

    root, ckpt = trained
    printed = run_page_python(PAGE, root)[-1]  # the page converts and continues a prompt
    assert printed.split()[1].endswith("continuation.mid")
    save_dir = root / "midi-model"
    prompt = sorted((root / "data" / "midi").glob("*.mid"))[-1]  # the page's prompt

    outputs = run_fresh(
        f"""
import json
import perceiver.hf
from transformers import pipeline

generator = pipeline("symbolic-audio-generation", model={str(save_dir)!r})
result = generator({str(prompt)!r}, max_new_tokens={NEW_TOKENS}, do_sample=False, include_prompt=False)
print(json.dumps({{"continuation": result["token_ids"], "notes": len(result["midi"].instruments)}}))
""",
        root,
    )

    # the Lightning model continues the same raw MIDI file, encoded as in training
    lit = LitSymbolicAudioModel.load_from_checkpoint(ckpt, map_location="cpu").eval()
    ids = MidiProcessor().encode(prompt)[-MAX_SEQ_LEN:]
    with torch.no_grad():
        out = generate(lit.backend_model, torch.tensor([ids]), num_tokens=NEW_TOKENS)
    assert outputs["continuation"] == out[0, len(ids) :].tolist()
