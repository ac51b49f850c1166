"""krasserm/perceiver-io 0.11's data options, preprocessing command lines and tokenizer names."""

import json
import shlex
import time

import pytest
import torch

from perceiver.data.preproc import _parse_args, main, preprocess_dataset
from perceiver.data.text import C4DataModule, ImdbDataModule, Task, WikiTextDataModule
from perceiver.data.text.collator import IGNORE_INDEX


def make(cls=WikiTextDataModule, **kwargs):
    defaults = dict(max_seq_len=64, batch_size=4, num_workers=0, preproc_batch_size=10_000)
    return cls(**{**defaults, **kwargs})


# ---------------------------------------------------------------------------------------- data options


def test_random_shift_of_mlm_train_and_valid_sequences(text_slices, tmp_path):
    dm = make(
        task="mlm",
        random_train_shift=True,
        random_valid_shift=True,
        train_files=str(text_slices["wikitext_train"]),
        dataset_dir=str(tmp_path),
    )
    dm.prepare_data()
    dm.setup()
    torch.manual_seed(0)
    for shifted in (dm.ds_train, dm.ds_valid):
        base, offsets = shifted.dataset, set()
        for i in range(min(8, len(base) - 1)):
            window = shifted[i]
            assert len(window["input_ids"]) == len(window["word_ids"]) == 64
            stream = list(base[i]["input_ids"]) + list(base[i + 1]["input_ids"])
            offset = next(o for o in range(64) if stream[o : o + 64] == window["input_ids"])
            offsets.add(offset)
            # word ids run on across the chunk boundary (a word cut by it keeps one id)
            words = [w for w in window["word_ids"] if w >= 0]
            assert words == sorted(words)
        assert len(offsets) > 1
    labels, input_ids, _ = next(iter(dm.train_dataloader()))
    assert input_ids.shape == (4, 64) and (labels != IGNORE_INDEX).any()


def test_shifted_word_ids_of_chunks_from_different_preprocessing_batches_stay_apart():
    from perceiver.data.text.common import RandomShiftDataset

    chunks = [
        {"input_ids": [1, 2, 3, 4], "word_ids": [7, 7, -1, 8]},
        {"input_ids": [5, 6, 7, 8], "word_ids": [8, 9, -1, 10]},  # same batch: word 8 continues
        {"input_ids": [9, 9, 9, 9], "word_ids": [0, 0, -1, 1]},  # next batch counts from 0 again
    ]
    shifted = RandomShiftDataset(chunks, 4)
    torch.manual_seed(0)
    windows = {tuple(shifted[0]["word_ids"]) for _ in range(30)} | {
        tuple(shifted[1]["word_ids"]) for _ in range(30)
    }
    assert (7, -1, 8, 8) in windows  # the word cut by the boundary keeps its id
    assert (-1, 10, 11, 11) in windows  # the next batch's words 0 and 1 become 11 and 12
    assert (10, 11, 11, -1) in windows


def test_random_truncation_of_train_batches(text_slices, tmp_path):
    dm = make(
        task="clm",
        random_train_truncation=True,
        random_min_seq_len=8,
        train_files=str(text_slices["shakespeare"]),
        dataset_dir=str(tmp_path),
    )
    dm.prepare_data()
    dm.setup()
    torch.manual_seed(0)
    lengths = set()
    for labels, input_ids, pad_mask in dm.train_dataloader():
        assert labels.shape == input_ids.shape == pad_mask.shape
        assert 8 <= input_ids.shape[1] <= 63  # at least one position is dropped
        assert torch.equal(labels[:, :-1], input_ids[:, 1:])
        lengths.add(input_ids.shape[1])
        if len(lengths) > 3:
            break
    assert len(lengths) > 3
    _, valid_ids, _ = next(iter(dm.val_dataloader()))
    assert valid_ids.shape[1] == 64  # random_valid_truncation is off


@pytest.mark.parametrize(
    "option",
    ["random_train_shift", "random_valid_shift", "random_train_truncation", "random_valid_truncation"],
)
def test_random_options_are_refused_for_classification(option):
    with pytest.raises(ValueError, match=f"{option} is supported for tasks clm and mlm, not clf"):
        make(ImdbDataModule, task="clf", **{option: True})


def test_random_min_seq_len_is_validated_when_truncating():
    with pytest.raises(ValueError, match=r"random_min_seq_len \(65\) must be in \[1, max_seq_len \(64\)\]"):
        make(task="clm", random_train_truncation=True, random_min_seq_len=65)
    make(task="clm", random_min_seq_len=65)  # without random truncation the option is unused


def test_add_eos_token_for_classification(data_dir, tmp_path):
    imdb = data_dir / "imdb-sample" / "test.jsonl"
    dm = make(
        ImdbDataModule,
        task=Task.clf,
        max_seq_len=64,
        add_eos_token=True,
        train_files=str(imdb),
        valid_files=str(imdb),
        dataset_dir=str(tmp_path),
        shuffle=False,
    )
    dm.prepare_data()
    dm.setup()
    eos = dm.tokenizer.eos_token_id
    for example in dm.ds_train.select(range(20)):
        ids = example["input_ids"]
        assert len(ids) <= 64 and ids[-1] == eos and eos not in ids[:-1]
    _, input_ids, pad_mask = next(iter(dm.train_dataloader()))
    last = (~pad_mask).sum(dim=1) - 1
    assert (input_ids[torch.arange(4), last] == eos).all()


def test_add_eos_token_needs_an_eos_or_sep_token():
    from transformers import PerceiverTokenizer

    tokenizer = PerceiverTokenizer()
    tokenizer.eos_token = None
    tokenizer.sep_token = None
    with pytest.raises(ValueError, match=r"add_eos_token: tokenizer .* has neither an eos nor a sep token"):
        make(task="clm", tokenizer=tokenizer, add_eos_token=True)


def test_c4_min_seq_len_draws_training_chunk_lengths(data_dir):
    train = str(data_dir / "imdb-sample" / "test.jsonl")
    dm = make(C4DataModule, task="clm", max_seq_len=64, min_seq_len=16, train_files=train, valid_files=train)
    assert dm.hparams.add_eos_token  # documents end with eos, as in perceiver-io 0.11
    torch.manual_seed(0)
    chunks = [e["input_ids"] for _, e in zip(range(200), dm.streaming_dataset("train", rank=0, world_size=1))]
    lengths = {len(c) for c in chunks}
    assert min(lengths) >= 17 and max(lengths) <= 65 and len(lengths) > 20
    valid = [e["input_ids"] for _, e in zip(range(20), dm.streaming_dataset("valid", rank=0, world_size=1))]
    assert {len(c) for c in valid} == {65}
    # consecutive chunks are consecutive pieces of one token stream
    lines = (data_dir / "imdb-sample" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines[:16]]
    stream = dm._flat_tokens({"text": texts})
    joined = [t for c in chunks for t in c]
    assert joined[:200] == stream["input_ids"][:200]
    with pytest.raises(ValueError, match=r"min_seq_len \(64\) must be in \(0, max_seq_len \(64\)\)"):
        make(C4DataModule, task="clm", max_seq_len=64, min_seq_len=64, train_files=train, valid_files=train)


# ----------------------------------------------------------------------------------- preprocessing CLI

# krasserm/perceiver-io's examples/training/*/prep.sh, with the module path of our migration guide
# (perceiver.scripts.text.preproc -> perceiver.data.preproc, which perceiver.scripts.text.preproc calls)
PREP_SH = {
    "clm": "wikitext --tokenizer=deepmind/language-perceiver --random_train_shift=true "
    "--add_special_tokens=false --max_seq_len=4096 --task=clm",
    "mlm": "imdb --tokenizer=krasserm/perceiver-io-mlm --add_special_tokens=true --static_masking=false "
    "--max_seq_len=2048 --task=mlm",
    "txt_clf": "imdb --tokenizer=krasserm/perceiver-io-mlm --add_special_tokens=true --static_masking=false "
    "--max_seq_len=2048 --task=clf",
    "giantmidi": "giantmidi --max_seq_len=6144",
    "maestrov3": "maestro-v3 --max_seq_len=2048",
}


@pytest.mark.parametrize("script", sorted(PREP_SH))
def test_prep_sh_command_lines_parse(script):
    args = vars(_parse_args(shlex.split(PREP_SH[script])))
    if script == "clm":
        assert args["random_train_shift"] is True and args["add_special_tokens"] is False
    if script in ("mlm", "txt_clf"):
        assert args["add_special_tokens"] is True and args["static_masking"] is False
    if script == "giantmidi":
        assert args["dataset"] == "giantmidi"


def test_boolean_flags_take_true_false_or_nothing(capsys):
    assert _parse_args(["imdb", "--add_special_tokens"]).add_special_tokens is True
    assert _parse_args(["imdb", "--add_special_tokens=False"]).add_special_tokens is False
    assert _parse_args(["imdb"]).add_special_tokens is None  # the data module's default
    with pytest.raises(SystemExit):
        _parse_args(["imdb", "--add_special_tokens=maybe"])
    assert "expected true or false, got 'maybe'" in capsys.readouterr().err


def test_prep_sh_text_command_lines_run_on_local_files(data_dir, text_slices, tmp_path, capsys):
    imdb = data_dir / "imdb-sample" / "test.jsonl"
    local = {
        "clm": f"--train_files {text_slices['wikitext_train']} --valid_files {text_slices['wikitext_valid']}",
        "txt_clf": f"--train_files {imdb} --valid_files {imdb}",
    }
    for script, files in local.items():
        command = PREP_SH[script].replace("4096", "64").replace("2048", "64")
        main([*shlex.split(command), *shlex.split(files), f"--dataset_dir={tmp_path / script}"])
        assert f"preprocessed {command.split()[0]} in {tmp_path / script}" in capsys.readouterr().out


def test_giantmidi_name_and_foreign_options(data_dir, tmp_path):
    path = preprocess_dataset(
        "giantmidi", data_dir=str(data_dir / "midi" / "misc"), max_seq_len=32, dataset_dir=str(tmp_path)
    )
    assert path.parent == tmp_path
    with pytest.raises(ValueError, match=r"option\(s\) tokenizer do not apply to dataset 'giantmidi-piano'"):
        preprocess_dataset("giantmidi", data_dir=str(data_dir), tokenizer="deepmind/language-perceiver")
    with pytest.raises(ValueError, match=r"dataset_uri \('https://example.org/g.zip'\) is not supported"):
        preprocess_dataset("giantmidi", data_dir=str(data_dir), dataset_uri="https://example.org/g.zip")


# ----------------------------------------------------------------------------------- MIDI data options


def test_midi_min_seq_len_cuts_training_examples(data_dir, tmp_path):
    from perceiver.data.audio import MidiDataModule

    pytest.importorskip("pretty_midi")
    dm = MidiDataModule(
        str(data_dir / "midi" / "misc"),
        max_seq_len=32,
        min_seq_len=8,
        dataset_dir=str(tmp_path),
        batch_size=1,
        num_workers=0,
    )
    dm.prepare_data()
    dm.setup()
    torch.manual_seed(0)
    lengths = set()
    for _, (labels, input_ids, pad_mask) in zip(range(40), dm.train_dataloader()):
        assert not pad_mask.any() and torch.equal(labels[:, :-1], input_ids[:, 1:])
        lengths.add(input_ids.shape[1])
    assert min(lengths) >= 8 and max(lengths) <= 32 and len(lengths) > 5
    assert {batch[1].shape[1] for batch in dm.val_dataloader()} == {32}
    for bad in (0, 32):
        with pytest.raises(ValueError, match=rf"min_seq_len \({bad}\) must be in \(0, max_seq_len \(32\)\)"):
            MidiDataModule(str(data_dir), max_seq_len=32, min_seq_len=bad)


# ------------------------------------------------------------------------------------- tokenizer names


@pytest.mark.parametrize(
    "name",
    [
        "deepmind/language-perceiver",
        "krasserm/perceiver-io-mlm",
        "krasserm/perceiver-io-mlm-imdb",
        "krasserm/perceiver-io-txt-clf-imdb",
    ],
)
def test_utf8_bytes_models_get_the_bytes_tokenizer_offline(name):
    from transformers import PerceiverTokenizer

    from perceiver.data.text._tokenizer import load_tokenizer

    tokenizer = load_tokenizer(name)
    assert type(tokenizer) is PerceiverTokenizer and len(tokenizer) == 262


def test_perceiver_ar_clm_base_needs_its_sentencepiece_tokenizer_and_fails_fast_offline(monkeypatch):
    from perceiver.data.text._tokenizer import load_tokenizer
    from perceiver.model.text.tokenizer_names import TokenizerUnavailableError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(
        TokenizerUnavailableError, match=r"'krasserm/perceiver-ar-clm-base' needs files .*xlnet"
    ):
        load_tokenizer("krasserm/perceiver-ar-clm-base")
    # without the offline flag, an unreachable Hub is detected before any download is retried
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ValueError, match=r"127\.0\.0\.1:9 cannot be reached"):
        load_tokenizer("krasserm/perceiver-ar-clm-base")
    assert time.monotonic() - start < 10


def test_a_tokenizer_directory_loads_and_a_bad_path_is_named(tmp_path):
    from transformers import PerceiverTokenizer

    from perceiver.data.text._tokenizer import load_tokenizer

    PerceiverTokenizer(model_max_length=77).save_pretrained(tmp_path)
    assert load_tokenizer(str(tmp_path)).model_max_length == 77
    with pytest.raises(
        ValueError, match="cannot load tokenizer '/no/such/dir': not a directory and not a Hub id"
    ):
        load_tokenizer("/no/such/dir")
