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
        pytest.skip(f"{PROMPT} is absent (set PERCEIVER_DATA_DIR to the sample data folder)")
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
        pytest.skip(f"{PROMPT} is absent (set PERCEIVER_DATA_DIR to the sample data folder)")
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


def _piano_and_drums(path: Path) -> Path:
    """A MIDI file of a piano melody and a drum track."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    for i in range(8):
        piano.notes.append(pretty_midi.Note(velocity=80, pitch=60 + i, start=0.5 * i, end=0.5 * i + 0.4))
        drums.notes.append(pretty_midi.Note(velocity=100, pitch=36, start=0.25 + 0.5 * i, end=0.35 + 0.5 * i))
    midi.instruments += [piano, drums]
    midi.write(str(path))
    return path


def _symbolic_checkpoint(path: Path, data_hparams: dict | None) -> Path:
    """A perceiver-lightning training checkpoint of a tiny symbolic audio model."""
    from perceiver.model.audio.symbolic import SymbolicAudioModel

    config = SymbolicAudioModelConfig(
        max_seq_len=64, max_latents=8, num_channels=16, num_heads=2, num_self_attention_layers=1
    )
    backend = SymbolicAudioModel(config)
    torch.save(
        {
            "perceiver_task": "audio.symbolic",
            "hyper_parameters": config.to_dict() | {"params": None},
            "state_dict": {f"backend_model.{k}": v for k, v in backend.state_dict().items()},
            **({} if data_hparams is None else {"datamodule_hyper_parameters": data_hparams}),
        },
        path,
    )
    return path


def test_the_pipeline_encodes_prompts_with_the_training_midi_settings(tmp_path):
    """A model trained without drums (MidiDataModule's include_drums=False) gets prompts without
    drums: convert_checkpoint records the data module's settings, the pipeline applies them."""
    from perceiver.data.audio.midi import encode_midi
    from perceiver.hf.audio.symbolic import convert_checkpoint

    torch.manual_seed(0)
    prompt = _piano_and_drums(tmp_path / "prompt.mid")
    data_hparams = {"data_dir": "midi", "max_seq_len": 64, "include_drums": False, "max_duration": 600.0}
    convert_checkpoint(tmp_path / "model", _symbolic_checkpoint(tmp_path / "last.ckpt", data_hparams))
    generate = pipeline("symbolic-audio-generation", model=str(tmp_path / "model"))  # as loaded from disk
    assert generate.model.config.midi_settings == {"include_drums": False, "max_duration": 600.0}

    ids = generate.preprocess(str(prompt))["input_ids"][0].tolist()
    without_drums = encode_midi(prompt, include_drums=False, max_duration=600.0)
    assert ids == without_drums[-64:]
    assert ids != encode_midi(prompt)[-64:]  # the defaults keep the drums


def test_a_checkpoint_without_midi_settings_encodes_with_the_defaults(tmp_path):
    from perceiver.data.audio.midi import encode_midi
    from perceiver.hf.audio.symbolic import convert_checkpoint

    prompt = _piano_and_drums(tmp_path / "prompt.mid")
    convert_checkpoint(tmp_path / "model", _symbolic_checkpoint(tmp_path / "last.ckpt", None))
    generate = pipeline("symbolic-audio-generation", model=str(tmp_path / "model"))
    assert generate.model.config.midi_settings == {}
    assert generate.preprocess(str(prompt))["input_ids"][0].tolist() == encode_midi(prompt)[-64:]


@pytest.mark.parametrize(
    "data_hparams, message",
    [
        (
            {"max_seq_len": 64, "include_drums": "no", "max_duration": None},
            r"last\.ckpt: the data module's MIDI settings\['include_drums'\] must be True or False, got 'no'",
        ),
        (
            {"max_seq_len": 64, "include_drums": True, "max_duration": -1.0},
            r"\['max_duration'\] must be a positive number of seconds or None, got -1\.0",
        ),
        (
            {"include_drums": False},
            r"last\.ckpt: the data module's MIDI settings: hparams lack \['max_duration', 'max_seq_len'\]",
        ),
    ],
)
def test_bad_midi_settings_of_a_checkpoint_are_refused_by_name(tmp_path, data_hparams, message):
    from perceiver.hf.audio.symbolic import convert_checkpoint

    with pytest.raises(ValueError, match=message):
        convert_checkpoint(tmp_path / "model", _symbolic_checkpoint(tmp_path / "last.ckpt", data_hparams))
    with pytest.raises(ValueError, match=r"midi_settings has unknown keys \['min_pitch'\]"):
        PerceiverSymbolicAudioModelConfig(midi_settings={"min_pitch": 21})
