"""C4 (Colossal Clean Crawled Corpus), streamed: nothing is downloaded or cached ahead of training.

Streams are sharded across nodes with `datasets.distributed.split_dataset_by_node` and across the
dataloader workers of each node, so that no two processes see the same document.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from perceiver.data.text.common import Task, TextDataModule, _in_memory

__all__ = ["C4DataModule", "StreamingTextDataset", "Task"]


class StreamingTextDataset(IterableDataset):
    """Tokenizes a streamed text dataset on the fly and yields examples of `chunk_len` tokens."""

    def __init__(
        self,
        dataset: Any,
        data_module: TextDataModule,
        rank: int,
        world_size: int,
        split: str = "train",
        min_seq_len: int | None = None,
    ):
        self.split = split
        self.dataset = dataset
        self.data_module = data_module
        self.rank = rank
        self.world_size = world_size
        self.min_seq_len = min_seq_len

    def _documents(self) -> Iterator[dict[str, Any]]:
        from datasets.distributed import split_dataset_by_node

        dataset = split_dataset_by_node(self.dataset, rank=self.rank, world_size=self.world_size)
        worker = get_worker_info()
        if worker is None or worker.num_workers == 1:
            return iter(dataset)
        if dataset.num_shards >= worker.num_workers and dataset.num_shards % worker.num_workers == 0:
            return iter(dataset.shard(num_shards=worker.num_workers, index=worker.id))
        return itertools.islice(iter(dataset), worker.id, None, worker.num_workers)

    def _checked_documents(self) -> Iterator[dict[str, Any]]:
        source = self.data_module.stream_source(self.split)
        documents = self._documents()
        while True:
            try:
                document = next(documents)
            except StopIteration:
                return
            except Exception as e:  # a malformed file surfaces only when the stream reaches it
                raise ValueError(f"{source}: cannot read the stream ({type(e).__name__}: {e})") from e
            text = document.get(self.data_module.text_column)
            if not isinstance(text, str):
                raise ValueError(
                    f"{source}: a document's {self.data_module.text_column!r} is {type(text).__name__}, not text"
                )
            yield document

    def __iter__(self) -> Iterator[dict[str, list[int]]]:
        dm = self.data_module
        text_column = dm.text_column
        batch: list[str] = []
        buffer: dict[str, list[int]] = {}
        for document in itertools.chain(self._checked_documents(), [None]):
            if document is not None:
                batch.append(document[text_column])
                if len(batch) < 16:
                    continue
            if not batch:
                break
            chunks = dm._tokenize_and_chunk_stream({text_column: batch}, buffer, self.min_seq_len)
            batch = []
            for i in range(len(chunks["input_ids"])):
                yield {key: values[i] for key, values in chunks.items()}


class C4DataModule(TextDataModule):
    """C4 (Hub `allenai/c4`, config `en`), streamed. Tasks clm and mlm.

    Local `train_files`/`valid_files` (jsonl, json.gz, txt or parquet) are streamed the same way.
    `test_dataloader` and `predict_dataloader` stream the validation split (C4 has no test split).

    Args:
        add_eos_token: end each document with the tokenizer's eos token (default True, as
            krasserm/perceiver-io's C4DataModule always did).
        min_seq_len: if set, training examples hold n (+ 1 for clm) consecutive tokens of the stream,
            n drawn uniformly from [min_seq_len, max_seq_len] for each example (validation examples
            keep max_seq_len), as krasserm/perceiver-io's C4DataModule did.
        num_train_workers, num_valid_workers: dataloader workers of the training (validation) stream;
            default `num_workers`.
        (other arguments: see `TextDataModule`)
    """

    name = "c4"
    default_hub_path = "allenai/c4"
    default_hub_config = "en"

    def __init__(
        self,
        *args: Any,
        add_eos_token: bool = True,
        min_seq_len: int | None = None,
        num_train_workers: int | None = None,
        num_valid_workers: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, add_eos_token=add_eos_token, **kwargs)
        if self.task == Task.clf:
            raise ValueError("C4DataModule supports tasks clm and mlm, not clf")
        for option in ("random_train_shift", "random_valid_shift"):
            if self.hparams[option]:
                raise ValueError(f"{option} is not supported for streamed data")
        if any(_in_memory(files) for files in self._sources.values()):
            raise ValueError("C4DataModule streams files or the Hub dataset: pass file paths, not datasets")
        if self.hparams.test_files is not None:
            raise ValueError(
                "test_files is not supported for streamed data (tests use the validation stream)"
            )
        if min_seq_len is not None and not 0 < min_seq_len < self.max_seq_len:
            raise ValueError(f"min_seq_len ({min_seq_len}) must be in (0, max_seq_len ({self.max_seq_len}))")
        for option, value in (
            ("num_train_workers", num_train_workers),
            ("num_valid_workers", num_valid_workers),
        ):
            if value is not None and value < 0:
                raise ValueError(f"{option} ({value}) must be >= 0")
        self.min_seq_len = min_seq_len
        self.num_train_workers = num_train_workers
        self.num_valid_workers = num_valid_workers

    def _tokenize_and_chunk_stream(
        self, batch: dict[str, list], buffer: dict[str, list[int]], min_seq_len: int | None = None
    ) -> dict[str, list]:
        """Tokenizes and chunks a batch, carrying the remainder over to the next batch in `buffer`.
        With `min_seq_len`, each chunk's length is drawn anew (see the class docstring)."""
        for key, values in self._flat_tokens(batch).items():
            buffer[key] = buffer.get(key, []) + values
        extra = self.chunk_len - self.max_seq_len  # the clm label token
        result: dict[str, list] = {key: [] for key in buffer}
        start = 0
        while True:
            if min_seq_len is None:
                n = self.chunk_len
            else:
                n = int(torch.randint(min_seq_len, self.max_seq_len + 1, ()).item()) + extra
            if start + n > len(buffer["input_ids"]):
                break
            for key, values in buffer.items():
                result[key].append(values[start : start + n])
            start += n
        for key in list(buffer):
            buffer[key] = buffer[key][start:]
        return result

    def _split_stream(self, split: str) -> Any:
        import datasets

        hp = self.hparams
        files = hp.train_files if split == "train" else hp.valid_files
        if hp.train_files is not None:
            if files is None:
                raise ValueError("streamed data needs valid_files as well as train_files")
            files = [files] if isinstance(files, str | os.PathLike) else list(files)
            missing = [str(f) for f in files if not Path(f).is_file()]
            if missing:
                raise ValueError(f"{split} files not found: {', '.join(missing)}")
            suffix = "".join(Path(files[0]).suffixes[-2:]).lower()
            builder = "parquet" if suffix.endswith(".parquet") else "json" if ".json" in suffix else "text"
            return datasets.load_dataset(
                builder, data_files=[str(f) for f in files], split="train", streaming=True
            )
        hub_split = "train" if split == "train" else "validation"
        return datasets.load_dataset(
            self.hub_path, self.hub_config, revision=self.hub_revision, split=hub_split, streaming=True
        )

    def _rank_and_world_size(self) -> tuple[int, int]:
        trainer = getattr(self, "_trainer", None)
        if trainer is not None:
            return trainer.global_rank, trainer.world_size
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))

    def stream_source(self, split: str) -> str:
        """What a split streams from, for error messages."""
        hp = self.hparams
        files = hp.train_files if split == "train" else hp.valid_files
        if files is None:
            return f"{self.hub_path} ({split})"
        return files if isinstance(files, str | os.PathLike) else ", ".join(map(str, files))

    def streaming_dataset(self, split: str, rank: int | None = None, world_size: int | None = None) -> Any:
        default_rank, default_world_size = self._rank_and_world_size()
        return StreamingTextDataset(
            self._split_stream(split),
            self,
            default_rank if rank is None else rank,
            default_world_size if world_size is None else world_size,
            split,
            min_seq_len=self.min_seq_len if split == "train" else None,
        )

    def prepare_data(self) -> None:
        pass  # streamed: nothing to prepare

    def setup(self, stage: str | None = None) -> None:
        self.ds_train = self.streaming_dataset("train")
        self.ds_valid = self.streaming_dataset("valid")
        self.ds_test = self.ds_valid  # C4 has no test split

    def _loader(self, dataset: Any, train: bool) -> DataLoader:
        hp = self.hparams
        workers = self.num_train_workers if train else self.num_valid_workers
        return DataLoader(
            dataset,
            batch_size=hp.batch_size if train else (hp.valid_batch_size or hp.batch_size),
            collate_fn=self._batch_collator(train),
            num_workers=hp.num_workers if workers is None else workers,
            pin_memory=hp.pin_memory,
            generator=torch.Generator().manual_seed(hp.seed),
        )
