"""Loading raw text datasets from local files or the Hub."""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "TEXT_SUFFIXES",
    "class_label_names",
    "format_suffix",
    "hub_class_label_names",
    "load_local_dataset",
    "normalize_splits",
    "read_text_file",
]

TEXT_SUFFIXES = {".txt", ".text", ".raw", ".tokens", ".xml", ".md", ""}
JSON_SUFFIXES = {".json", ".jsonl"}
PARQUET_SUFFIXES = {".parquet"}
VALID_SPLIT_NAMES = ("valid", "validation", "test")


def format_suffix(path: str | os.PathLike) -> str:
    """The suffix that names a file's format, looking through `.gz` (`a.jsonl.gz` -> `.jsonl`)."""
    path = Path(path)
    if path.suffix.lower() == ".gz":
        path = path.with_suffix("")
    return path.suffix.lower()


def read_text_file(path: str | os.PathLike) -> str:
    """Reads a UTF-8 text file (gzipped if its name ends with `.gz`). Raises ValueError naming the file
    if it is empty, not UTF-8 or a broken gzip file."""
    path = Path(path)
    data = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: not a readable gzip file ({e})") from e
    if not data.strip():
        raise ValueError(f"{path}: file is empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path}: not valid UTF-8 text (byte {e.object[e.start : e.start + 1]!r} at offset {e.start})"
        ) from e


def _is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / f).is_file() for f in ("dataset_dict.json", "state.json"))


def load_local_dataset(files: str | os.PathLike | list, text_column: str = "text") -> Any:
    """Loads local files into a `datasets.Dataset` (or a `DatasetDict` for a saved datasets directory).

    Text files give one row per line (line breaks kept, so concatenation restores the file); JSON Lines
    and Parquet files are read with the `datasets` builders. Text and JSON files may be gzipped (`.gz`).
    """
    import datasets

    paths = [Path(files)] if isinstance(files, str | os.PathLike) else [Path(f) for f in files]
    if not paths:
        raise ValueError("no files given")
    for path in paths:
        if not path.exists():
            raise ValueError(f"{path}: no such file or directory")
    if len(paths) == 1 and _is_saved_dataset(paths[0]):
        try:
            return datasets.load_from_disk(str(paths[0]))
        except Exception as e:  # a damaged directory: missing arrow files, bad json ...
            raise ValueError(f"{paths[0]}: cannot load the saved datasets directory ({e})") from e

    suffixes = {format_suffix(p) for p in paths}
    if len(suffixes) > 1:
        raise ValueError(f"files of one split must share one format, got suffixes {sorted(suffixes)}")
    suffix = suffixes.pop()
    for path in paths:
        if path.is_dir():
            raise ValueError(f"{path}: a directory that is not a saved datasets directory")
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: file is empty")

    if suffix in JSON_SUFFIXES or suffix in PARQUET_SUFFIXES:
        builder = "json" if suffix in JSON_SUFFIXES else "parquet"
        try:
            return datasets.load_dataset(builder, data_files=[str(p) for p in paths], split="train")
        except Exception as e:
            cause = f" ({e.__cause__})" if e.__cause__ is not None else ""
            raise ValueError(f"cannot read {', '.join(map(str, paths))} as {builder}: {e}{cause}") from e
    # anything else is read as UTF-8 text (enwik8 has no suffix, WikiText uses .tokens)
    lines: list[str] = []
    for path in paths:
        lines.extend(read_text_file(path).splitlines(keepends=True))
    return datasets.Dataset.from_dict({text_column: lines})


def class_label_names(source: Any, column: str) -> list[str] | None:
    """The names of ``column`` where it is a ``ClassLabel`` in the training data ``source``: a
    ``datasets.Dataset``, a ``DatasetDict`` (its 'train' split), a saved datasets directory or Parquet
    files written by ``datasets`` (their schema records the features). None for any other source, a
    column that is not a ``ClassLabel`` or data that cannot be read here (reading it later names the
    problem). Reads the features only, not the rows."""
    features = _features(source)
    names = getattr(features.get(column), "names", None) if features is not None else None
    return list(names) if names else None


def hub_class_label_names(
    path: str, config: str | None, revision: str | None, column: str
) -> list[str] | None:
    """The names of ``column`` where the 🤗 dataset ``path`` declares it a ``ClassLabel`` (in its
    metadata: no rows are downloaded), or None, also when the metadata cannot be read (offline)."""
    import datasets

    try:
        features = datasets.load_dataset_builder(path, config, revision=revision).info.features
    except Exception as e:  # offline, no such dataset ...: loading the dataset later reports it
        logger.info("cannot read the features of %s: %s", path, e)
        return None
    names = getattr(features.get(column), "names", None) if features is not None else None
    return list(names) if names else None


def _features(source: Any) -> Any:
    if type(source).__module__.split(".")[0] == "datasets":  # in memory
        if isinstance(source, dict):  # DatasetDict
            source = source.get("train")
        return getattr(source, "features", None)
    if source is None:
        return None
    import datasets

    try:
        paths = [Path(source)] if isinstance(source, str | os.PathLike) else [Path(f) for f in source]
        if len(paths) == 1 and _is_saved_dataset(paths[0]):
            return _features(datasets.load_from_disk(str(paths[0])))  # memory-mapped: rows stay on disk
        if paths and format_suffix(paths[0]) in PARQUET_SUFFIXES and paths[0].is_file():
            import pyarrow.parquet as pq

            return datasets.Features.from_arrow_schema(pq.read_schema(paths[0]))
    except Exception:  # unreadable here: preprocessing reports it with the file's name
        return None
    return None


def normalize_splits(dataset: Any, valid_fraction: float, seed: int) -> Any:
    """Returns a DatasetDict with the splits 'train' and 'valid', and 'test' where the data has one
    besides its validation split.

    'valid' or 'validation' become 'valid' (or else 'test'); without any, `valid_fraction` of 'train'
    is split off (the last rows, so that text order is kept for language modelling).
    """
    import datasets

    if isinstance(dataset, datasets.Dataset):
        dataset = datasets.DatasetDict({"train": dataset})
    if "train" not in dataset:
        raise ValueError(f"dataset has no 'train' split, only {list(dataset)}")
    for name in VALID_SPLIT_NAMES:
        if name in dataset:
            result = {"train": dataset["train"], "valid": dataset[name]}
            if name != "test" and "test" in dataset:
                result["test"] = dataset["test"]
            return datasets.DatasetDict(result)
    train = dataset["train"]
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(
            f"valid_fraction ({valid_fraction}) must be in (0, 1) when no validation data is given"
        )
    n_valid = max(1, int(len(train) * valid_fraction))
    if len(train) < 2:
        raise ValueError(f"cannot split a validation set off a training set of {len(train)} rows")
    return datasets.DatasetDict(
        {
            "train": train.select(range(len(train) - n_valid)),
            "valid": train.select(range(len(train) - n_valid, len(train))),
        }
    )
