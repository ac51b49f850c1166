"""BookCorpusOpen (one row per book), from the maintained parquet repo `lucadiliello/bookcorpusopen`."""

from perceiver.data.text.common import Task, TextDataModule

__all__ = ["BookCorpusOpenDataModule", "Task"]


class BookCorpusOpenDataModule(TextDataModule):
    """BookCorpusOpen (one row per book), from the maintained parquet repo `lucadiliello/bookcorpusopen`.

    Pass `train_files`/`valid_files` to use local files instead of the Hub dataset.
    """

    name = "bookcorpusopen"
    default_hub_path = "lucadiliello/bookcorpusopen"
