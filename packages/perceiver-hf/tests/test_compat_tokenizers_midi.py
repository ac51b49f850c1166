"""Tokenizer names resolve to what each model was trained with; a MIDI prompt's work is bounded."""

import struct
import time

import pytest
import torch
from transformers import PerceiverTokenizer, pipeline

import perceiver.hf
from perceiver.hf.audio.symbolic import PerceiverSymbolicAudioModel, PerceiverSymbolicAudioModelConfig
from perceiver.hf.tokenizer import TokenizerUnavailableError
from perceiver.model.audio.symbolic import SymbolicAudioModelConfig


@pytest.mark.parametrize("name", ["krasserm/perceiver-io-mlm", "krasserm/perceiver-io-txt-clf-imdb"])
def test_perceiver_io_text_models_use_the_bytes_tokenizer(name):
    tokenizer = perceiver.hf.load_tokenizer(name, model_max_length=512)
    assert (
        type(tokenizer) is PerceiverTokenizer and len(tokenizer) == 262 and tokenizer.model_max_length == 512
    )


def test_perceiver_ar_clm_base_is_not_the_bytes_tokenizer_and_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(
        TokenizerUnavailableError, match=r"needs files from the Hub \('xlnet/xlnet-base-cased'\)"
    ):
        perceiver.hf.load_tokenizer("krasserm/perceiver-ar-clm-base")
    with pytest.raises(OSError, match="HF_HUB_OFFLINE is set"):
        perceiver.hf.load_tokenizer("no-such-org/no-such-tokenizer")
    assert time.monotonic() - start < 10


def test_symbolic_audio_pipeline_refuses_a_midi_file_that_would_explode(tmp_path):
    pytest.importorskip("pretty_midi", reason="the MIDI codec needs pretty-midi (perceiver-data[audio])")
    # 44 bytes: 1 tick per quarter note of 16.8 s, one note of 9,999,999 ticks (1.7e8 s of music)
    track = b"\x00\xff\x51\x03\xff\xff\xff\x00\x90\x3c\x40\x84\xe2\xac\x7f\x80\x3c\x40\x00\xff\x2f\x00"
    path = tmp_path / "tiny.mid"
    path.write_bytes(
        b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1) + b"MTrk" + struct.pack(">I", len(track)) + track
    )
    assert path.stat().st_size == 44
    torch.manual_seed(0)
    config = SymbolicAudioModelConfig(
        max_seq_len=64, max_latents=8, num_channels=16, num_heads=2, num_self_attention_layers=1
    )
    PerceiverSymbolicAudioModel(PerceiverSymbolicAudioModelConfig(config)).save_pretrained(tmp_path / "model")
    generate = pipeline("symbolic-audio-generation", model=str(tmp_path / "model"))
    with pytest.raises(ValueError, match=r"tiny\.mid: its notes last .* longer than max_duration"):
        generate(str(path), max_new_tokens=4)
