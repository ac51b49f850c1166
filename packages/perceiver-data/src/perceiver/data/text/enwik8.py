"""enwik8 (first 100 MB of an English Wikipedia XML dump) for byte-level language modelling.

The Hub repo `LTCB/enwik8` has a loading script that datasets 5 no longer runs, so its
auto-converted parquet branch (`refs/convert/parquet`) is loaded."""

from perceiver.data.text.common import Task, TextDataModule

__all__ = ["Enwik8DataModule", "Task"]


class Enwik8DataModule(TextDataModule):
    """enwik8 (first 100 MB of an English Wikipedia XML dump) for byte-level language modelling.

    The Hub repo `LTCB/enwik8` has a loading script that datasets 5 no longer runs, so its
    auto-converted parquet branch (`refs/convert/parquet`) is loaded.

        Pass `train_files`/`valid_files` to use local files instead of the Hub dataset.
    """

    name = "enwik8"
    default_hub_path = "LTCB/enwik8"
    default_hub_revision = "refs/convert/parquet"
