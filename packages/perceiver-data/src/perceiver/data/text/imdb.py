"""IMDb movie reviews (Hub `stanfordnlp/imdb`): sentiment classification (task clf, labels 0/1)
or masked language modelling. The Hub `test` split is the validation split."""

from perceiver.data.text.common import Task, TextDataModule

__all__ = ["ImdbDataModule", "Task"]


class ImdbDataModule(TextDataModule):
    """IMDb movie reviews (Hub `stanfordnlp/imdb`): sentiment classification (task clf, labels 0/1)
    or masked language modelling. The Hub `test` split is the validation split.

        Pass `train_files`/`valid_files` to use local files instead of the Hub dataset.
    """

    name = "imdb"
    default_hub_path = "stanfordnlp/imdb"
    num_classes = 2
    class_names = ("neg", "pos")  # the label names of the Hub dataset's ClassLabel
