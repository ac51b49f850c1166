"""A text classification data module of named classes, as users write one for their own data."""

from __future__ import annotations

from typing import Any

from perceiver.data.text import TextDataModule


class LabeledTextDataModule(TextDataModule):
    """Local text files (jsonl with "text" and "label") of ``len(class_names)`` classes; label i is
    ``class_names[i]``. The names are a hyperparameter, so that checkpoints record them."""

    name = "labeled-text"

    def __init__(self, class_names: list[str], **kwargs: Any):
        # the other arguments are TextDataModule's (the CLI reads them from its signature)
        super().__init__(task="clf", **kwargs)

    @property
    def num_classes(self) -> int:
        return len(self.hparams.class_names)
