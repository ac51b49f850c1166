"""WikiText language modelling data: Hub `Salesforce/wikitext`, config `wikitext-103-raw-v1` by default."""

from perceiver.data.text.common import Task, TextDataModule

__all__ = ["Task", "WikiTextDataModule"]


class WikiTextDataModule(TextDataModule):
    """WikiText language modelling data: Hub `Salesforce/wikitext`, config `wikitext-103-raw-v1` by default.

    Pass `train_files`/`valid_files` to use local files instead of the Hub dataset.
    """

    name = "wikitext"
    default_hub_path = "Salesforce/wikitext"
    default_hub_config = "wikitext-103-raw-v1"
