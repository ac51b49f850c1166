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


def test_perceiver_io_pipeline_arguments_are_taken_or_refused_by_name(tmp_path):
    """perceiver-io 0.11's arguments: max_prompt_length, return_full_audio, render, sf2_path, return_type."""
    if not PROMPT.exists():
        pytest.skip(f"{PROMPT} is absent (the shared test data is not beside this checkout)")
    torch.manual_seed(0)
    config = SymbolicAudioModelConfig(
        max_seq_len=256, max_latents=16, num_channels=32, num_heads=4, num_self_attention_layers=1
    )
    PerceiverSymbolicAudioModel(PerceiverSymbolicAudioModelConfig(config)).save_pretrained(tmp_path / "model")
    generate = pipeline("symbolic-audio-generation", model=str(tmp_path / "model"))
    full_prompt = generate.preprocess(str(PROMPT))["input_ids"][0].tolist()

    # max_prompt_length keeps the prompt's first tokens; return_full_audio=False drops the prompt
    result = generate(str(PROMPT), max_new_tokens=6, num_latents=2, max_prompt_length=20)
    assert result["token_ids"][:20] == full_prompt[:20] and len(result["token_ids"]) == 26
    continuation = generate(
        str(PROMPT), max_new_tokens=6, num_latents=2, max_prompt_length=20, return_full_audio=False
    )
    assert continuation["token_ids"] == result["token_ids"][20:]

    with pytest.raises(ValueError, match=r"max_prompt_length must be at least 1, got 0"):
        generate(str(PROMPT), max_prompt_length=0)
    with pytest.raises(ValueError, match=r"include_prompt=True and return_full_audio=False .* disagree"):
        generate(str(PROMPT), include_prompt=True, return_full_audio=False)
    with pytest.raises(FileNotFoundError, match=r"sf2_path 'missing\.sf2' is not a SoundFont file"):
        generate(str(PROMPT), render=True, sf2_path="missing.sf2")
    with pytest.raises(TypeError, match=r"return_type \(the result holds both 'token_ids' and 'midi'"):
        generate(str(PROMPT), return_type="audio")
    with pytest.raises(TypeError, match=r"unknown arguments \['max_new_token'\]"):
        generate(str(PROMPT), max_new_token=6)
