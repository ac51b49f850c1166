"""English Wikipedia articles from the maintained parquet repo `wikimedia/wikipedia` (config `20231101.en`)."""

from perceiver.data.text.common import Task, TextDataModule

__all__ = ["Task", "WikipediaDataModule"]


class WikipediaDataModule(TextDataModule):
    """English Wikipedia articles from the maintained parquet repo `wikimedia/wikipedia` (config `20231101.en`).

    Pass `train_files`/`valid_files` to use local files instead of the Hub dataset.
    """

    name = "wikipedia"
    default_hub_path = "wikimedia/wikipedia"
    default_hub_config = "20231101.en"
