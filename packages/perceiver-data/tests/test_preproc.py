import subprocess
import sys

import pytest

from perceiver.data._cache import MARKER
from perceiver.data.preproc import preprocess_dataset


def test_cli_preprocesses_a_text_dataset_and_the_data_module_reuses_it(text_slices, tmp_path):
    cache = tmp_path / "cache"
    args = [
        "--tokenizer=deepmind/language-perceiver",
        "--max_seq_len=64",
        "--task=clm",
        f"--dataset_dir={cache}",
    ]
    args += [
        "--train_files",
        str(text_slices["wikitext_train"]),
        "--valid_files",
        str(text_slices["wikitext_valid"]),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "perceiver.data.preproc", "wikitext", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "preprocessed wikitext in" in result.stdout
    entries = [p for p in cache.iterdir() if (p / MARKER).exists()]
    assert len(entries) == 1
    path = preprocess_dataset(
        "wikitext",
        tokenizer="deepmind/language-perceiver",
        max_seq_len=64,
        task="clm",
        dataset_dir=str(cache),
        train_files=[str(text_slices["wikitext_train"])],
        valid_files=[str(text_slices["wikitext_valid"])],
    )
    assert path == entries[0]


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        preprocess_dataset("nope")
