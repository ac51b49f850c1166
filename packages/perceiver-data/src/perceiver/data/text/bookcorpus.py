"""BookCorpus (one row per sentence).

The Hub repo `bookcorpus/bookcorpus` has a loading script that datasets 5 no longer runs, so its
auto-converted parquet branch (`refs/convert/parquet`) is loaded."""

from perceiver.data.text.common import Task, TextDataModule

__all__ = ["BookCorpusDataModule", "Task"]


class BookCorpusDataModule(TextDataModule):
    """BookCorpus (one row per sentence).

    The Hub repo `bookcorpus/bookcorpus` has a loading script that datasets 5 no longer runs, so its
    auto-converted parquet branch (`refs/convert/parquet`) is loaded.

        Pass `train_files`/`valid_files` to use local files instead of the Hub dataset.
    """

    name = "bookcorpus"
    default_hub_path = "bookcorpus/bookcorpus"
    default_hub_revision = "refs/convert/parquet"
