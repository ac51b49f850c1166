import json

import pytest
import torch

import perceiver.data._cache as cache_module
from perceiver.data.text import (
    C4DataModule,
    Enwik8DataModule,
    ImdbDataModule,
    Task,
    TextDataModule,
    WikiTextDataModule,
)
from perceiver.data.text.collator import IGNORE_INDEX


def make(cls=WikiTextDataModule, **kwargs):
    defaults = dict(max_seq_len=64, batch_size=4, num_workers=0, preproc_batch_size=10_000)
    return cls(**{**defaults, **kwargs})


def test_seed_import_paths():
    from perceiver.data.text import WikiTextDataModule as A
    from perceiver.data.text.wikitext import Task as T
    from perceiver.data.text.wikitext import WikiTextDataModule as B

    assert A is B and T is Task


def test_clm_batches_from_local_wikitext(text_slices, tmp_path):
    dm = make(
        task=Task.clm,
        train_files=str(text_slices["wikitext_train"]),
        valid_files=str(text_slices["wikitext_valid"]),
        dataset_dir=str(tmp_path / "cache"),
    )
    assert dm.vocab_size == 262 and dm.max_seq_len == 64 and dm.padding_side == "left"
    dm.prepare_data()
    dm.setup()
    labels, input_ids, pad_mask = next(iter(dm.train_dataloader()))
    assert input_ids.shape == labels.shape == pad_mask.shape == (4, 64)
    assert input_ids.dtype == labels.dtype == torch.long and pad_mask.dtype == torch.bool
    assert torch.equal(labels[:, :-1], input_ids[:, 1:])
    assert not pad_mask.any()
    # the validation stream is the valid file, byte for byte (UTF-8 bytes tokenizer)
    first = dm.ds_valid[0]["input_ids"]
    expected = text_slices["wikitext_valid"].read_bytes()[: len(first)]
    assert bytes(t - 6 for t in first) == expected


@pytest.mark.parametrize("key, cls", [("shakespeare", TextDataModule), ("enwik8", Enwik8DataModule)])
def test_clm_on_local_text_without_valid_file(text_slices, tmp_path, key, cls):
    dm = make(
        cls, task="clm", train_files=str(text_slices[key]), dataset_dir=str(tmp_path), valid_fraction=0.1
    )
    dm.prepare_data()
    dm.setup()
    labels, input_ids, _ = next(iter(dm.val_dataloader()))
    assert torch.equal(labels[:, :-1], input_ids[:, 1:])
    assert len(dm.ds_valid) < len(dm.ds_train)
    n_bytes = len(text_slices[key].read_bytes())
    assert (len(dm.ds_train) + len(dm.ds_valid)) * 65 <= n_bytes


def test_random_train_shift_windows_are_contiguous(text_slices, tmp_path):
    dm = make(
        task="clm",
        random_train_shift=True,
        train_files=str(text_slices["shakespeare"]),
        dataset_dir=str(tmp_path),
    )
    dm.prepare_data()
    dm.setup()
    base = dm.ds_train.dataset
    torch.manual_seed(0)
    offsets = set()
    for i in range(10):
        window = dm.ds_train[i]["input_ids"]
        assert len(window) == 65
        stream = list(base[i]["input_ids"]) + list(base[i + 1]["input_ids"])
        offset = next(o for o in range(65) if stream[o : o + 65] == window)
        offsets.add(offset)
    assert len(offsets) > 1


def test_mlm_dynamic_and_static_masking(text_slices, tmp_path):
    common = dict(
        task="mlm", train_files=str(text_slices["wikitext_train"]), dataset_dir=str(tmp_path), shuffle=False
    )
    dm = make(**common, batch_size=64)
    dm.prepare_data()
    dm.setup()
    labels, input_ids, pad_mask = next(iter(dm.train_dataloader()))
    masked = labels != IGNORE_INDEX
    assert not pad_mask.any()
    # whole word masking: whitespace is never masked, about 15% of the words are
    word_tokens = torch.tensor(dm.ds_train[:64]["word_ids"]) >= 0
    assert 0.10 < masked.sum() / word_tokens.sum() < 0.20
    assert (input_ids[masked] == dm.tokenizer.mask_token_id).float().mean() == pytest.approx(0.8, abs=0.05)
    again, _, _ = next(iter(dm.train_dataloader()))
    assert not torch.equal(labels, again)  # dynamic: new masks each time

    static = make(**common, static_masking=True, mask_words=False, batch_size=64)
    static.prepare_data()
    static.setup()
    first, _, _ = next(iter(static.train_dataloader()))
    second, _, _ = next(iter(static.train_dataloader()))
    assert torch.equal(first, second)
    assert (first != IGNORE_INDEX).float().mean() == pytest.approx(0.15, abs=0.02)


def test_imdb_jsonl_classification_batches(data_dir, tmp_path):
    imdb = data_dir / "imdb-sample"
    dm = make(
        ImdbDataModule,
        task=Task.clf,
        max_seq_len=256,
        batch_size=8,
        train_files=str(imdb / "test.jsonl"),
        valid_files=str(imdb / "test.jsonl"),
        dataset_dir=str(tmp_path),
        shuffle=False,
    )
    dm.prepare_data()
    dm.setup()
    assert len(dm.ds_train) == 400
    labels, input_ids, pad_mask = next(iter(dm.train_dataloader()))
    rows = [json.loads(line) for line in (imdb / "test.jsonl").read_text().splitlines()[:8]]
    assert labels.tolist() == [r["label"] for r in rows]
    assert labels.shape == (8,) and input_ids.shape[1] <= 256
    lengths = (~pad_mask).sum(dim=1)
    assert lengths.tolist() == [min(256, len(r["text"].encode())) for r in rows]
    assert not pad_mask[:, 0].any()  # right padding
    assert (input_ids[pad_mask] == dm.tokenizer.pad_token_id).all()


def test_cache_is_reused_and_invalidated(text_slices, tmp_path, monkeypatch):
    kwargs = dict(task="clm", train_files=str(text_slices["shakespeare"]), dataset_dir=str(tmp_path))
    first = make(**kwargs)
    entry = first.preprocessed_dir()
    marker_mtime = (entry / cache_module.MARKER).stat().st_mtime_ns

    calls = []
    original = TextDataModule.preprocess
    monkeypatch.setattr(TextDataModule, "preprocess", lambda self, ds: calls.append(1) or original(self, ds))
    second = make(**kwargs)
    second.setup()
    assert calls == [] and second.preprocessed_dir() == entry
    assert (entry / cache_module.MARKER).stat().st_mtime_ns == marker_mtime

    make(**{**kwargs, "max_seq_len": 32}).setup()
    assert calls == [1]
    make(**{**kwargs, "tokenizer": "krasserm/perceiver-io-mlm"}).setup()  # another tokenizer name
    assert calls == [1, 1]
    # an edited source file invalidates too
    path = text_slices["shakespeare"]
    path.write_text(path.read_text() + "One more line.\n")
    make(**kwargs).setup()
    assert calls == [1, 1, 1]


def test_interrupted_preprocessing_leaves_no_complete_cache(text_slices, tmp_path, monkeypatch):
    import datasets

    kwargs = dict(task="clm", train_files=str(text_slices["shakespeare"]), dataset_dir=str(tmp_path))
    original = datasets.DatasetDict.save_to_disk

    def crash(self, path, **kw):
        original(self, path, **kw)  # the data is written ...
        raise KeyboardInterrupt("simulated crash")  # ... but the process dies before the marker

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", crash)
    with pytest.raises(KeyboardInterrupt):
        make(**kwargs).prepare_data()
    assert not any((p / cache_module.MARKER).exists() for p in tmp_path.iterdir())
    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", original)

    dm = make(**kwargs)
    dm.setup()
    assert len(dm.ds_train) > 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_incomplete_entry_without_marker_is_rebuilt(text_slices, tmp_path):
    dm = make(task="clm", train_files=str(text_slices["shakespeare"]), dataset_dir=str(tmp_path))
    entry = dm.preprocessed_dir()
    (entry / cache_module.MARKER).unlink()
    (entry / "data" / "dataset_dict.json").write_text("garbage")
    dm2 = make(task="clm", train_files=str(text_slices["shakespeare"]), dataset_dir=str(tmp_path))
    dm2.setup()
    assert (entry / cache_module.MARKER).exists()
    assert len(dm2.ds_train) > 0


def test_bad_input_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"empty\.txt: file is empty"):
        make(train_files=str(empty), dataset_dir=str(tmp_path / "c")).prepare_data()
    with pytest.raises(ValueError, match=r"latin1\.txt: not valid UTF-8"):
        make(train_files=str(latin1), dataset_dir=str(tmp_path / "c")).prepare_data()
    with pytest.raises(ValueError, match="no such file"):
        make(train_files=str(tmp_path / "missing.txt"), dataset_dir=str(tmp_path / "c")).prepare_data()


def test_max_seq_len_that_does_not_fit(text_slices, tmp_path):
    with pytest.raises(ValueError, match=r"max_seq_len \(100000\) does not fit the train split"):
        make(
            max_seq_len=100_000, train_files=str(text_slices["shakespeare"]), dataset_dir=str(tmp_path)
        ).prepare_data()
    with pytest.raises(ValueError, match="max_seq_len"):
        make(max_seq_len=1)


def test_text_preprocessor_of_data_module(tmp_path):
    dm = make(task="clm", dataset_dir=str(tmp_path))
    _, pad_mask = dm.text_preprocessor().preprocess_batch(["a long prompt", "short"])
    assert pad_mask[1, 0] and not pad_mask[1, -1]  # left padding for clm


def test_c4_streaming_is_sharded_across_ranks(data_dir, tmp_path):
    train = str(data_dir / "imdb-sample" / "test.jsonl")
    dm = make(C4DataModule, task="clm", max_seq_len=128, train_files=train, valid_files=train)
    shards = [
        [tuple(e["input_ids"]) for e in dm.streaming_dataset("train", rank=r, world_size=2)] for r in range(2)
    ]
    assert shards[0] and shards[1] and not set(shards[0]) & set(shards[1])
    full = [tuple(e["input_ids"]) for e in dm.streaming_dataset("train", rank=0, world_size=1)]
    assert abs(len(full) - len(shards[0]) - len(shards[1])) <= 2
    dm.setup()
    labels, input_ids, _ = next(iter(dm.train_dataloader()))
    assert input_ids.shape == (4, 128) and torch.equal(labels[:, :-1], input_ids[:, 1:])


def test_hyperparameters_are_plain_data_for_weights_only_checkpoints(tmp_path):
    import io

    dm = TextDataModule(
        tokenizer="deepmind/language-perceiver", max_seq_len=16, task="mlm", dataset_dir=tmp_path
    )
    assert dm.task is Task.mlm
    buffer = io.BytesIO()
    torch.save(dict(dm.hparams), buffer)  # what Lightning stores as datamodule_hyper_parameters
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True)["task"] == "mlm"
