"""The 🤗 datasets conventions of the data modules: column names as arguments, in-memory datasets,
the cache in the user's cache directory, parallel MIDI tokenization, test and predict dataloaders,
and the plain-data inference spec stored in the hyperparameters."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

datasets = pytest.importorskip("datasets")

from perceiver.data import default_cache_dir, inference_spec  # noqa: E402
from perceiver.data.text import ImdbDataModule, TextDataModule, TextPreprocessor  # noqa: E402

MIDI_DIR = Path(__file__).parent / "midi_reference" / "synthetic"
TOKENIZER = "deepmind/language-perceiver"


def _reviews(n: int, offset: int = 0) -> dict[str, list]:
    texts = [f"review {offset + i}: " + ("a fine film " if i % 2 else "a dull film ") * 4 for i in range(n)]
    return {"review": texts, "stars": [i % 2 for i in range(n)]}


def _clf(tmp_path: Path, train_files, **kwargs) -> TextDataModule:
    return TextDataModule(
        tokenizer=TOKENIZER,
        task="clf",
        max_seq_len=24,
        train_files=train_files,
        text_column="review",
        label_column="stars",
        class_names=["bad", "good"],
        dataset_dir=str(tmp_path / "cache"),
        batch_size=4,
        num_workers=0,
        shuffle=False,
        **kwargs,
    )


def _plain_round_trip(hparams) -> dict:
    buffer = io.BytesIO()
    torch.save({"datamodule_hyper_parameters": dict(hparams)}, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)["datamodule_hyper_parameters"]


# ------------------------------------------------------------------ columns and in-memory datasets


def test_column_names_and_in_memory_dataset_dict(tmp_path):
    source = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(_reviews(12)),
            "validation": datasets.Dataset.from_dict(_reviews(4, 100)),
            "test": datasets.Dataset.from_dict(_reviews(6, 200)),
        }
    )
    dm = _clf(tmp_path, source)
    dm.prepare_data()
    dm.setup()
    assert (len(dm.ds_train), len(dm.ds_valid), len(dm.ds_test)) == (12, 4, 6)
    labels, input_ids, pad_mask = next(iter(dm.test_dataloader()))
    expected_ids, expected_mask = TextPreprocessor(TOKENIZER, 24, padding_side="right").preprocess_batch(
        source["test"]["review"][:4]
    )
    torch.testing.assert_close(input_ids, expected_ids, rtol=0, atol=0)
    torch.testing.assert_close(pad_mask, expected_mask, rtol=0, atol=0)
    assert labels.tolist() == source["test"]["stars"][:4]
    predict = next(iter(dm.predict_dataloader()))
    torch.testing.assert_close(predict[1], input_ids, rtol=0, atol=0)
    hparams = _plain_round_trip(dm.hparams)  # the in-memory dataset is described, not pickled
    assert hparams["train_files"].startswith("<in-memory datasets.DatasetDict")
    assert hparams["text_column"] == "review" and hparams["label_column"] == "stars"


def test_in_memory_datasets_per_split_and_cache_key(tmp_path):
    train = datasets.Dataset.from_dict(_reviews(10))
    valid = datasets.Dataset.from_dict(_reviews(3, 50))
    dm = _clf(tmp_path, train, valid_files=valid)
    first = dm.preprocessed_dir()
    assert _clf(tmp_path, train, valid_files=valid).preprocessed_dir() == first  # a cache hit
    changed = datasets.Dataset.from_dict(_reviews(10, 1))
    assert _clf(tmp_path, changed, valid_files=valid).preprocessed_dir() != first  # new content, new key
    dm.setup()
    assert dm.ds_test is dm.ds_valid  # no test split: tests run on the validation split
    assert len(next(iter(dm.test_dataloader()))[0]) == 3


def test_text_column_from_local_jsonl(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = _reviews(8)
    path.write_text(
        "".join(f'{{"review": "{t}", "stars": {s}}}\n' for t, s in zip(rows["review"], rows["stars"]))
    )
    dm = _clf(tmp_path, str(path), valid_files=str(path), test_files=str(path))
    dm.prepare_data()
    dm.setup()
    assert len(dm.ds_test) == 8 and dm.ds_test is not dm.ds_valid
    with pytest.raises(ValueError, match="no 'text' column"):
        TextDataModule(
            tokenizer=TOKENIZER, task="clf", max_seq_len=24, train_files=str(path), dataset_dir=str(tmp_path)
        ).prepare_data()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(text_column=""), r"text_column \(''\) must be a column name"),
        (dict(label_column=3), r"label_column \(3\) must be a column name"),
        (dict(class_names="ab"), r"class_names \('ab'\) must be a list"),
        (dict(class_names=["a", "a"]), "class_names has duplicates"),
        (dict(test_files="x.txt"), "valid_files or test_files given without train_files"),
    ],
)
def test_bad_column_and_class_arguments(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        TextDataModule(tokenizer=TOKENIZER, task="clf", dataset_dir=str(tmp_path), **kwargs)


def test_imdb_class_names_must_match_its_classes(tmp_path):
    assert ImdbDataModule(task="clf", dataset_dir=str(tmp_path)).class_names == ("neg", "pos")
    with pytest.raises(ValueError, match="must name the 2 classes of ImdbDataModule"):
        ImdbDataModule(task="clf", dataset_dir=str(tmp_path), class_names=["a", "b", "c"])


# ------------------------------------------------------------------ ClassLabel names

SENTIMENTS = ["negative", "neutral", "positive"]


def _labelled(n: int, names=SENTIMENTS, offset: int = 0) -> datasets.Dataset:
    """Reviews whose `stars` column is a ClassLabel named `names`."""
    rows = {
        "review": [f"review {offset + i}: " + "a film " * (i % 4 + 1) for i in range(n)],
        "stars": [i % len(names) for i in range(n)],
    }
    features = datasets.Features(
        {"review": datasets.Value("string"), "stars": datasets.ClassLabel(names=names)}
    )
    return datasets.Dataset.from_dict(rows, features=features)


def _from_class_label(tmp_path: Path, train_files, **kwargs) -> TextDataModule:
    kwargs = {"valid_fraction": 0.25, **kwargs}
    return TextDataModule(
        tokenizer=TOKENIZER, task="clf", max_seq_len=24, train_files=train_files, text_column="review",
        label_column="stars", dataset_dir=str(tmp_path / "cache"), batch_size=4, num_workers=0, **kwargs,
    )  # fmt: skip


def test_class_label_names_name_the_classes(tmp_path):
    dm = _from_class_label(tmp_path, _labelled(12))
    assert dm.class_names == tuple(SENTIMENTS) and dm.num_classes == 3
    hparams = _plain_round_trip(dm.hparams)
    assert hparams["class_names"] == SENTIMENTS  # recorded for inference and checkpoint conversion
    assert inference_spec(hparams).id2label() == dict(enumerate(SENTIMENTS))
    dm.setup()
    labels, _, _ = next(iter(dm.train_dataloader()))
    assert set(labels.tolist()) <= {0, 1, 2}

    # a DatasetDict names them with its training split, the other splits must agree
    splits = datasets.DatasetDict({"train": _labelled(9), "validation": _labelled(3, offset=50)})
    assert _from_class_label(tmp_path, splits).class_names == tuple(SENTIMENTS)
    splits["validation"] = _labelled(3, names=["bad", "so-so", "good"], offset=50)
    with pytest.raises(
        ValueError, match=r"names the classes \['bad', 'so-so', 'good'\], but the training split"
    ):
        _from_class_label(tmp_path, splits).prepare_data()


@pytest.mark.parametrize("layout", ["saved", "parquet"])
def test_class_label_names_of_local_files(tmp_path, layout):
    if layout == "saved":
        path = tmp_path / "reviews"
        _labelled(12).save_to_disk(str(path))
    else:
        path = tmp_path / "reviews.parquet"
        _labelled(12).to_parquet(str(path))
    dm = _from_class_label(tmp_path, str(path))
    assert dm.class_names == tuple(SENTIMENTS)
    dm.setup()
    assert len(dm.ds_train) == 9


HUB_CARD = """---
dataset_info:
  features:
  - name: review
    dtype: string
  - name: stars
    dtype:
      class_label:
        names:
          '0': negative
          '1': neutral
          '2': positive
---
"""


def test_class_label_names_of_a_hub_dataset_come_from_its_metadata(tmp_path):
    # a dataset folder as the Hub serves it: Parquet data and a card whose metadata declares the features
    hub = tmp_path / "hub" / "reviews"
    (hub / "data").mkdir(parents=True)
    _labelled(12).to_parquet(str(hub / "data" / "train-00000-of-00001.parquet"))
    (hub / "README.md").write_text(HUB_CARD)
    dm = _from_class_label(tmp_path, None, hub_path=str(hub))
    assert dm.class_names == tuple(SENTIMENTS) and dm.num_classes == 3
    assert _plain_round_trip(dm.hparams)["class_names"] == SENTIMENTS
    dm.setup()
    assert len(dm.ds_train) == 9
    # without such metadata (or offline) the names stay unknown until given
    assert _from_class_label(tmp_path, None, hub_path=str(tmp_path / "missing")).num_classes is None


def test_given_class_names_win_over_class_label_names(tmp_path):
    dm = _from_class_label(tmp_path, _labelled(12), class_names=["neg", "mid", "pos"])
    assert dm.class_names == ("neg", "mid", "pos")
    assert _plain_round_trip(dm.hparams)["class_names"] == ["neg", "mid", "pos"]
    with pytest.raises(
        ValueError,
        match=r"class_names \(\['neg', 'pos'\]\) has 2 names, but the 'stars' column of train_files is a "
        r"ClassLabel of 3 classes \(\['negative', 'neutral', 'positive'\]\)",
    ):
        _from_class_label(tmp_path, _labelled(12), class_names=["neg", "pos"])


def test_class_label_names_must_fit_a_data_module_of_fixed_classes(tmp_path):
    imdb = ImdbDataModule(
        task="clf", train_files=_labelled(12, names=["bad", "good"]), text_column="review", label_column="stars",
        dataset_dir=str(tmp_path),
    )  # fmt: skip
    assert imdb.class_names == ("bad", "good")  # the data's own names
    with pytest.raises(
        ValueError, match=r"ClassLabel of 3 classes .*, but ImdbDataModule has 2 classes \(\['neg', 'pos'\]\)"
    ):
        ImdbDataModule(
            task="clf", train_files=_labelled(12), text_column="review", label_column="stars",
            dataset_dir=str(tmp_path),
        )  # fmt: skip


def test_an_int_label_column_has_no_names(tmp_path):
    dm = _from_class_label(tmp_path, datasets.Dataset.from_dict(_reviews(8)))
    assert dm.class_names is None and dm.num_classes is None


# ------------------------------------------------------------------ the cache directory


def test_default_cache_follows_hf_datasets_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("PERCEIVER_DATA_CACHE", raising=False)
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert default_cache_dir("imdb") == tmp_path / "hf" / "datasets" / "perceiver-data" / "imdb"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "ds"))
    assert default_cache_dir("imdb") == tmp_path / "ds" / "perceiver-data" / "imdb"
    monkeypatch.setenv("PERCEIVER_DATA_CACHE", "relative/cache")
    monkeypatch.chdir(tmp_path)
    assert default_cache_dir("imdb") == tmp_path / "relative" / "cache" / "imdb"  # absolute
    monkeypatch.delenv("PERCEIVER_DATA_CACHE")
    monkeypatch.delenv("HF_DATASETS_CACHE")
    monkeypatch.delenv("HF_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir("x") == tmp_path / "xdg" / "huggingface" / "datasets" / "perceiver-data" / "x"


def test_another_working_directory_is_a_cache_hit(tmp_path, monkeypatch):
    monkeypatch.delenv("PERCEIVER_DATA_CACHE", raising=False)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text("".join(f"line {i} of some text to tokenize\n" for i in range(200)))
    first, second = tmp_path / "run1", tmp_path / "run2"
    first.mkdir()
    second.mkdir()

    def make() -> TextDataModule:
        # a relative path, as a user types it in each directory
        return TextDataModule(
            tokenizer=TOKENIZER, task="clm", max_seq_len=32, train_files="../data/train.txt"
        )

    monkeypatch.chdir(first)
    entry = make().preprocessed_dir()
    assert entry.is_relative_to(tmp_path / "hf-datasets" / "perceiver-data" / "text")
    assert not any(first.iterdir())  # nothing written to the working directory

    monkeypatch.chdir(second)
    dm = make()
    monkeypatch.setattr(dm, "preprocess", lambda _: pytest.fail("tokenized again"))
    assert dm.preprocessed_dir() == entry
    dm.setup()
    assert len(dm.ds_train) > 0 and not any(second.iterdir())


# ------------------------------------------------------------------ MIDI


def test_midi_parallel_tokenization_equals_serial_with_progress(tmp_path, capfd):
    pytest.importorskip("pretty_midi")
    from perceiver.data.audio import MidiDataModule

    def tokens(workers: int) -> dict[str, list]:
        dm = MidiDataModule(
            str(MIDI_DIR),
            max_seq_len=64,
            dataset_dir=str(tmp_path / f"cache{workers}"),
            preproc_workers=workers,
            num_workers=0,
        )
        dm.setup()
        return {"train": dm.ds_train["input_ids"], "valid": dm.ds_valid["input_ids"]}

    serial = tokens(1)
    assert "tokenizing MIDI files (train)" in capfd.readouterr().err  # the progress bar
    parallel = tokens(3)
    assert "tokenizing MIDI files (train)" in capfd.readouterr().err
    assert len(serial["train"]) > 10 and serial == parallel


def test_midi_test_split_of_maestro_and_fallback(tmp_path):
    pytest.importorskip("pretty_midi")
    from perceiver.data.audio import MaestroV3DataModule, MidiDataModule

    root = tmp_path / "maestro-v3.0.0"
    root.mkdir()
    files = sorted(MIDI_DIR.glob("*.mid"))
    rows = ["canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration"]
    for i, path in enumerate(files):
        shutil.copy(path, root / path.name)
        split = "train" if i < 16 else ("validation" if i < 20 else "test")
        rows.append(f"c,t,{split},2018,{path.name},x.wav,1.0")
    (root / "maestro-v3.0.0.csv").write_text("\n".join(rows) + "\n")
    dm = MaestroV3DataModule(str(root), max_seq_len=32, dataset_dir=str(tmp_path / "cache"), num_workers=0)
    dm.setup()
    assert dm.ds_test is not dm.ds_valid and len(dm.ds_test) > 0
    labels, input_ids, _ = next(iter(dm.test_dataloader()))
    assert input_ids.shape[1] == 32 and torch.equal(labels[:, :-1], input_ids[:, 1:])
    assert next(iter(dm.predict_dataloader()))[1].shape == input_ids.shape

    folder = MidiDataModule(str(MIDI_DIR), max_seq_len=32, dataset_dir=str(tmp_path / "c2"), num_workers=0)
    with pytest.raises(RuntimeError, match="setup"):
        folder.test_dataloader()
    folder.setup()
    assert folder.ds_test is folder.ds_valid


# ------------------------------------------------------------------ vision and multimodal test splits


def test_vision_test_and_predict_dataloaders(data_dir, tmp_path):
    pytest.importorskip("PIL")
    from perceiver.data.vision import ImageNetDataModule, MNISTDataModule, OpticalFlowDataModule

    mnist = MNISTDataModule(str(data_dir / "images/mnist"), batch_size=8, num_workers=0)
    mnist.setup()
    torch.testing.assert_close(
        next(iter(mnist.test_dataloader()))["image"],
        next(iter(mnist.val_dataloader()))["image"],
        rtol=0,
        atol=0,
    )
    assert len(mnist.predict_dataloader().dataset) == 1000

    photos = data_dir / "images/photos"
    for split in ("train", "val", "test"):
        for cls, name in (("cat", "chelsea.png"), ("cup", "coffee.png")):
            (tmp_path / split / cls).mkdir(parents=True)
            if split != "test" or cls == "cup":
                shutil.copy(photos / name, tmp_path / split / cls / name)
    imagenet = ImageNetDataModule(str(tmp_path), image_size=32, batch_size=4, num_workers=0, test_dir="test")
    imagenet.setup()
    assert next(iter(imagenet.test_dataloader()))["label"].tolist() == [1]  # only the cup is a test image
    assert len(next(iter(imagenet.predict_dataloader()))["label"]) == 1
    without = ImageNetDataModule(str(tmp_path), image_size=32, num_workers=0)
    without.setup()
    assert without.test_dataloader().dataset is without.ds_valid

    flow = OpticalFlowDataModule(str(data_dir / "optical-flow/middlebury-rubberwhale"), crop_shape=(32, 48))
    flow.setup()
    assert next(iter(flow.test_dataloader()))["patches"].shape == (1, 2, 27, 32, 48)


def test_multimodal_test_folder(tmp_path):
    from perceiver.data.multimodal import MultimodalDataModule

    clip = {
        "video": np.zeros((2, 8, 8, 3), np.uint8),
        "audio": np.zeros(32, np.float32),
        "label": np.int64(1),
    }
    for split in ("train", "valid", "test"):
        (tmp_path / split).mkdir()
        np.savez(tmp_path / split / "clip.npz", **{**clip, "label": np.int64(len(split))})
    data = MultimodalDataModule(str(tmp_path), 2, (3, 8, 8), 16, 6, batch_size=1, num_workers=0)
    data.setup()
    assert next(iter(data.test_dataloader()))["label"].tolist() == [4]
    assert next(iter(data.predict_dataloader()))["label"].tolist() == [4]
    shutil.rmtree(tmp_path / "test")
    data.ds_test = None
    data.setup()
    assert next(iter(data.test_dataloader()))["label"].tolist() == [5]  # the validation split


# ------------------------------------------------------------------ what inference needs


def test_text_inference_spec_rebuilds_training_preprocessing(tmp_path):
    source = datasets.Dataset.from_dict(_reviews(12))
    dm = _clf(tmp_path, source, add_special_tokens=True)
    spec = inference_spec(_plain_round_trip(dm.hparams))
    assert spec.id2label() == {0: "bad", 1: "good"} and spec.label2id() == {"bad": 0, "good": 1}
    tokenizer = spec.load_tokenizer()
    assert tokenizer.padding_side == "right" and tokenizer.model_max_length == 24
    dm.setup()
    _, input_ids, pad_mask = next(iter(dm.train_dataloader()))
    encoded = tokenizer(
        source["review"][:4],
        padding=True,
        truncation=True,
        add_special_tokens=spec.add_special_tokens,
        return_tensors="pt",
    )
    torch.testing.assert_close(encoded["input_ids"], input_ids, rtol=0, atol=0)
    torch.testing.assert_close(~encoded["attention_mask"].bool(), pad_mask, rtol=0, atol=0)

    clm = TextDataModule(tokenizer=TOKENIZER, task="clm", max_seq_len=16, dataset_dir=str(tmp_path))
    clm_spec = inference_spec(clm.hparams)
    assert clm_spec.load_tokenizer().padding_side == "left" and clm_spec.id2label() is None
    assert clm_spec.task == "clm" and clm_spec.max_seq_len == 16


def test_tokenizer_instance_is_stored_by_name(tmp_path):
    from transformers import PerceiverTokenizer

    dm = TextDataModule(tokenizer=PerceiverTokenizer(), task="mlm", max_seq_len=16, dataset_dir=str(tmp_path))
    hparams = _plain_round_trip(dm.hparams)
    assert isinstance(hparams["tokenizer"], str)


def test_image_inference_spec_equals_training_preprocessing(data_dir, tmp_path):
    pytest.importorskip("PIL")
    from perceiver.data.vision import ImageNetDataModule, MNISTDataModule, read_idx

    mnist = MNISTDataModule(str(data_dir / "images/mnist"), num_workers=0, batch_size=2, shuffle=False)
    spec = inference_spec(_plain_round_trip(mnist.hparams))
    assert spec.id2label() == {i: str(i) for i in range(10)}
    assert spec.image["num_channels"] == 1 and spec.image["mean"] == [0.1307]
    assert spec.image["size"] is None and spec.image["crop_size"] is None  # 28x28, as training
    mnist.setup()
    # the sample data holds MNIST's test files only: the last 1000 images are the validation split
    raw = read_idx(data_dir / "images/mnist/t10k-images-idx3-ubyte.gz")[-1000]
    torch.testing.assert_close(spec.image_preprocessor()(raw), mnist.ds_valid[0]["image"], rtol=0, atol=1e-6)

    photos = data_dir / "images/photos"
    for split in ("train", "val"):
        for cls, name in (("cat", "chelsea.png"), ("cup", "coffee.png")):
            (tmp_path / split / cls).mkdir(parents=True)
            shutil.copy(photos / name, tmp_path / split / cls / name)
    imagenet = ImageNetDataModule(str(tmp_path), image_size=32, num_workers=0)
    assert inference_spec(imagenet.hparams).class_names is None  # not read yet
    imagenet.setup()
    spec = inference_spec(_plain_round_trip(imagenet.hparams))
    assert spec.id2label() == {0: "cat", 1: "cup"} and spec.image["num_channels"] == 3
    item = imagenet.ds_valid[0]
    torch.testing.assert_close(
        spec.image_preprocessor()(imagenet.ds_valid.paths[0]), item["image"], rtol=0, atol=0
    )


def test_other_inference_specs_and_errors(data_dir, tmp_path):
    pytest.importorskip("pretty_midi")
    from perceiver.data.audio import MidiDataModule
    from perceiver.data.inference import InferenceSpec
    from perceiver.data.multimodal import MultimodalDataModule
    from perceiver.data.vision import OpticalFlowDataModule

    midi = inference_spec(_plain_round_trip(MidiDataModule(str(MIDI_DIR), max_seq_len=32).hparams))
    assert (midi.kind, midi.padding_side, midi.midi["pad_token_id"], midi.midi["vocab_size"]) == (
        "midi",
        "left",
        388,
        389,
    )
    path = sorted(MIDI_DIR.glob("*.mid"))[0]
    from perceiver.data.audio import MidiProcessor

    assert midi.midi_processor().encode(path) == MidiProcessor().encode(path)
    with pytest.raises(ValueError, match="a midi data module has no tokenizer"):
        midi.load_tokenizer()

    flow = OpticalFlowDataModule(str(data_dir / "optical-flow/middlebury-rubberwhale"), crop_shape=(32, 48))
    spec = inference_spec(_plain_round_trip(flow.hparams))
    assert spec.image["patch_size"] == 3 and spec.image["crop_shape"] == [32, 48]
    with pytest.raises(ValueError, match="a optical_flow data module has no image preprocessing"):
        spec.image_preprocessor()

    mm = inference_spec(_plain_round_trip(MultimodalDataModule(str(tmp_path), 2, (3, 8, 8), 16, 5).hparams))
    assert mm.image["image_shape"] == [3, 8, 8] and mm.image["audio_samples_per_frame"] == 16

    with pytest.raises(ValueError, match=r"not those of one perceiver-data data module \(none match\)"):
        inference_spec({"batch_size": 3})
    with pytest.raises(ValueError, match=r"hparams lack \['task'\], which text data modules save"):
        inference_spec({"tokenizer": "bytes", "max_seq_len": 8}, kind="text")
    with pytest.raises(ValueError, match="kind"):
        inference_spec({}, kind="video")
    with pytest.raises(ValueError, match="unknown fields"):
        InferenceSpec.from_dict({"kind": "text", "vocab": 3})
    with pytest.raises(ValueError, match="kind"):
        InferenceSpec(kind="video")
    spec = inference_spec(flow.hparams)
    assert InferenceSpec.from_dict(spec.to_dict()) == spec


def test_hparams_restore_the_data_module_and_its_spec(tmp_path):
    pytest.importorskip("PIL")
    from perceiver.data.vision import MNISTDataModule

    dm = MNISTDataModule(data_dir=str(tmp_path), batch_size=7, num_workers=0, channels_last=False)
    hparams = _plain_round_trip(dm.hparams)
    restored = MNISTDataModule(**hparams)
    assert restored.hparams.batch_size == 7
    assert restored.inference_spec() == inference_spec(hparams) == dm.inference_spec()
    assert inference_spec(hparams).image["channels_last"] is False

    imdb = ImdbDataModule(task="clf", dataset_dir=str(tmp_path))
    hparams = _plain_round_trip(imdb.hparams)
    assert hparams["class_names"] == ["neg", "pos"]  # the module's own names are recorded
    assert ImdbDataModule(**hparams).inference_spec().id2label() == {0: "neg", 1: "pos"}


def test_streamed_c4_tests_on_its_validation_stream(tmp_path):
    from perceiver.data.text import C4DataModule

    path = tmp_path / "c4.jsonl"
    path.write_text("".join(f'{{"text": "document {i} with a few words in it"}}\n' for i in range(20)))
    dm = C4DataModule(
        task="clm", max_seq_len=8, train_files=str(path), valid_files=str(path), batch_size=2, num_workers=0
    )
    dm.setup()
    labels, input_ids, _ = next(iter(dm.test_dataloader()))
    expected = next(iter(dm.val_dataloader()))
    torch.testing.assert_close(input_ids, expected[1], rtol=0, atol=0)
    assert torch.equal(labels[:, :-1], input_ids[:, 1:])
    with pytest.raises(ValueError, match="pass file paths, not datasets"):
        C4DataModule(task="clm", train_files=datasets.Dataset.from_dict({"text": ["a"]}))
    with pytest.raises(ValueError, match="test_files is not supported for streamed data"):
        C4DataModule(task="clm", train_files=str(path), test_files=str(path))
