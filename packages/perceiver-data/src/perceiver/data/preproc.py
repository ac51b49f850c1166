"""Preprocess a dataset ahead of training, so that `trainer.fit` finds its cache ready.

    python -m perceiver.data.preproc wikitext --tokenizer=deepmind/language-perceiver --max_seq_len=4096 --task=clm
    python -m perceiver.data.preproc imdb --task=clf --max_seq_len=2048 --add_special_tokens=true \
        --train_files=train.jsonl --valid_files=test.jsonl
    python -m perceiver.data.preproc giantmidi --data_dir=/path/to/midi --max_seq_len=6144

Boolean options take `--flag=true/false` (as krasserm/perceiver-io's prep.sh scripts pass them) or a
bare `--flag` for true. `preprocess_dataset(name, **kwargs)` is the same as a function (used by
`perceiver.scripts.text.preproc`).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
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
# names krasserm/perceiver-io's preprocessing scripts used
ALIASES = {"giantmidi": "giantmidi-piano"}


def preprocess_dataset(name: str, **kwargs: Any) -> Path:
    """Builds (or finds) the preprocessed cache of dataset `name`; `kwargs` go to its data module.

    Returns the cache entry's directory. C4 is streamed and has nothing to preprocess.
    """
    name = ALIASES.get(name, name)
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    module, cls_name = DATASETS[name]
    with tqdm(total=2, desc=f"preprocessing {name}", unit="step") as progress:
        cls = getattr(importlib.import_module(module), cls_name)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        parameters = inspect.signature(cls).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            foreign = sorted(set(kwargs) - set(parameters))
            if foreign:
                raise ValueError(
                    f"option(s) {', '.join(foreign)} do not apply to dataset {name!r} ({cls_name})"
                )
        data_module = cls(**kwargs)
        progress.update()
        path = data_module.preprocessed_dir()
        progress.update()
    return path


def _bool(value: str) -> bool:
    text = value.strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m perceiver.data.preproc", description=__doc__.split("\n")[0]
    )
    parser.add_argument("dataset", choices=sorted([*DATASETS, *ALIASES]))
    parser.add_argument("--tokenizer", help="tokenizer name or path (text datasets)")
    parser.add_argument("--max_seq_len", type=int)
    parser.add_argument("--task", choices=["clm", "mlm", "clf"], help="text datasets")
    parser.add_argument("--dataset_dir", help="cache root of preprocessed data")
    parser.add_argument("--train_files", nargs="+", help="local training files (text datasets)")
    parser.add_argument("--valid_files", nargs="+", help="local validation files (text datasets)")
    parser.add_argument("--test_files", nargs="+", help="local test files (text datasets)")
    parser.add_argument("--text_column", help="column holding the text (text datasets; default text)")
    parser.add_argument("--label_column", help="column holding the class id (task clf; default label)")
    parser.add_argument("--data_dir", help="folder of MIDI files (MIDI datasets)")
    parser.add_argument("--dataset_uri", help="not supported (MIDI datasets are read from --data_dir)")
    parser.add_argument("--mask_prob", type=float, help="mlm masking rate (used with static masking)")
    parser.add_argument("--preproc_workers", type=int)
    parser.add_argument("--max_duration", type=float, help="longest accepted MIDI file, in seconds")
    flags = {
        "add_special_tokens": "let the tokenizer add its special tokens",
        "add_eos_token": "append an eos token to each text",
        "static_masking": "mask once, at preprocessing time (mlm)",
        "mask_words": "whole word masking (mlm)",
        "random_train_shift": "random offsets of training sequences (validated here, applied when training)",
        "include_drums": "tokenize drum tracks too (MIDI datasets)",
    }
    for flag, help_text in flags.items():
        parser.add_argument(f"--{flag}", type=_bool, nargs="?", const=True, default=None, help=help_text)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = vars(_parse_args(argv))
    name = args.pop("dataset")
    path = preprocess_dataset(name, **args)
    print(f"preprocessed {name} in {path}")


if __name__ == "__main__":
    main()
