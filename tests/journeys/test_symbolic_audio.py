"""Journey: train a Perceiver AR symbolic audio model on MIDI files with the LightningCLI script,
convert the checkpoint, and continue a raw MIDI prompt with
``pipeline("symbolic-audio-generation")`` in a fresh process: the commands and code of docs/journeys/symbolic-audio.md, with a tiny model.

Training drops drum tracks (``--data.include_drums=false``) and the prompt has one: the pipeline
must encode it as training did (the converted model records the data module's MIDI settings)."""

from __future__ import annotations

import pytest
import torch
from journeys.helpers import run_fresh, run_page_python, train_as_page

PAGE = "symbolic-audio.md"

MAX_SEQ_LEN = 64
NEW_TOKENS = 8

DRUMS_PROMPT = "note_seq_example_complex.mid"
# MIDI encoding settings other than the defaults (include_drums=True, max_duration=6 h)
MIDI_ARGS = ["--data.include_drums=false", "--data.max_duration=400"]

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
    # piano, bass and a drum track; its name sorts last, so it is the page's prompt
    (midi_dir / DRUMS_PROMPT).symlink_to(data_dir / "midi" / "misc" / DRUMS_PROMPT)
    ckpt = train_as_page(
        PAGE,
        [
            f"--data.max_seq_len={MAX_SEQ_LEN}",
            f"--data.dataset_dir={root / 'cache'}",
            "--data.valid_fraction=0.2",
            "--data.batch_size=8",
            "--data.num_workers=0",
            *MIDI_ARGS,
            *MODEL_ARGS,
        ],
        root,
        max_steps=5,
    )
    return root, ckpt


def test_symbolic_audio_journey(trained):
    from perceiver.data.audio import MidiDataModule
    from perceiver.data.audio.midi import encode_midi
    from perceiver.lightning.audio.symbolic import LitSymbolicAudioModel
    from perceiver.model.core import generate
    from perceiver.model.core.checkpoint import load_checkpoint

    root, ckpt = trained
    printed = run_page_python(PAGE, root)[-1]  # the page converts and continues a prompt
    assert printed.split()[1].endswith("continuation.mid")
    save_dir = root / "midi-model"
    prompt = sorted((root / "data" / "midi").glob("*.mid"))[-1]  # the page's prompt
    assert prompt.name == DRUMS_PROMPT

    outputs = run_fresh(
        f"""
import json
import perceiver.hf
from transformers import pipeline

generator = pipeline("symbolic-audio-generation", model={str(save_dir)!r})
result = generator({str(prompt)!r}, max_new_tokens={NEW_TOKENS}, do_sample=False, include_prompt=False)
print(json.dumps({{
    "prompt": generator.preprocess({str(prompt)!r})["input_ids"][0].tolist(),
    "continuation": result["token_ids"],
    "notes": len(result["midi"].instruments),
}}))
""",
        root,
    )

    # the prompt is encoded as the training data module encoded its files: without the drums
    data_hparams = load_checkpoint(ckpt)["datamodule_hyper_parameters"]
    assert (data_hparams["include_drums"], data_hparams["max_duration"]) == (False, 400.0)
    training_data = MidiDataModule(**{k: v for k, v in data_hparams.items() if not k.startswith("_")})
    ids = training_data.processor.encode(prompt)[-MAX_SEQ_LEN:]
    assert outputs["prompt"] == ids
    assert ids != encode_midi(prompt)[-MAX_SEQ_LEN:]  # the default encoding keeps the drums

    # the Lightning model continues the same raw MIDI file, encoded as in training
    lit = LitSymbolicAudioModel.load_from_checkpoint(ckpt, map_location="cpu").eval()
    with torch.no_grad():
        out = generate(lit.backend_model, torch.tensor([ids]), num_tokens=NEW_TOKENS)
    assert outputs["continuation"] == out[0, len(ids) :].tolist()
