"""Symbolic audio (MIDI) data modules for Perceiver AR: batches `(labels, input_ids, pad_mask)` as in clm.

MIDI files are encoded once (see `perceiver.data.audio.midi`), concatenated per split, chunked to
`max_seq_len + 1` tokens and cached under `dataset_dir` like the text data modules.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from perceiver.data import inference
from perceiver.data._cache import default_cache_dir, files_fingerprint, load_or_build
from perceiver.data._hparams import make_plain
from perceiver.data.audio.midi import DEFAULT_MAX_DURATION, PAD_TOKEN_ID, VOCAB_SIZE, MidiProcessor
from perceiver.data.text.collator import CausalCollator
from perceiver.data.text.common import RandomLengthDataset, RandomShiftDataset

logger = logging.getLogger(__name__)

__all__ = ["GiantMidiPianoDataModule", "MaestroV3DataModule", "MidiDataModule"]

MIDI_SUFFIXES = {".mid", ".midi"}


class _EncodeOrError:
    """`datasets.map` function: a file's token ids, or why it cannot be used (picklable, so that worker
    processes can run it)."""

    def __init__(self, processor: MidiProcessor):
        self.processor = processor

    def __call__(self, row: dict[str, str]) -> dict[str, Any]:
        try:
            return {"input_ids": self.processor.encode(row["path"]), "error": ""}
        except ValueError as e:
            return {"input_ids": [], "error": str(e)}


class MidiDataModule(pl.LightningDataModule):
    """MIDI files of a local folder (searched recursively). Unreadable files, and files whose notes last
    longer than `max_duration` seconds, are skipped with a warning naming them.

    The last `valid_fraction` of the sorted files (at least one) are the validation split. The test
    split (`test_dataloader`, `predict_dataloader`) is the dataset's own where it has one (MAESTRO),
    otherwise the validation split.

    Args:
        min_seq_len: if set, each training example is cut to n + 1 tokens, n drawn uniformly from
            [min_seq_len, max_seq_len] (the collator pads the batch), as in krasserm/perceiver-io.
        include_drums: tokenize drum tracks too (krasserm/perceiver-io did).
        max_duration: longest accepted file, in seconds of music (None: no limit).
        preproc_workers: processes that tokenize the files (`datasets.map`'s `num_proc`; default 1:
            in this process), with a progress bar either way. Parallel and serial tokenization give
            the same tokens.
        dataset_uri: not supported: this module reads `data_dir` and downloads nothing.
    """

    name = "midi"
    download_hint = ""

    def __init__(
        self,
        data_dir: str | None = None,
        max_seq_len: int = 1024,
        min_seq_len: int | None = None,
        dataset_dir: str | None = None,
        valid_fraction: float = 0.1,
        include_drums: bool = True,
        max_duration: float | None = DEFAULT_MAX_DURATION,
        padding_side: str = "left",
        random_train_shift: bool = False,
        batch_size: int = 16,
        valid_batch_size: int | None = None,
        num_workers: int = 2,
        preproc_workers: int | None = None,
        pin_memory: bool = False,
        shuffle: bool = True,
        dataset_uri: str | None = None,
    ):
        super().__init__()
        if max_seq_len < 2:
            raise ValueError(f"max_seq_len ({max_seq_len}) must be at least 2")
        if min_seq_len is not None and not 0 < min_seq_len < max_seq_len:
            raise ValueError(f"min_seq_len ({min_seq_len}) must be in (0, max_seq_len ({max_seq_len}))")
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side ({padding_side!r}) must be 'left' or 'right'")
        if preproc_workers is not None and preproc_workers < 1:
            raise ValueError(f"preproc_workers ({preproc_workers}) must be at least 1")
        if dataset_uri is not None:
            raise ValueError(
                f"dataset_uri ({dataset_uri!r}) is not supported: download and unpack the dataset yourself "
                f"and pass its folder as data_dir. {self.download_hint}"
            )
        self.save_hyperparameters(ignore=["dataset_uri"])
        make_plain(self.hparams)
        self.processor = MidiProcessor(include_drums, max_duration)
        self.dataset_dir = Path(dataset_dir) if dataset_dir is not None else default_cache_dir(self.name)
        self.ds_train: Any = None
        self.ds_valid: Any = None
        self.ds_test: Any = None

    def inference_spec(self) -> inference.InferenceSpec:
        """What inference needs, from the hyperparameters (see `perceiver.data.inference`)."""
        return inference.inference_spec(self.hparams, kind="midi")

    @property
    def vocab_size(self) -> int:
        return VOCAB_SIZE

    @property
    def max_seq_len(self) -> int:
        return self.hparams.max_seq_len

    def _data_dir(self) -> Path:
        data_dir = self.hparams.data_dir
        if data_dir is None or not Path(data_dir).is_dir():
            raise ValueError(
                f"{type(self).__name__}: data_dir ({data_dir}) is not a directory. {self.download_hint}"
            )
        return Path(data_dir)

    def split_files(self) -> dict[str, list[Path]]:
        files = sorted(
            p for p in self._data_dir().rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file()
        )
        if len(files) < 2:
            raise ValueError(f"{self._data_dir()}: need at least 2 MIDI files, found {len(files)}")
        n_valid = max(1, round(len(files) * self.hparams.valid_fraction))
        return {"train": files[:-n_valid], "valid": files[-n_valid:]}

    def _encode_split(self, files: list[Path], split: str = "train") -> Any:
        import datasets

        workers = self.hparams.preproc_workers or 1
        paths = datasets.Dataset.from_dict({"path": [str(p) for p in files]})
        encoded = paths.map(
            _EncodeOrError(self.processor),
            remove_columns=["path"],
            features=datasets.Features(
                {"input_ids": datasets.Sequence(datasets.Value("int32")), "error": datasets.Value("string")}
            ),
            num_proc=min(workers, len(files)) if workers > 1 and len(files) > 1 else None,
            load_from_cache_file=False,
            desc=f"tokenizing MIDI files ({split})",
        )
        tokens: list[int] = []
        for path, ids, error in zip(files, encoded["input_ids"], encoded["error"]):  # in file order
            if error:
                warnings.warn(f"skipping {path}: {error}", stacklevel=2)
            else:
                tokens += ids
        n = self.max_seq_len + 1
        if len(tokens) < n:
            raise ValueError(
                f"max_seq_len ({self.max_seq_len}) does not fit: the MIDI files {[p.name for p in files]} "
                f"encode to {len(tokens)} tokens, fewer than {n}"
            )
        return datasets.Dataset.from_dict(
            {"input_ids": [tokens[i : i + n] for i in range(0, len(tokens) - n + 1, n)]}
        )

    def preprocess(self) -> Any:
        import datasets

        return datasets.DatasetDict(
            {
                split: self._encode_split(files, split)
                for split, files in self.split_files().items()
                if files or split != "test"
            }
        )

    def preprocessed_dir(self) -> Path:
        splits = self.split_files()
        spec = {
            "data_module": type(self).__name__,
            "files": {split: files_fingerprint(files) for split, files in splits.items()},
            "max_seq_len": self.max_seq_len,
            "include_drums": self.hparams.include_drums,
            "max_duration": self.hparams.max_duration,
            "tokenization": "perceiver-io-0.11",  # cache entries of earlier tokenizations are not reused
            "vocab_size": VOCAB_SIZE,
        }
        return load_or_build(self.dataset_dir, spec, self.preprocess)

    def prepare_data(self) -> None:
        self.preprocessed_dir()

    def setup(self, stage: str | None = None) -> None:
        import datasets

        dataset = datasets.load_from_disk(str(self.preprocessed_dir() / "data"))
        self.ds_train, self.ds_valid = dataset["train"], dataset["valid"]
        self.ds_test = dataset.get("test", self.ds_valid)
        if self.hparams.random_train_shift:
            self.ds_train = RandomShiftDataset(self.ds_train, self.max_seq_len + 1)
        if self.hparams.min_seq_len is not None:
            self.ds_train = RandomLengthDataset(self.ds_train, self.hparams.min_seq_len, self.max_seq_len)

    def _loader(self, dataset: Any, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"call {type(self).__name__}.setup() before requesting a dataloader")
        hp = self.hparams
        return DataLoader(
            dataset,
            batch_size=hp.batch_size if train else (hp.valid_batch_size or hp.batch_size),
            shuffle=train and hp.shuffle,
            collate_fn=CausalCollator(PAD_TOKEN_ID, hp.padding_side),
            num_workers=hp.num_workers,
            pin_memory=hp.pin_memory,
            persistent_workers=hp.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.ds_train, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.ds_valid, False)

    def test_dataloader(self) -> DataLoader:
        """The test split, or the validation split where the dataset has no test split."""
        return self._loader(self.ds_test, False)

    def predict_dataloader(self) -> DataLoader:
        """Batches of the test split (as `test_dataloader`), for `trainer.predict`."""
        return self._loader(self.ds_test, False)


class MaestroV3DataModule(MidiDataModule):
    """MAESTRO v3 piano performances. `data_dir` is the unpacked `maestro-v3.0.0` folder; its
    `maestro-v3.0.0.csv` assigns files to splits (train, validation, test), otherwise the folder is split by
    file order."""

    name = "maestro-v3"
    download_hint = "Download https://storage.googleapis.com/magentadata/datasets/maestro/v3.0.0/maestro-v3.0.0-midi.zip and unpack it."

    def split_files(self) -> dict[str, list[Path]]:
        import csv

        data_dir = self._data_dir()
        metadata = data_dir / "maestro-v3.0.0.csv"
        if not metadata.is_file():
            return super().split_files()
        splits: dict[str, list[Path]] = {"train": [], "valid": [], "test": []}
        with open(metadata, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                split = {"train": "train", "validation": "valid", "test": "test"}.get(row["split"])
                if split is not None:
                    splits[split].append(data_dir / row["midi_filename"])
        return splits


class GiantMidiPianoDataModule(MidiDataModule):
    """GiantMIDI-Piano (Kong et al. 2020): a folder of transcribed piano MIDI files, split by file order."""

    name = "giantmidi-piano"
    download_hint = (
        "Download GiantMIDI-Piano as described at https://github.com/bytedance/GiantMIDI-Piano and unpack it."
    )
