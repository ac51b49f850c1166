"""🤗 transformers wrappers, Auto-class registration and pipelines for perceiver-core models.

Importing this package registers every config and model with transformers' Auto classes and
every custom pipeline (``optical-flow``, ``multimodal-autoencoding``,
``symbolic-audio-generation``), so that ``AutoModelFor*.from_pretrained(...)`` and
``pipeline(task, model=...)`` work for saved models.
"""

from importlib.metadata import version as _version

from perceiver.hf import multimodal, tokenizer, vision
from perceiver.hf.audio import pipeline as audio_pipeline
from perceiver.hf.audio import symbolic
from perceiver.hf.text import classifier, clm, mlm
from perceiver.hf.tokenizer import load_tokenizer

__version__ = _version("perceiver-hf")  # the installed distribution's version, set in its pyproject.toml

__all__ = [
    "audio_pipeline",
    "classifier",
    "clm",
    "load_tokenizer",
    "mlm",
    "multimodal",
    "symbolic",
    "tokenizer",
    "vision",
]
