"""The symbolic-audio-generation pipeline: MIDI prompt in, MIDI file out."""

import os
from pathlib import Path

import pytest
import torch
from transformers import pipeline

import perceiver.hf  # noqa: F401
from perceiver.hf.audio.symbolic import PerceiverSymbolicAudioModel, PerceiverSymbolicAudioModelConfig
from perceiver.model.audio.symbolic import SymbolicAudioModelConfig

pytest.importorskip("pretty_midi", reason="the MIDI codec needs pretty-midi (perceiver-data[audio])")
DATA = Path(
    os.environ.get("PERCEIVER_DATA_DIR", Path(__file__).resolve().parents[3].parent / "shared" / "data")
)
PROMPT = DATA / "midi" / "misc" / "krasserm_audio_prompt_1.mid"


def test_midi_prompt_continues_into_a_midi_file(tmp_path):
    if not PROMPT.exists():
        pytest.skip(f"{PROMPT} is absent (the shared test data is not beside this checkout)")
    import pretty_midi

    torch.manual_seed(0)
    config = SymbolicAudioModelConfig(
        max_seq_len=256, max_latents=16, num_channels=32, num_heads=4, num_self_attention_layers=1
    )
    PerceiverSymbolicAudioModel(PerceiverSymbolicAudioModelConfig(config)).save_pretrained(tmp_path / "model")
    generate = pipeline("symbolic-audio-generation", model=str(tmp_path / "model"))
    result = generate(
        str(PROMPT),
        max_new_tokens=40,
        num_latents=4,
        do_sample=True,
        top_k=8,
        output_path=tmp_path / "out.mid",
    )
    prompt_ids = generate.preprocess(str(PROMPT))["input_ids"][0].tolist()
    assert result["token_ids"][: len(prompt_ids)] == prompt_ids
    assert len(result["token_ids"]) == len(prompt_ids) + 40
    assert pretty_midi.PrettyMIDI(str(result["path"])).get_end_time() > 0
    assert not list(tmp_path.glob(".*.partial"))
