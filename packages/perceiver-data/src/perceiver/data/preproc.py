"""Preprocess a dataset ahead of training, so that `trainer.fit` finds its cache ready.

    python -m perceiver.data.preproc wikitext --tokenizer=deepmind/language-perceiver --max_seq_len=4096 --task=clm
    python -m perceiver.data.preproc imdb --task=clf --max_seq_len=2048 --train_files=train.jsonl --valid_files=test.jsonl
    python -m perceiver.data.preproc midi --data_dir=/path/to/midi --max_seq_len=2048

`preprocess_dataset(name, **kwargs)` is the same as a function (used by `perceiver.scripts.text.preproc`).
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from tqdm import tqdm

__all__ = ["DATASETS", "preprocess_dataset"]

# name -> (module, class); imported lazily so that the text datasets need no audio extra
DATASETS = {
    "wikitext": ("perceiver.data.text.wikitext", "WikiTextDataModule"),
    "imdb": ("perceiver.data.text.imdb", "ImdbDataModule"),
    "enwik8": ("perceiver.data.text.enwik8", "Enwik8DataModule"),
    "bookcorpus": ("perceiver.data.text.bookcorpus", "BookCorpusDataModule"),
    "bookcorpusopen": ("perceiver.data.text.bookcorpusopen", "BookCorpusOpenDataModule"),
    "wikipedia": ("perceiver.data.text.wikipedia", "WikipediaDataModule"),
    "text": ("perceiver.data.text.common", "TextDataModule"),
    "midi": ("perceiver.data.audio.datamodule", "MidiDataModule"),
    "maestro-v3": ("perceiver.data.audio.datamodule", "MaestroV3DataModule"),
    "giantmidi-piano": ("perceiver.data.audio.datamodule", "GiantMidiPianoDataModule"),
}


def preprocess_dataset(name: str, **kwargs: Any) -> Path:
    """Builds (or finds) the preprocessed cache of dataset `name`; `kwargs` go to its data module.

    Returns the cache entry's directory. C4 is streamed and has nothing to preprocess.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    module, cls_name = DATASETS[name]
    with tqdm(total=2, desc=f"preprocessing {name}", unit="step") as progress:
        cls = getattr(importlib.import_module(module), cls_name)
        data_module = cls(**{k: v for k, v in kwargs.items() if v is not None})
        progress.update()
        path = data_module.preprocessed_dir()
        progress.update()
    return path


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m perceiver.data.preproc", description=__doc__.split("\n")[0]
    )
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--tokenizer", help="tokenizer name or path (text datasets)")
    parser.add_argument("--max_seq_len", type=int)
    parser.add_argument("--task", choices=["clm", "mlm", "clf"], help="text datasets")
    parser.add_argument("--dataset_dir", help="cache root of preprocessed data")
    parser.add_argument("--train_files", nargs="+", help="local training files (text datasets)")
    parser.add_argument("--valid_files", nargs="+", help="local validation files (text datasets)")
    parser.add_argument("--data_dir", help="folder of MIDI files (MIDI datasets)")
    parser.add_argument("--add_special_tokens", action="store_true", default=None)
    parser.add_argument("--static_masking", action="store_true", default=None)
    parser.add_argument("--preproc_workers", type=int)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = vars(_parse_args(argv))
    name = args.pop("dataset")
    path = preprocess_dataset(name, **args)
    print(f"preprocessed {name} in {path}")


if __name__ == "__main__":
    main()
