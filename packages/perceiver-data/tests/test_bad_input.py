"""Catalogue of bad inputs, corrupt files and faults at perceiver-data's public entry points.

Each case pins one finding: the input either gives the right result or a ValueError that names the
argument or file and its value. Never a silent wrong result, never a crash deep inside numpy,
torch or struct.
"""

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from perceiver.data._cache import MARKER, OWNER, cache_key, load_or_build, remove_orphaned_temp_dirs
from perceiver.data.multimodal import ClipPreprocessor
from perceiver.data.text import (
    CausalCollator,
    ClassificationCollator,
    DefaultCollator,
    ImdbDataModule,
    TextDataModule,
    TextPreprocessor,
    TokenMaskingCollator,
    WordMaskingCollator,
)
from perceiver.data.text.collator import pad_sequences
from perceiver.data.vision import (
    FramePairDataset,
    ImageNetDataModule,
    ImagePreprocessor,
    MNISTDataModule,
    OpticalFlowDataModule,
    extract_patches,
    flow_to_color,
    middlebury_frame_pairs,
    preprocess_frame_pair,
    read_flo,
    read_idx,
    sintel_frame_pairs,
    write_flo,
)

Image = pytest.importorskip("PIL.Image")


# ------------------------------------------------------------------ 1: one class map for all splits


@pytest.fixture
def image_folders(data_dir, tmp_path):
    """train/ with cat, cup, rocket; val/ without cup; hidden folders and files in both."""
    photos = data_dir / "images/photos"
    sources = {"cat": "chelsea.png", "cup": "coffee.png", "rocket": "rocket.jpg"}
    for split, classes in (("train", ["cat", "cup", "rocket"]), ("val", ["cat", "rocket"])):
        for cls in classes:
            (tmp_path / split / cls).mkdir(parents=True)
            shutil.copy(photos / sources[cls], tmp_path / split / cls / sources[cls])
        # what Jupyter leaves behind: a hidden folder at the class level and inside a class folder
        (tmp_path / split / ".ipynb_checkpoints").mkdir()
        shutil.copy(photos / "coffee.png", tmp_path / split / ".ipynb_checkpoints" / "coffee-checkpoint.png")
        (tmp_path / split / "cat" / ".ipynb_checkpoints").mkdir()
        shutil.copy(photos / "coffee.png", tmp_path / split / "cat" / ".ipynb_checkpoints" / "x.png")
    return tmp_path


def test_hidden_folders_and_a_class_missing_from_val_do_not_shift_labels(image_folders):
    dm = ImageNetDataModule(str(image_folders), image_size=16, batch_size=3, num_workers=0, shuffle=False)
    dm.setup()
    assert dm.class_names == ["cat", "cup", "rocket"] and dm.num_classes == 3
    assert dm.id2label == {0: "cat", 1: "cup", 2: "rocket"}
    train = {p.parent.name: label for p, label in zip(dm.ds_train.paths, dm.ds_train.labels)}
    valid = {p.parent.name: label for p, label in zip(dm.ds_valid.paths, dm.ds_valid.labels)}
    assert train == {"cat": 0, "cup": 1, "rocket": 2}
    assert valid == {"cat": 0, "rocket": 2}  # rocket keeps label 2 although val/ has no cup
    assert len(dm.ds_train) == 3 and len(dm.ds_valid) == 2  # no image from a hidden folder
    assert next(iter(dm.val_dataloader()))["label"].tolist() == [0, 2]


def test_val_class_that_is_not_in_train_raises(image_folders):
    shutil.copytree(image_folders / "val" / "cat", image_folders / "val" / "dog")
    dm = ImageNetDataModule(str(image_folders), image_size=16, num_workers=0)
    with pytest.raises(ValueError, match=r"val: class folders \['dog'\] are not among the 3 classes"):
        dm.setup()


def test_class_names_are_saved_in_checkpoints_and_restore_the_label_map(image_folders, tmp_path):
    import pytorch_lightning as pl

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3 * 16 * 16, 3)

        def training_step(self, batch, batch_idx):
            logits = self.linear(batch["image"].flatten(1))
            return torch.nn.functional.cross_entropy(logits, batch["label"])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm = ImageNetDataModule(str(image_folders), image_size=16, batch_size=3, num_workers=0)
    trainer = pl.Trainer(
        max_steps=1,
        default_root_dir=tmp_path / "run",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(Tiny(), datamodule=dm)
    path = tmp_path / "tiny.ckpt"
    trainer.save_checkpoint(path)
    hparams = torch.load(path, weights_only=True)["datamodule_hyper_parameters"]
    assert hparams["class_names"] == ["cat", "cup", "rocket"]

    # the restored data module keeps the map even if the training folder loses a class
    shutil.rmtree(image_folders / "train" / "cup")
    restored = ImageNetDataModule(**hparams)
    restored.setup()
    assert restored.class_names == ["cat", "cup", "rocket"]
    assert sorted(set(restored.ds_train.labels)) == [0, 2]


def test_given_class_names_define_the_labels(image_folders):
    dm = ImageNetDataModule(
        str(image_folders), image_size=16, num_workers=0, class_names=["rocket", "cup", "cat"]
    )
    dm.setup()
    assert {p.parent.name: label for p, label in zip(dm.ds_train.paths, dm.ds_train.labels)} == {
        "rocket": 0,
        "cup": 1,
        "cat": 2,
    }
    with pytest.raises(ValueError, match=r"train: class folders \['cup'\] are not among the 2 classes"):
        ImageNetDataModule(str(image_folders), class_names=["cat", "rocket"]).setup()
    with pytest.raises(ValueError, match=r"class_names has duplicates: \['cat'\]"):
        ImageNetDataModule(str(image_folders), class_names=["cat", "cat"])


# ------------------------------------------------------------------ 7: classification labels


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


@pytest.mark.parametrize(
    "label, message",
    [
        (1.5, r"row 1: label 1.5 is not an integer class id"),
        (2, r"row 1: label 2 is out of range \(class ids must be \[0, 2\)\)"),
        (-1, r"row 1: label -1 is out of range"),
        ("positive", r"row 1: label 'positive' is not an integer class id"),
        (None, r"row 1: label None is not an integer class id"),
    ],
)
def test_imdb_labels_are_validated_where_the_data_enters(tmp_path, label, message):
    rows = [{"text": "a good film", "label": 1}, {"text": "a bad film", "label": label}]
    train = _jsonl(tmp_path / "train.jsonl", rows)
    dm = ImdbDataModule(
        task="clf", max_seq_len=32, train_files=train, valid_files=train, dataset_dir=str(tmp_path / "cache")
    )
    with pytest.raises(ValueError, match=r"train split \(.*train\.jsonl\), " + message):
        dm.prepare_data()


def test_integral_float_labels_are_exact_class_ids(tmp_path):
    rows = [{"text": "a good film", "label": 1.0}, {"text": "a bad film", "label": 0.0}]
    train = _jsonl(tmp_path / "train.jsonl", rows)
    dm = ImdbDataModule(
        task="clf",
        max_seq_len=32,
        batch_size=2,
        num_workers=0,
        shuffle=False,
        train_files=train,
        valid_files=train,
        dataset_dir=str(tmp_path / "cache"),
    )
    dm.setup()
    labels, _, _ = next(iter(dm.train_dataloader()))
    assert labels.tolist() == [1, 0] and labels.dtype == torch.long


@pytest.mark.parametrize(
    "label, num_classes, message",
    [
        (1.7, None, r"examples\[0\]: label 1.7 is not an integer class id"),
        (3, 3, r"examples\[0\]: label 3 is out of range"),
        (-2, None, r"examples\[0\]: label -2 is out of range"),
    ],
)
def test_classification_collator_validates_labels(label, num_classes, message):
    with pytest.raises(ValueError, match=message):
        ClassificationCollator(0, num_classes=num_classes)([{"input_ids": [5, 6], "label": label}])


def _write_idx(path, array, type_code):
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(array.dtype.newbyteorder(">")).tobytes())


@pytest.mark.parametrize(
    "labels, type_code, message",
    [
        (
            np.array([1, 12], np.uint8),
            0x08,
            r"label 12 at index 1 is out of range \(class ids must be in \[0, 10\)\)",
        ),
        (np.array([1.0, 2.5], np.float32), 0x0D, r"labels must be integers"),
    ],
)
def test_mnist_idx_labels_are_validated(tmp_path, labels, type_code, message):
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8), 0x08)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, type_code)
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: " + message):
        MNISTDataModule(data_dir=str(tmp_path), valid_size=1).load_arrays()


def test_mnist_float_idx_images_are_refused(tmp_path):
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", np.full((2, 28, 28), 0.5, np.float32), 0x0D)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 2], np.uint8), 0x08)
    with pytest.raises(ValueError, match=r"images must be uint8 \(n, 28, 28\), got float32"):
        MNISTDataModule(data_dir=str(tmp_path), valid_size=1).load_arrays()


def test_mnist_images_without_labels_are_refused(tmp_path):
    _write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8), 0x08)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8), 0x08)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 2], np.uint8), 0x08)
    # not silently the test split alone: the training labels are missing
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: found, but no train labels IDX file"):
        MNISTDataModule(data_dir=str(tmp_path), valid_size=1).load_arrays()


def test_mnist_digit_folders_keep_their_digit_as_label(tmp_path):
    for digit in ("3", "7"):  # folders 0-2, 4-6, 8-9 are missing
        (tmp_path / "test" / digit).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(tmp_path / "test" / digit / f"{i}.png")
    arrays = MNISTDataModule(data_dir=str(tmp_path), valid_size=1).load_arrays()
    assert sorted(arrays["train"][1].tolist() + arrays["valid"][1].tolist()) == [3, 3, 7, 7]

    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "test" / "7" / "big.png")
    with pytest.raises(ValueError, match=r"big\.png: MNIST images are 28x28, this one is 32x32"):
        MNISTDataModule(data_dir=str(tmp_path), valid_size=1).load_arrays()
    (tmp_path / "test" / "seven").mkdir()
    with pytest.raises(ValueError, match=r"class folders \['seven'\] are not among the 10 classes"):
        MNISTDataModule(data_dir=str(tmp_path), valid_size=1).load_arrays()


# ------------------------------------------------------------------ 8: image dtypes


def test_float_images_in_0_1_give_the_uint8_result():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    as_float = image.astype(np.float32) / 255
    plain = ImagePreprocessor(crop_size=16)  # no resize: exact
    torch.testing.assert_close(plain(as_float), plain(image), rtol=0, atol=1e-6)
    torch.testing.assert_close(plain(torch.from_numpy(as_float)), plain(image), rtol=0, atol=1e-6)
    half = torch.from_numpy(as_float).bfloat16()  # numpy has no bfloat16: converted, not a TypeError
    raw = ImagePreprocessor(crop_size=16, mean=None, std=None)
    torch.testing.assert_close(raw(half), raw(image), rtol=0, atol=2**-8)  # bfloat16 rounding in [0, 1]
    resized = ImagePreprocessor(size=12, crop_size=10, mean=None, std=None)  # PIL rounds uint8 results
    torch.testing.assert_close(resized(as_float), resized(image), rtol=0, atol=1.0 / 255)
    assert 0.1 < float(resized(as_float).mean()) < 0.9  # not zeros


@pytest.mark.parametrize(
    "image, message",
    [
        (
            np.full((4, 4, 3), 300.0, np.float32),
            r"float pixel values must be finite and in \[0, 1\], got values in \[300.0",
        ),
        (np.full((4, 4, 3), -0.5, np.float64), r"float pixel values must be finite and in \[0, 1\]"),
        (np.full((4, 4, 3), np.nan, np.float32), r"float pixel values must be finite"),
        (np.full((4, 4, 3), 200, np.int64), r"pixel dtype int64 is not supported"),
        (np.full((4, 4, 3), 200, np.uint16), r"pixel dtype uint16 is not supported"),
        (np.ones((4, 4, 3), bool), r"pixel dtype bool is not supported"),
        (torch.zeros(3, 8, 8, dtype=torch.uint8), r"got \(3, 8, 8\) \(channels first\?"),
        (np.zeros((4, 4, 5), np.uint8), r"expected shape \(h, w\) or \(h, w, c\)"),
        ("not a path.png", r"not a path\.png: cannot decode image"),
        ([[0, 1], [1, 0]], r"expected a path, a PIL image, a numpy array or a torch tensor, got list"),
    ],
)
def test_image_preprocessor_refuses_ambiguous_or_wrong_images(image, message):
    with pytest.raises(ValueError, match=message):
        ImagePreprocessor(mean=None, std=None)(image)


def test_pil_modes_are_converted_or_refused():
    preprocessor = ImagePreprocessor(mean=None, std=None)
    rgb = Image.new("RGB", (4, 4), (10, 20, 30))
    palette = rgb.convert("P")  # the palette's colours, not its indices
    expected = torch.from_numpy(np.asarray(palette.convert("RGB"), np.float32) / 255).permute(2, 0, 1)
    torch.testing.assert_close(preprocessor(palette), expected, rtol=0, atol=0)
    torch.testing.assert_close(preprocessor(rgb.convert("RGBA")), preprocessor(rgb), rtol=0, atol=0)
    assert preprocessor(Image.new("1", (4, 4), 1)).max() == 1.0  # 1-bit: white is 1, not 1/255
    with pytest.raises(ValueError, match=r"PIL image mode 'I;16' is not supported"):
        preprocessor(Image.fromarray(np.full((4, 4), 1000, np.uint16)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(size=0), r"size must be at least 1, got 0"),
        (dict(crop_size=-1), r"crop_size \(-1\) must be a positive int or a pair"),
        (dict(crop_size=(4, 4, 4)), r"crop_size \(\(4, 4, 4\)\) must be"),
        (dict(std=(0.0, 1.0, 1.0)), r"std \(\(0.0, 1.0, 1.0\)\) must be positive"),
        (dict(mean=(0.5, 0.5), std=(1.0, 1.0, 1.0)), r"mean \(\(0.5, 0.5\)\) and std .* differ in length"),
        (dict(mean=(float("nan"),) * 3), r"mean .* finite numbers"),
    ],
)
def test_image_preprocessor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImagePreprocessor(**kwargs)


def test_image_preprocessor_empty_batch():
    with pytest.raises(ValueError, match="images is empty"):
        ImagePreprocessor().preprocess_batch([])


# ------------------------------------------------------------------ 12: .flo files


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"not a \.flo file \(magic b''"),
        (b"NOPE" + np.array([2, 2], "<i4").tobytes(), r"not a \.flo file \(magic b'NOPE'"),
        (b"PIEH" + np.array([-1, 5], "<i4").tobytes(), r"invalid \.flo size -1x5"),
        (b"PIEH" + np.array([0, 5], "<i4").tobytes(), r"invalid \.flo size 0x5"),
        (
            b"PIEH" + np.array([2**31 - 1] * 2, "<i4").tobytes(),
            r"\.flo header declares 2147483647x2147483647",
        ),
        (
            b"PIEH" + np.array([2, 2], "<i4").tobytes() + bytes(20),
            r"\.flo header declares 2x2 \(44 bytes\) but the file has 32",
        ),
        (
            b"PIEH" + np.array([1, 1], "<i4").tobytes() + bytes(12),
            r"\.flo header declares 1x1 \(20 bytes\) but the file has 24",
        ),
    ],
    ids=["empty", "bad-tag", "negative", "zero", "huge", "truncated", "trailing"],
)
def test_malformed_flo_files_name_the_file(tmp_path, content, message):
    (tmp_path / "bad.flo").write_bytes(content)
    with pytest.raises(ValueError, match=r"bad\.flo: " + message):
        read_flo(tmp_path / "bad.flo")


def test_flo_that_does_not_match_its_frames_is_refused(tmp_path):
    frame = np.zeros((12, 16, 3), np.uint8)
    for name in ("frame10.png", "frame11.png"):
        Image.fromarray(frame).save(tmp_path / name)
    write_flo(tmp_path / "flow10.flo", np.zeros((6, 8, 2), np.float32))  # half the frames' size
    with pytest.raises(
        ValueError, match=r"flow10\.flo: flow of 6x8 does not match its frames \(.*frame10\.png: 12x16\)"
    ):
        FramePairDataset.middlebury(tmp_path)[0]
    data = OpticalFlowDataModule(root=str(tmp_path), crop_shape=(4, 4), num_workers=0)
    data.setup()
    with pytest.raises(ValueError, match=r"flow10\.flo: flow of 6x8 does not match its frames"):
        next(iter(data.train_dataloader()))  # an empty batch before


def test_unknown_flow_pixels_are_marked_invalid(tmp_path):
    for name in ("frame10.png", "frame11.png"):
        Image.fromarray(np.zeros((2, 3, 3), np.uint8)).save(tmp_path / name)
    flow = np.zeros((2, 3, 2), np.float32)
    flow[0, 0, 0], flow[0, 1, 1], flow[1, 2, 0] = np.nan, np.inf, 1e10  # the conventions for "unknown"
    write_flo(tmp_path / "flow10.flo", flow)
    item = FramePairDataset.middlebury(tmp_path)[0]
    assert item["valid"].tolist() == [[False, False, True], [True, True, False]]


def test_write_flo_refuses_an_empty_flow(tmp_path):
    with pytest.raises(ValueError, match=r"flow must have shape \(h, w, 2\) with h, w >= 1, got \(0, 3, 2\)"):
        write_flo(tmp_path / "empty.flo", np.zeros((0, 3, 2), np.float32))
    assert not (tmp_path / "empty.flo").exists()


# ------------------------------------------------------------------ 16: corrupt files, killed preprocessing


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"not an IDX file \(bad magic number\)"),
        (b"\x00\x00\x08\x03\x00\x00", r"truncated IDX header \(6 bytes; 3 dimensions need 16\)"),
        (
            b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"\x01\x02",
            r"IDX header declares shape \(5,\) but the file holds 2 bytes",
        ),
        (b"\x01\x02\x08\x01", r"not an IDX file"),
    ],
    ids=["zero-bytes", "truncated-header", "truncated-body", "bad-magic"],
)
def test_corrupt_idx_files_name_the_file(tmp_path, content, message):
    (tmp_path / "labels-idx1-ubyte").write_bytes(content)
    with pytest.raises(ValueError, match=r"labels-idx1-ubyte: " + message):
        read_idx(tmp_path / "labels-idx1-ubyte")


def test_truncated_gzip_idx_names_the_file(tmp_path):
    data = gzip.compress(b"\x00\x00\x08\x01" + (4).to_bytes(4, "big") + bytes(4))
    (tmp_path / "labels-idx1-ubyte.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"labels-idx1-ubyte\.gz: cannot read IDX file"):
        read_idx(tmp_path / "labels-idx1-ubyte.gz")


def _tmp_dir(cache, pid, host):
    path = cache / f".tmp-{'a' * 20}-{pid}-{'b' * 8}"
    path.mkdir(parents=True)
    if host is not None:
        (path / OWNER).write_text(json.dumps({"host": host, "pid": pid}))
    return path


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_only_our_own_orphaned_temp_dirs_are_removed(tmp_path):
    host = socket.gethostname()
    orphan = _tmp_dir(tmp_path, _dead_pid(), host)
    running = _tmp_dir(tmp_path, os.getppid(), host)  # a live process: a concurrent build
    other_host = _tmp_dir(tmp_path, _dead_pid(), "another-host")
    no_owner = _tmp_dir(tmp_path, _dead_pid(), None)
    unrelated = tmp_path / ".tmp-mine"
    unrelated.mkdir()
    assert remove_orphaned_temp_dirs(tmp_path) == [orphan]
    assert not orphan.exists() and running.exists() and other_host.exists() and no_owner.exists()
    assert unrelated.exists()


_KILLED_BUILD = """
import sys, time
from perceiver.data._cache import load_or_build
class Slow:
    def save_to_disk(self, path):
        pass
def build():
    print("building", flush=True)
    time.sleep(600)
    return Slow()
load_or_build(sys.argv[1], {"name": "killed"}, build)
"""


def test_killed_preprocessing_is_cleaned_up_by_the_next_run(tmp_path):
    import datasets

    cache = tmp_path / "cache"
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_BUILD, str(cache)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "building"
        leftovers = [p for p in cache.iterdir() if p.name.startswith(".tmp-")]
        assert len(leftovers) == 1 and (leftovers[0] / OWNER).is_file()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert leftovers[0].exists()  # what a killed run leaves behind

    def build():
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict({"x": [1, 2, 3]})})

    entry = load_or_build(cache, {"name": "killed"}, build)
    assert entry.name == cache_key({"name": "killed"}) and (entry / MARKER).is_file()
    assert [p.name for p in cache.iterdir()] == [entry.name]
    assert datasets.load_from_disk(str(entry / "data"))["train"]["x"][:] == [1, 2, 3]


# ------------------------------------------------------------------ collators


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: DefaultCollator(None), r"pad_token_id must be an int, got None"),
        (lambda: DefaultCollator(-1), r"pad_token_id must be at least 0, got -1"),
        (lambda: CausalCollator(0, "middle"), r"padding_side \('middle'\) must be 'left' or 'right'"),
        (lambda: ClassificationCollator(0.5), r"pad_token_id must be an int, got 0.5"),
        (lambda: ClassificationCollator(0, num_classes=0), r"num_classes must be at least 1, got 0"),
    ],
)
def test_collator_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import PerceiverTokenizer

    return PerceiverTokenizer()


@pytest.mark.parametrize("mask_prob", [0.0, 1.0, -0.1, float("nan"), "0.15", None])
def test_masking_collator_mask_prob(tokenizer, mask_prob):
    with pytest.raises(ValueError, match=r"mask_prob \(.*\) must be"):
        TokenMaskingCollator(tokenizer, mask_prob)


@pytest.mark.parametrize(
    "collator, examples, message",
    [
        (lambda t: DefaultCollator(0), [], r"examples is empty"),
        (lambda t: CausalCollator(0), [{"input_ids": [5]}], r"examples\[0\] has 1 input_ids, fewer than 2"),
        (
            lambda t: DefaultCollator(0),
            [{"input_ids": [5, 6]}, {"input_ids": []}],
            r"examples\[1\] has 0 input_ids",
        ),
        (lambda t: DefaultCollator(0), [{"ids": [5]}], r"examples\[0\] must be a dict with 'input_ids'"),
        (
            lambda t: DefaultCollator(0),
            [{"input_ids": [5, 6], "labels": [5]}],
            r"examples\[0\] has 1 labels for 2 input_ids",
        ),
        (
            lambda t: WordMaskingCollator(t, 0.5),
            [{"input_ids": [10, 11, 12], "word_ids": [0]}, {"input_ids": [10], "word_ids": [0]}],
            r"examples\[0\] has 1 word_ids for 3 input_ids",
        ),
        (lambda t: WordMaskingCollator(t, 0.5), [{"input_ids": [10]}], r"examples\[0\] has no 'word_ids'"),
    ],
)
def test_collator_examples(tokenizer, collator, examples, message):
    with pytest.raises(ValueError, match=message):
        collator(tokenizer)(examples)


def test_pad_sequences_padding_side():
    with pytest.raises(ValueError, match=r"padding_side \('up'\) must be 'left' or 'right'"):
        pad_sequences([[1, 2], [3]], 0, "up")


# ------------------------------------------------------------------ TextPreprocessor


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: p.preprocess(""), r"text_batch\[0\] \(''\) gives no tokens"),
        (lambda p: p.preprocess_batch(["a text", ""]), r"text_batch\[1\] \(''\) gives no tokens"),
        (lambda p: p.preprocess(None), r"text must be a string, got NoneType"),
        (lambda p: p.preprocess_batch([1, 2]), r"text_batch\[0\] must be a string, got int"),
        (lambda p: p.preprocess_batch([]), r"text_batch is empty"),
    ],
)
def test_text_preprocessor_inputs(tokenizer, call, message):
    with pytest.raises(ValueError, match=message):
        call(TextPreprocessor(tokenizer, 16))


@pytest.mark.parametrize("max_seq_len", [0, 8.5, "16", True])
def test_text_preprocessor_max_seq_len(tokenizer, max_seq_len):
    with pytest.raises(ValueError, match=r"max_seq_len must be .*, got"):
        TextPreprocessor(tokenizer, max_seq_len)


# ------------------------------------------------------------------ text data modules


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(task="classify"), r"task \('classify'\) must be one of \['mlm', 'clm', 'clf'\]"),
        (dict(max_seq_len=64.0), r"max_seq_len must be an int, got 64.0"),
        (dict(batch_size=0), r"batch_size must be at least 1, got 0"),
        (dict(num_workers=-1), r"num_workers must be at least 0, got -1"),
        (dict(valid_batch_size=0), r"valid_batch_size must be at least 1, got 0"),
        (dict(preproc_batch_size=0), r"preproc_batch_size must be at least 1, got 0"),
        (dict(task="mlm", mask_prob=0.0), r"mask_prob \(0.0\) must be in \(0, 1\)"),
    ],
)
def test_text_data_module_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextDataModule(**{"dataset_dir": str(tmp_path), **kwargs})


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"text": "one"}, {"text": None}], r"column 'text' has 1 missing \(null\) texts"),
        ([{"text": 1}, {"text": 2}], r"column 'text' must hold text, got Value\('int64'"),
    ],
)
def test_text_column_that_is_not_text(tmp_path, rows, message):
    train = _jsonl(tmp_path / "train.jsonl", rows)
    dm = TextDataModule(
        task="clm", max_seq_len=4, train_files=train, valid_files=train, dataset_dir=str(tmp_path)
    )
    with pytest.raises(ValueError, match=r"train split \(.*train\.jsonl\): " + message):
        dm.prepare_data()


def test_damaged_saved_dataset_directory(tmp_path):
    import datasets

    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"text": ["a b c"] * 4}).save_to_disk(str(saved))
    for arrow in saved.glob("*.arrow"):
        arrow.unlink()
    dm = TextDataModule(
        task="clm", max_seq_len=4, train_files=str(saved), dataset_dir=str(tmp_path / "cache")
    )
    with pytest.raises(ValueError, match=r"saved: cannot load the saved datasets directory"):
        dm.prepare_data()


def test_gzipped_local_files_are_read_and_broken_ones_named(tmp_path):
    from perceiver.data.text._sources import load_local_dataset

    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(b'{"text": "hello"}\n{"text": "world"}\n'))
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress(b"hello\nworld\n"))
    assert load_local_dataset(str(tmp_path / "a.jsonl.gz"))["text"][:] == ["hello", "world"]
    assert load_local_dataset(str(tmp_path / "b.txt.gz"))["text"][:] == ["hello\n", "world\n"]
    (tmp_path / "c.txt.gz").write_bytes(gzip.compress(b"hello\nworld\n")[:12])
    with pytest.raises(ValueError, match=r"c\.txt\.gz: not a readable gzip file"):
        load_local_dataset(str(tmp_path / "c.txt.gz"))
    (tmp_path / "d.jsonl").write_text('{"text": "a"}\nnot json\n')
    with pytest.raises(ValueError, match=r"cannot read .*d\.jsonl as json: .*JSON parse error"):
        load_local_dataset(str(tmp_path / "d.jsonl"))


@pytest.mark.parametrize(
    "content, message",
    [
        (None, r"train files not found: .*c4\.jsonl"),
        (
            '{"text": "abcdefgh"}\nnot json\n',
            r"c4\.jsonl: cannot read the stream \(ArrowInvalid: JSON parse error",
        ),
        ('{"text": "abcdefgh"}\n{"text": null}\n', r"c4\.jsonl: a document's 'text' is NoneType, not text"),
    ],
    ids=["missing", "malformed", "null-text"],
)
def test_streamed_local_files(tmp_path, content, message):
    from perceiver.data.text import C4DataModule

    path = tmp_path / "c4.jsonl"
    if content is not None:
        path.write_text(content)
    dm = C4DataModule(
        task="clm", max_seq_len=4, train_files=str(path), valid_files=str(path), batch_size=2, num_workers=0
    )
    with pytest.raises(ValueError, match=message):
        dm.setup()
        list(dm.train_dataloader())


def test_damaged_cache_entry_names_the_directory(text_slices, tmp_path):
    kwargs = dict(
        task="clm", max_seq_len=16, train_files=str(text_slices["shakespeare"]), dataset_dir=str(tmp_path)
    )
    entry = TextDataModule(**kwargs).preprocessed_dir()
    for arrow in (entry / "data" / "train").glob("*.arrow"):
        arrow.unlink()
    with pytest.raises(ValueError, match=r"the preprocessed data cannot be loaded .* delete this directory"):
        TextDataModule(**kwargs).setup()


def test_dataloader_before_setup(tmp_path):
    with pytest.raises(
        RuntimeError, match=r"call ImageNetDataModule.setup\(\) before requesting a dataloader"
    ):
        ImageNetDataModule(str(tmp_path)).train_dataloader()


# ------------------------------------------------------------------ optical-flow utilities


@pytest.mark.parametrize(
    "frames, kwargs, message",
    [
        (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), {}, r"frames must be a float tensor, got torch.uint8"),
        (torch.zeros(2, 3, 4, 4), dict(kernel_size=-1), r"kernel_size must be at least 1, got -1"),
        (torch.zeros(2, 3, 4, 4), dict(kernel_size=2), r"kernel_size \(2\) must be odd"),
        (torch.zeros(2, 3, 4, 4), dict(kernel_size=3.0), r"kernel_size must be an int, got 3.0"),
        (np.zeros((2, 3, 4, 4), np.float32), {}, r"frames must be a tensor of shape \(t, c, h, w\)"),
    ],
)
def test_extract_patches_arguments(frames, kwargs, message):
    with pytest.raises(ValueError, match=message):
        extract_patches(frames, **kwargs)


def test_frame_pairs_accept_float_frames_and_refuse_grayscale():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 6, 7, 3), dtype=np.uint8)
    expected = preprocess_frame_pair(frames[0], frames[1])
    as_float = frames.astype(np.float32) / 255
    torch.testing.assert_close(preprocess_frame_pair(as_float[0], as_float[1]), expected, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"frame2: frames must be RGB \(h, w, 3\), got shape \(6, 7, 1\)"):
        preprocess_frame_pair(frames[0], frames[1, :, :, 0])
    with pytest.raises(ValueError, match=r"frame1: float pixel values must be finite and in \[0, 1\]"):
        preprocess_frame_pair(frames[0].astype(np.float32), frames[1])


@pytest.mark.parametrize("max_flow", [0, -1.0, float("nan"), float("inf"), "5"])
def test_flow_to_color_max_flow(max_flow):
    with pytest.raises(ValueError, match=r"max_flow \(.*\) must be a positive finite number"):
        flow_to_color(np.ones((2, 2, 2), np.float32), max_flow=max_flow)


def test_frame_pair_folders_that_do_not_exist(tmp_path):
    for find in (sintel_frame_pairs, middlebury_frame_pairs):
        with pytest.raises(ValueError, match=r"missing: not a directory"):
            find(tmp_path / "missing")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sintel_pass="fianl"), r"sintel_pass \('fianl'\) must be 'clean' or 'final'"),
        (dict(crop_shape=(64.0, 96)), r"crop_shape \(\(64.0, 96\)\) must be two positive sizes"),
        (dict(crop_shape="64"), r"crop_shape \('64'\) must be two positive sizes"),
        (dict(batch_size=0), r"batch_size must be at least 1, got 0"),
    ],
)
def test_optical_flow_data_module_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        OpticalFlowDataModule(root=str(tmp_path), **kwargs)


# ------------------------------------------------------------------ image and clip data modules


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: ImageNetDataModule(str(p), image_size=0), r"image_size must be at least 1, got 0"),
        (lambda p: ImageNetDataModule(str(p), num_workers=-2), r"num_workers must be at least 0, got -2"),
        (lambda p: MNISTDataModule(str(p), valid_size=0), r"valid_size must be at least 1, got 0"),
        (lambda p: MNISTDataModule(str(p / "missing")).setup(), r"data_dir \(.*missing\) is not a directory"),
        (lambda p: ClipPreprocessor(16.0, (3, 8, 8), 4, 10), r"num_frames must be an int, got 16.0"),
        (
            lambda p: ClipPreprocessor(2, (3, 8.5, 8), 4, 10),
            r"image_shape \(\(3, 8.5, 8\)\) must be \(3, height, width\)",
        ),
    ],
)
def test_image_and_clip_arguments(tmp_path, make, message):
    with pytest.raises(ValueError, match=message):
        make(tmp_path)


def test_float_clip_audio_outside_minus_one_to_one():
    clip = {
        "video": np.zeros((2, 8, 8, 3), np.uint8),
        "audio": np.full(8, 1000.0, np.float32),
        "label": np.int64(1),
    }
    with pytest.raises(ValueError, match=r"c\.npz: float 'audio' must lie in \[-1, 1\], got peak 1000.0"):
        ClipPreprocessor(2, (3, 8, 8), 4, 10)(clip, source="c.npz")
