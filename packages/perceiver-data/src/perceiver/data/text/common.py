"""`Task` and the `TextDataModule` base class.

Batches are tuples `(labels, input_ids, pad_mask)` (see `perceiver.data.text.collator`):
- clm: examples of max_seq_len + 1 tokens; labels are the inputs shifted by one.
- mlm: labels are -100 except at masked positions.
- clf: labels (b,) are the class ids.
"""

from __future__ import annotations

import logging
import os
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from perceiver.data import inference
from perceiver.data._cache import default_cache_dir, files_fingerprint, load_or_build
from perceiver.data._checks import check_class_names, check_label, check_loader_args, check_probability
from perceiver.data._hparams import make_plain
from perceiver.data.text._sources import (
    class_label_names,
    hub_class_label_names,
    load_local_dataset,
    normalize_splits,
)
from perceiver.data.text._tokenizer import load_tokenizer, tokenizer_name
from perceiver.data.text.collator import (
    CausalCollator,
    ClassificationCollator,
    DefaultCollator,
    TokenMaskingCollator,
    WordMaskingCollator,
)
from perceiver.data.text.preprocessor import TextPreprocessor
from perceiver.model.core.validation import check_int

logger = logging.getLogger(__name__)

__all__ = ["RandomLengthDataset", "RandomShiftDataset", "RandomTruncateCollator", "Task", "TextDataModule"]


class Task(str, Enum):
    mlm = "mlm"  # masked language modelling
    clm = "clm"  # causal language modelling
    clf = "clf"  # sequence classification

    def __str__(self) -> str:
        return self.value


def _continue_word_ids(before: list[int], after: list[int]) -> list[int]:
    """Word ids of chunk i + 1 as a continuation of chunk i's. Within one preprocessing batch they
    already continue (a word cut by the chunk boundary keeps its id); chunks of different batches
    both count from 0, so chunk i + 1's ids are then moved past chunk i's to keep words apart."""
    last = max(before, default=-1)
    first = min((w for w in after if w >= 0), default=last)
    if first >= last:
        return after
    return [w + last + 1 if w >= 0 else w for w in after]


class RandomShiftDataset(Dataset):
    """Each item is a window of `length` tokens starting at a random offset in chunk i (spilling into
    chunk i + 1), so that every epoch sees differently aligned sequences. Every list-valued field
    (`input_ids`, and `word_ids`/`labels` where present) is shifted alike."""

    def __init__(self, dataset: Any, length: int):
        self.dataset = dataset
        self.length = length

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        item = {key: list(values) for key, values in self.dataset[index].items()}
        if index + 1 >= len(self.dataset):
            return {key: values[: self.length] for key, values in item.items()}
        offset = int(torch.randint(0, self.length, ()).item())
        following = self.dataset[index + 1]
        result = {}
        for key, values in item.items():
            after = list(following[key])
            if key == "word_ids":
                after = _continue_word_ids(values, after)
            result[key] = (values + after)[offset : offset + self.length]
        return result


class RandomLengthDataset(Dataset):
    """Cuts each item to its first `n + 1` tokens, n drawn uniformly from [min_seq_len, max_seq_len]
    (for causal LM examples of max_seq_len + 1 tokens; the collator pads the batch). Items already
    shorter are left as they are."""

    def __init__(self, dataset: Any, min_seq_len: int, max_seq_len: int):
        self.dataset = dataset
        self.min_seq_len = min_seq_len
        self.max_seq_len = max_seq_len

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        item = self.dataset[index]
        n = int(torch.randint(self.min_seq_len, self.max_seq_len + 1, ()).item())
        return {key: list(values)[: n + 1] for key, values in item.items()}


class RandomTruncateCollator:
    """Wraps a collator and drops the last k positions of each batch (labels, input_ids and pad_mask
    alike), k drawn uniformly so that between `min_seq_len` and the full length remain; batches of at
    most `min_seq_len` positions pass unchanged (krasserm/perceiver-io's random truncation)."""

    def __init__(self, collator: Any, min_seq_len: int):
        self.collator = collator
        self.min_seq_len = min_seq_len

    def __call__(self, examples: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        labels, input_ids, pad_mask = self.collator(examples)
        n = input_ids.shape[1]
        if n <= self.min_seq_len:
            return labels, input_ids, pad_mask
        keep = n - int(torch.randint(1, n - self.min_seq_len + 1, ()).item())
        return labels[:, :keep], input_ids[:, :keep], pad_mask[:, :keep]


class TextDataModule(pl.LightningDataModule):
    """Tokenizes a text dataset once, caches the result under `dataset_dir` and serves batches.

    Args:
        tokenizer: tokenizer name, local path or instance (default: UTF-8 bytes, works offline).
        max_seq_len: sequence length of model inputs.
        task: `clm`, `mlm` or `clf`.
        dataset_dir: root of the preprocessed-data cache (default: `perceiver-data/<name>` in the
            🤗 datasets cache, see `perceiver.data.default_cache_dir`).
        train_files, valid_files, test_files: local data (txt, jsonl, parquet or a saved datasets
            directory) used instead of the Hub dataset; in Python also a `datasets.Dataset` (or, as
            `train_files`, a `DatasetDict` with a 'train' split and optionally 'validation' / 'test').
            Without `valid_files` the dataset's validation (else test) split, or else the last
            `valid_fraction` of the training rows, is the validation split.
        text_column, label_column: the columns holding the text and (task clf) the class id
            (default: the data module's, `text` and `label`).
        class_names: task clf: label i is `class_names[i]` (ImdbDataModule: `neg`, `pos`); stored in
            the hyperparameters for inference (see `perceiver.data.inference`). None: the names of the
            label column where it is a `ClassLabel` (an in-memory dataset, a saved datasets directory,
            Parquet files written by `datasets`, or a Hub dataset whose metadata declares it), else the
            data module's own. Given names must be as many as the `ClassLabel`'s classes.
        add_special_tokens: let the tokenizer add its special tokens to each text.
        add_eos_token: append the tokenizer's eos (or sep) token to each text: before chunking (clm,
            mlm), or as the last token of each (truncated) example (clf).
        padding_side: `left` or `right`; default left for clm, right otherwise.
        random_train_shift, random_valid_shift: clm and mlm, random offsets of training (validation)
            sequences in each epoch.
        random_train_truncation, random_valid_truncation: clm and mlm, cut each training (validation)
            batch to a random length between `random_min_seq_len` and its full length.
        hub_path, hub_config, hub_revision: override the class's Hub dataset.
        mask_prob, mask_words, static_masking: mlm masking rate, whole word masking, and masking
            once at preprocessing time instead of per batch.

    `test_dataloader()` and `predict_dataloader()` serve the test split: `test_files`, or the
    dataset's 'test' split when it also has a validation split; otherwise (documented fallback) the
    validation split.
    """

    name: ClassVar[str] = "text"
    text_column: str = "text"
    label_column: str = "label"
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    # Hub dataset loaded when no local files are given (None: local files are required)
    default_hub_path: ClassVar[str | None] = None
    default_hub_config: ClassVar[str | None] = None
    default_hub_revision: ClassVar[str | None] = None

    def __init__(
        self,
        tokenizer: str = "deepmind/language-perceiver",
        max_seq_len: int = 512,
        task: Task = Task.mlm,
        dataset_dir: str | None = None,
        train_files: str | list[str] | None = None,
        valid_files: str | list[str] | None = None,
        valid_fraction: float = 0.05,
        add_special_tokens: bool = False,
        add_eos_token: bool = False,
        padding_side: Literal["left", "right"] | None = None,
        random_train_shift: bool = False,
        random_valid_shift: bool = False,
        random_train_truncation: bool = False,
        random_valid_truncation: bool = False,
        random_min_seq_len: int = 16,
        mask_prob: float = 0.15,
        mask_words: bool = True,
        static_masking: bool = False,
        batch_size: int = 64,
        valid_batch_size: int | None = None,
        num_workers: int = 2,
        pin_memory: bool = False,
        shuffle: bool = True,
        preproc_batch_size: int = 1000,
        preproc_workers: int | None = None,
        seed: int = 0,
        hub_path: str | None = None,
        hub_config: str | None = None,
        hub_revision: str | None = None,
        test_files: str | list[str] | None = None,
        text_column: str | None = None,
        label_column: str | None = None,
        class_names: list[str] | None = None,
    ):
        super().__init__()
        if task not in {t.value for t in Task}:
            raise ValueError(f"task ({task!r}) must be one of {[t.value for t in Task]}")
        task = Task(task)
        check_int("max_seq_len", max_seq_len, 2)
        check_loader_args(batch_size, num_workers)
        for name, value, minimum in (
            ("valid_batch_size", valid_batch_size, 1),
            ("preproc_batch_size", preproc_batch_size, 1),
            ("preproc_workers", preproc_workers, 0),
        ):
            if value is not None:
                check_int(name, value, minimum)
        if task == Task.mlm:
            check_probability("mask_prob", mask_prob)
        if padding_side not in (None, "left", "right"):
            raise ValueError(f"padding_side ({padding_side!r}) must be 'left' or 'right'")
        random_options = {
            "random_train_shift": random_train_shift,
            "random_valid_shift": random_valid_shift,
            "random_train_truncation": random_train_truncation,
            "random_valid_truncation": random_valid_truncation,
        }
        for option, value in random_options.items():
            if value and task == Task.clf:
                raise ValueError(f"{option} is supported for tasks clm and mlm, not {task}")
        if (
            random_train_truncation or random_valid_truncation
        ) and not 1 <= random_min_seq_len <= max_seq_len:
            raise ValueError(
                f"random_min_seq_len ({random_min_seq_len}) must be in [1, max_seq_len ({max_seq_len})]"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size ({batch_size}) must be positive")
        if train_files is None and (valid_files is not None or test_files is not None):
            raise ValueError("valid_files or test_files given without train_files")
        for name, value in (("text_column", text_column), ("label_column", label_column)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{name} ({value!r}) must be a column name")
        self.text_column = text_column or type(self).text_column
        self.label_column = label_column or type(self).label_column
        # a ClassLabel label column names the classes (explicit class_names win, with as many names)
        self._label_names = None
        if task == Task.clf and train_files is not None:
            self._label_names = class_label_names(train_files, self.label_column)
        elif task == Task.clf and class_names is None and type(self).class_names is None:
            hub = hub_path or self.default_hub_path  # the Hub dataset's metadata, where it has one
            if hub is not None:
                self._label_names = hub_class_label_names(
                    hub, hub_config or self.default_hub_config, hub_revision or self.default_hub_revision,
                    self.label_column,
                )  # fmt: skip
        if class_names is not None:
            class_names = check_class_names(class_names)
            if type(self).num_classes is not None and len(class_names) != type(self).num_classes:
                raise ValueError(
                    f"class_names ({class_names!r}) must name the {type(self).num_classes} classes "
                    f"of {type(self).__name__}"
                )
            if self._label_names is not None and len(class_names) != len(self._label_names):
                raise ValueError(
                    f"class_names ({class_names!r}) has {len(class_names)} names, but the "
                    f"{self.label_column!r} column of train_files is a ClassLabel of "
                    f"{len(self._label_names)} classes ({self._label_names!r})"
                )
        elif (
            self._label_names is not None
            and type(self).num_classes is not None
            and len(self._label_names) != type(self).num_classes
        ):
            raise ValueError(
                f"the {self.label_column!r} column of train_files is a ClassLabel of "
                f"{len(self._label_names)} classes ({self._label_names!r}), but {type(self).__name__} "
                f"has {type(self).num_classes} classes ({list(type(self).class_names or ())!r})"
            )
        names = class_names if class_names is not None else self._label_names
        if names is not None:
            self.class_names = tuple(names)
            self.num_classes = len(names)
        # in-memory datasets (Python API) in place of files: kept here, described in the hyperparameters
        self._sources = {"train": train_files, "valid": valid_files, "test": test_files}
        in_memory = [name for name, value in self._sources.items() if _in_memory(value)]
        if in_memory and not _in_memory(train_files):
            raise ValueError("in-memory datasets must be given as train_files too, not with files")
        self.save_hyperparameters(ignore=[f"{name}_files" for name in in_memory])
        for name in in_memory:
            self.hparams[f"{name}_files"] = _describe_in_memory(self._sources[name])
        if not isinstance(tokenizer, str):  # an instance: its name or path, plain data
            self.hparams.tokenizer = getattr(tokenizer, "name_or_path", None) or tokenizer_name(tokenizer)
        if class_names is None and self.class_names is not None:
            self.hparams.class_names = list(self.class_names)  # the module's own: recorded for inference
        make_plain(self.hparams)
        self.task = task
        self._tokenizer_key = tokenizer_name(tokenizer)
        self.tokenizer = load_tokenizer(tokenizer)
        if add_eos_token and self.eos_token_id is None:
            raise ValueError(
                f"add_eos_token: tokenizer {tokenizer_name(tokenizer)!r} has neither an eos nor a sep token"
            )
        self.padding_side = padding_side or ("left" if task == Task.clm else "right")
        self.tokenizer.padding_side = self.padding_side
        self.dataset_dir = Path(dataset_dir) if dataset_dir is not None else default_cache_dir(self.name)
        self.hub_path = hub_path or self.default_hub_path
        self.hub_config = hub_config or self.default_hub_config
        self.hub_revision = hub_revision or self.default_hub_revision
        self.ds_train: Any = None
        self.ds_valid: Any = None
        self.ds_test: Any = None

    def inference_spec(self) -> inference.InferenceSpec:
        """What inference needs, from the hyperparameters (see `perceiver.data.inference`)."""
        return inference.inference_spec(self.hparams, kind="text")

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def max_seq_len(self) -> int:
        return self.hparams.max_seq_len

    @property
    def eos_token_id(self) -> int | None:
        """The token `add_eos_token` appends: the tokenizer's eos token, or else its sep token."""
        eos = self.tokenizer.eos_token_id
        return eos if eos is not None else self.tokenizer.sep_token_id

    @property
    def batch_size(self) -> int:
        return self.hparams.batch_size

    @property
    def num_workers(self) -> int:
        return self.hparams.num_workers

    def text_preprocessor(self) -> TextPreprocessor:
        return TextPreprocessor(
            tokenizer=self.tokenizer,
            max_seq_len=self.max_seq_len,
            add_special_tokens=self.hparams.add_special_tokens,
            padding_side=self.padding_side,
        )

    # ------------------------------------------------------------------ sources (overridden by subclasses)

    def load_hub_dataset(self) -> Any:
        """The Hub dataset (a `DatasetDict`)."""
        if self.hub_path is None:
            raise ValueError(f"{type(self).__name__} has no Hub default: pass train_files (and valid_files)")
        import datasets

        return datasets.load_dataset(self.hub_path, self.hub_config, revision=self.hub_revision)

    def hub_spec(self) -> dict[str, Any]:
        """What identifies the Hub dataset in the cache key."""
        return {"path": self.hub_path, "config": self.hub_config, "revision": self.hub_revision}

    def _load_split(self, files: Any) -> Any:
        return files if _in_memory(files) else load_local_dataset(files, self.text_column)

    def load_source_dataset(self) -> Any:
        """The raw dataset as a `DatasetDict` with splits 'train' and 'valid', and 'test' where the
        data has a test split of its own."""
        hp = self.hparams
        sources = self._sources
        if sources["train"] is not None:
            dataset = self._load_split(sources["train"])
            extra = {split: sources[split] for split in ("valid", "test") if sources[split] is not None}
            if extra:
                import datasets

                if isinstance(dataset, datasets.DatasetDict):
                    raise ValueError(
                        f"train_files holds the splits {list(dataset)}: give valid_files and test_files "
                        "only with a single training split"
                    )
                dataset = datasets.DatasetDict(
                    {"train": dataset, **{split: self._load_split(f) for split, f in extra.items()}}
                )
        else:
            dataset = self.load_hub_dataset()
        dataset = normalize_splits(dataset, hp.valid_fraction, hp.seed)
        for split, ds in dataset.items():
            if self.text_column not in ds.column_names:
                raise ValueError(f"{split} split has no {self.text_column!r} column, only {ds.column_names}")
            if self.task == Task.clf and self.label_column not in ds.column_names:
                raise ValueError(f"{split} split has no {self.label_column!r} column for task clf")
        return dataset

    def source_spec(self) -> dict[str, Any]:
        if self._sources["train"] is None:
            return {"hub": self.hub_spec()}
        spec = {}
        for split, files in self._sources.items():
            if _in_memory(files):
                spec[f"{split}_files"] = _fingerprint_in_memory(files)
            else:
                files = [] if files is None else files
                files = [files] if isinstance(files, str | os.PathLike) else files
                spec[f"{split}_files"] = files_fingerprint(files)
        return spec

    def cache_spec(self) -> dict[str, Any]:
        hp = self.hparams
        spec = {
            "data_module": type(self).__name__,
            "source": self.source_spec(),
            "tokenizer": self._tokenizer_key,
            "text_column": self.text_column,
            "label_column": self.label_column if self.task == Task.clf else None,
            "vocab_size": self.vocab_size,
            "max_seq_len": hp.max_seq_len,
            "task": self.task.value,
            "add_special_tokens": hp.add_special_tokens,
            "add_eos_token": hp.add_eos_token,
            "valid_fraction": hp.valid_fraction if hp.valid_files is None else None,
        }
        if self.task == Task.mlm:
            spec.update(mask_words=hp.mask_words, static_masking=hp.static_masking)
            if hp.static_masking:
                spec.update(mask_prob=hp.mask_prob, seed=hp.seed)
        return spec

    # ------------------------------------------------------------------ preprocessing

    @property
    def chunk_len(self) -> int:
        return self.max_seq_len + 1 if self.task == Task.clm else self.max_seq_len

    def _word_ids(self, encoding: Any, index: int, ids: list[int]) -> list[int]:
        if getattr(self.tokenizer, "is_fast", False):
            return [-1 if w is None else w for w in encoding.word_ids(index)]
        # slow tokenizers (the UTF-8 bytes tokenizer): a word is a run of non-whitespace tokens
        special = set(self.tokenizer.all_special_ids)
        tokens = self.tokenizer.convert_ids_to_tokens(ids)
        result, word, in_word = [], -1, False
        for token_id, token in zip(ids, tokens):
            if token_id in special or token.isspace():
                result.append(-1)
                in_word = False
            else:
                if not in_word:
                    word += 1
                    in_word = True
                result.append(word)
        return result

    def _flat_tokens(self, batch: dict[str, list]) -> dict[str, list[int]]:
        """Tokenizes a batch of texts into one token stream (and its word ids for whole word masking)."""
        hp = self.hparams
        with_words = self.task == Task.mlm and hp.mask_words
        encoding = self.tokenizer(
            batch[self.text_column],
            add_special_tokens=hp.add_special_tokens,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        eos = self.eos_token_id
        all_ids: list[int] = []
        all_words: list[int] = []
        word_offset = 0
        for i, ids in enumerate(encoding["input_ids"]):
            ids = list(ids) + ([eos] if hp.add_eos_token else [])
            all_ids.extend(ids)
            if with_words:
                words = self._word_ids(encoding, i, ids)
                words += [-1] * (len(ids) - len(words))
                all_words.extend(w + word_offset if w >= 0 else -1 for w in words)
                word_offset = max(all_words, default=-1) + 1
        return {"input_ids": all_ids, "word_ids": all_words} if with_words else {"input_ids": all_ids}

    def _tokenize_and_chunk(self, batch: dict[str, list]) -> dict[str, list]:
        tokens = self._flat_tokens(batch)
        n = self.chunk_len
        num_chunks = len(tokens["input_ids"]) // n  # the remainder of each preprocessing batch is dropped
        return {
            key: [values[i * n : (i + 1) * n] for i in range(num_chunks)] for key, values in tokens.items()
        }

    def _split_source(self, split: str) -> str:
        hp = self.hparams
        files = {"train": hp.train_files, "valid": hp.valid_files, "test": hp.test_files}[split]
        if files is None and hp.train_files is not None:
            files = hp.train_files  # validation rows split off the training files
        if files is None:
            return f"{split} split of {self.hub_path}"
        return (
            f"{split} split ({files if isinstance(files, str | os.PathLike) else ', '.join(map(str, files))})"
        )

    def _check_source(self, dataset: Any) -> None:
        """Refuses a raw dataset whose text column is not text (or holds nulls), or, for task clf, whose
        labels are not integer class ids in [0, num_classes): a ValueError names the split, row and value."""
        for split, ds in dataset.items():
            feature = ds.features.get(self.text_column)
            if getattr(feature, "dtype", None) not in ("string", "large_string"):
                raise ValueError(
                    f"{self._split_source(split)}: column {self.text_column!r} must hold text, got {feature}"
                )
            nulls = ds.data.column(self.text_column).null_count
            if nulls:
                raise ValueError(
                    f"{self._split_source(split)}: column {self.text_column!r} has {nulls} missing (null) texts"
                )
            if self.task == Task.clf:
                num_classes = self.num_classes
                names = getattr(ds.features.get(self.label_column), "names", None)  # a ClassLabel feature
                if names is not None and num_classes is not None and len(names) != num_classes:
                    raise ValueError(
                        f"{self._split_source(split)}: column {self.label_column!r} is a ClassLabel of "
                        f"{len(names)} classes ({list(names)!r}), but the data module has {num_classes} "
                        f"classes ({list(self.class_names or ())!r})"
                    )
                if names is not None and self._label_names is not None and list(names) != self._label_names:
                    raise ValueError(
                        f"{self._split_source(split)}: column {self.label_column!r} names the classes "
                        f"{list(names)!r}, but the training split names them {self._label_names!r}"
                    )
                if num_classes is None and names is not None:
                    num_classes = len(names)
                for row, value in enumerate(ds[self.label_column]):
                    check_label(value, num_classes, f"{self._split_source(split)}, row {row}")

    def _tokenize_clf(self, batch: dict[str, list]) -> dict[str, list]:
        eos = self.hparams.add_eos_token
        encoding = self.tokenizer(
            batch[self.text_column],
            add_special_tokens=self.hparams.add_special_tokens,
            truncation=True,
            max_length=self.max_seq_len - 1 if eos else self.max_seq_len,  # the eos token always fits
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        input_ids = encoding["input_ids"]
        if eos:
            input_ids = [[*ids, self.eos_token_id] for ids in input_ids]
        return {
            "input_ids": input_ids,
            "label": [int(label) for label in batch[self.label_column]],
        }

    def _mask_statically(self, dataset: Any, split: str) -> Any:
        generator = torch.Generator().manual_seed(self.hparams.seed + (0 if split == "train" else 1))
        collator = self._masking_collator(generator)

        def mask(batch: dict[str, list]) -> dict[str, list]:
            examples = [dict(zip(batch, values)) for values in zip(*batch.values())]
            labels, input_ids, _ = collator(examples)
            return {"input_ids": input_ids.tolist(), "labels": labels.tolist()}

        return dataset.map(
            mask, batched=True, remove_columns=dataset.column_names, load_from_cache_file=False
        )

    def preprocess(self, dataset: Any) -> Any:
        """Tokenizes the raw `DatasetDict` (the expensive step, cached by `prepare_data`)."""
        import datasets

        hp = self.hparams
        num_proc = hp.preproc_workers if hp.preproc_workers and hp.preproc_workers > 1 else None
        self._check_source(dataset)
        result = {}
        for split, ds in dataset.items():
            if len(ds) == 0:
                raise ValueError(f"{split} split of {type(self).__name__} is empty")
            fn = self._tokenize_clf if self.task == Task.clf else self._tokenize_and_chunk
            tokenized = ds.map(
                fn,
                batched=True,
                batch_size=hp.preproc_batch_size,
                remove_columns=ds.column_names,
                num_proc=num_proc,
                load_from_cache_file=False,
                desc=f"tokenizing {split}",
            )
            if len(tokenized) == 0:
                raise ValueError(
                    f"max_seq_len ({hp.max_seq_len}) does not fit the {split} split of {type(self).__name__}: "
                    f"it tokenizes to fewer than {self.chunk_len} tokens per preprocessing batch of "
                    f"{hp.preproc_batch_size} rows; use a smaller max_seq_len or a larger preproc_batch_size"
                )
            if self.task == Task.mlm and hp.static_masking:
                tokenized = self._mask_statically(tokenized, split)
            result[split] = tokenized
        return datasets.DatasetDict(result)

    def preprocessed_dir(self) -> Path:
        """Directory of the (complete) preprocessed dataset, building it first if needed."""
        return load_or_build(
            self.dataset_dir, self.cache_spec(), lambda: self.preprocess(self.load_source_dataset())
        )

    def prepare_data(self) -> None:
        self.preprocessed_dir()

    def setup(self, stage: str | None = None) -> None:
        import datasets

        entry = self.preprocessed_dir()
        try:
            dataset = datasets.load_from_disk(str(entry / "data"))
        except Exception as e:  # complete when written: damaged or edited since
            raise ValueError(
                f"{entry}: the preprocessed data cannot be loaded ({type(e).__name__}: {e}); "
                "delete this directory to preprocess again"
            ) from e
        self.ds_train = dataset["train"]
        self.ds_valid = dataset["valid"]
        self.ds_test = dataset.get("test", self.ds_valid)
        if self.hparams.random_train_shift:
            self.ds_train = RandomShiftDataset(self.ds_train, self.chunk_len)
        if self.hparams.random_valid_shift:
            self.ds_valid = RandomShiftDataset(self.ds_valid, self.chunk_len)

    # ------------------------------------------------------------------ batches

    def _masking_collator(self, generator: torch.Generator | None = None) -> Any:
        cls = WordMaskingCollator if self.hparams.mask_words else TokenMaskingCollator
        return cls(self.tokenizer, self.hparams.mask_prob, self.padding_side, generator=generator)

    def collator(self, train: bool = True) -> Any:
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        if self.task == Task.clm:
            return CausalCollator(pad, self.padding_side)
        if self.task == Task.clf:
            return ClassificationCollator(pad, self.padding_side, self.num_classes)
        if self.hparams.static_masking:
            return DefaultCollator(pad, self.padding_side)
        return self._masking_collator()

    def _batch_collator(self, train: bool) -> Any:
        """`collator(train)`, wrapped in random truncation where configured."""
        hp = self.hparams
        if hp.random_train_truncation if train else hp.random_valid_truncation:
            return RandomTruncateCollator(self.collator(train), hp.random_min_seq_len)
        return self.collator(train)

    def _loader(self, dataset: Any, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before requesting a dataloader")
        hp = self.hparams
        return DataLoader(
            dataset,
            batch_size=hp.batch_size if train else (hp.valid_batch_size or hp.batch_size),
            shuffle=train and hp.shuffle,
            collate_fn=self._batch_collator(train),
            num_workers=hp.num_workers,
            pin_memory=hp.pin_memory,
            persistent_workers=hp.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.ds_train, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.ds_valid, train=False)

    def test_dataloader(self) -> DataLoader:
        """The test split, or the validation split where the data has no test split of its own."""
        return self._loader(self.ds_test, train=False)

    def predict_dataloader(self) -> DataLoader:
        """Batches of the test split (as `test_dataloader`), for `trainer.predict`."""
        return self._loader(self.ds_test, train=False)


def _in_memory(value: Any) -> bool:
    """A `datasets.Dataset` or `DatasetDict` (checked without importing datasets)."""
    return type(value).__module__.split(".")[0] == "datasets" and hasattr(value, "column_names")


def _fingerprint_in_memory(value: Any) -> Any:
    if isinstance(value, dict):  # DatasetDict
        return {split: ds._fingerprint for split, ds in value.items()}
    return value._fingerprint


def _describe_in_memory(value: Any) -> str:
    return f"<in-memory datasets.{type(value).__name__}: {_fingerprint_in_memory(value)}>"
