"""Text data: tokenization (`TextPreprocessor`), collators and Lightning data modules."""

from perceiver.data.text.bookcorpus import BookCorpusDataModule
from perceiver.data.text.bookcorpusopen import BookCorpusOpenDataModule
from perceiver.data.text.c4 import C4DataModule
from perceiver.data.text.collator import (
    CausalCollator,
    ClassificationCollator,
    DefaultCollator,
    TokenMaskingCollator,
    WordMaskingCollator,
)
from perceiver.data.text.common import Task, TextDataModule
from perceiver.data.text.enwik8 import Enwik8DataModule
from perceiver.data.text.imdb import ImdbDataModule
from perceiver.data.text.preprocessor import TextPreprocessor
from perceiver.data.text.wikipedia import WikipediaDataModule
from perceiver.data.text.wikitext import WikiTextDataModule

__all__ = [
    "BookCorpusDataModule",
    "BookCorpusOpenDataModule",
    "C4DataModule",
    "CausalCollator",
    "ClassificationCollator",
    "DefaultCollator",
    "Enwik8DataModule",
    "ImdbDataModule",
    "Task",
    "TextDataModule",
    "TextPreprocessor",
    "TokenMaskingCollator",
    "WikiTextDataModule",
    "WikipediaDataModule",
    "WordMaskingCollator",
]
