"""The one reader of a data module's recorded hyperparameters (perceiver.model.core.data_spec), shared by
perceiver-data's inference specs and perceiver-hf's checkpoint conversion."""

from __future__ import annotations

import json

import pytest

from perceiver.model.core.data_spec import (
    DATA_HPARAMS_KEY,
    MIDI_PAD_TOKEN_ID,
    MIDI_VOCAB_SIZE,
    InferenceSpec,
    inference_spec,
    recorded_class_names,
    text_settings,
)

# hyperparameters as perceiver-data's data modules record them (plain data, with the CLI's _class_path)
TEXT_CLF = {
    "_class_path": "perceiver.data.text.TextDataModule",
    "tokenizer": "deepmind/language-perceiver",
    "task": "clf",
    "max_seq_len": 24,
    "class_names": ["bad", 1],
    "add_special_tokens": True,
    "padding_side": None,
    "batch_size": 8,
}
MNIST = {"hub_path": "ylecun/mnist", "valid_size": None, "normalize": False, "channels_last": True}
IMAGENET = {"image_size": 32, "crop_fraction": 0.8, "train_dir": "train", "valid_dir": "val"}
MIDI = {"include_drums": False, "max_duration": 60.0, "max_seq_len": 64, "batch_size": 2}


def test_text_spec_reads_names_tokenizer_and_padding():
    spec = inference_spec(TEXT_CLF)
    assert (spec.kind, spec.task, spec.tokenizer, spec.max_seq_len) == (
        "text",
        "clf",
        "deepmind/language-perceiver",
        24,
    )
    assert spec.class_names == ("bad", "1") and spec.id2label() == {0: "bad", 1: "1"}
    assert spec.add_special_tokens is True and spec.padding_side == "right"
    clm = inference_spec({**TEXT_CLF, "task": "clm", "add_special_tokens": False})
    assert clm.padding_side == "left" and clm.class_names is None and clm.label2id() is None


def test_image_specs_record_the_training_preprocessing():
    mnist = inference_spec(MNIST)
    assert mnist.class_names == tuple(str(d) for d in range(10))
    assert mnist.image == {
        "num_channels": 1,
        "image_size": [28, 28],
        "size": None,
        "crop_size": None,
        "mean": None,
        "std": None,
        "channels_last": True,
    }
    folder = inference_spec(IMAGENET)
    assert folder.class_names is None  # not read from the training folder yet
    assert folder.image["size"] == 40 and folder.image["crop_size"] == [32, 32]
    assert folder.image["image_size"] == [32, 32] and folder.image["channels_last"] is False


def test_midi_spec_and_plain_data_round_trip():
    spec = inference_spec(MIDI)
    assert spec.midi == {
        "vocab_size": MIDI_VOCAB_SIZE,
        "pad_token_id": MIDI_PAD_TOKEN_ID,
        "include_drums": False,
        "max_duration": 60.0,
    }
    assert spec.padding_side == "left"
    assert InferenceSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_recorded_class_names_and_text_settings():
    assert recorded_class_names({}) is None
    assert recorded_class_names({"class_names": [0, "a"]}) == ("0", "a")
    for bad in ("ab", [1.5], [True], 3):
        with pytest.raises(ValueError, match=r"class_names \(.*\) is not a list of names"):
            recorded_class_names({"class_names": bad})
    assert text_settings({}, causal=True) == (False, "left")
    assert text_settings({"padding_side": "left", "add_special_tokens": True}, causal=False) == (True, "left")
    with pytest.raises(ValueError, match=r"add_special_tokens \('yes'\) is not True or False"):
        text_settings({"add_special_tokens": "yes"}, causal=False)
    with pytest.raises(ValueError, match=r"padding_side \('up'\) must be 'left' or 'right'"):
        text_settings({"padding_side": "up"}, causal=False)


def test_unknown_or_incomplete_hyperparameters_are_refused():
    assert DATA_HPARAMS_KEY == "datamodule_hyper_parameters"  # Lightning's key in every checkpoint
    with pytest.raises(ValueError, match=r"not those of one perceiver-data data module \(none match\)"):
        inference_spec({"batch_size": 3})
    with pytest.raises(ValueError, match=r"\(mnist, image_folder match\)"):
        inference_spec({**MNIST, **IMAGENET})
    with pytest.raises(ValueError, match=r"hparams lack \['task'\], which text data modules save"):
        inference_spec({"tokenizer": "bytes", "max_seq_len": 8}, kind="text")
    with pytest.raises(ValueError, match=r"kind \('video'\) must be one of"):
        inference_spec({}, kind="video")
    with pytest.raises(ValueError, match="hparams must be a mapping, got list"):
        inference_spec([])
    with pytest.raises(ValueError, match=r"unknown fields \['vocab'\]"):
        InferenceSpec.from_dict({"kind": "text", "vocab": 3})
    with pytest.raises(ValueError, match=r"padding_side \('up'\)"):
        InferenceSpec(kind="text", padding_side="up")
