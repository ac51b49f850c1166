"""What inference needs from a data module: class names, the tokenizer and its settings, the image
preprocessing.

Every data module of perceiver-data keeps what inference needs in its hyperparameters (plain data,
written by Lightning into every checkpoint as ``checkpoint["datamodule_hyper_parameters"]``).
perceiver-core's :mod:`perceiver.model.core.data_spec` reads them (perceiver-hf reads them there
too); this module adds what perceiver-data builds from them::

    spec = inference_spec(checkpoint["datamodule_hyper_parameters"])
    spec.id2label()            # {0: "neg", 1: "pos"}, or None
    spec.load_tokenizer()      # the training tokenizer: padding side, model_max_length = max_seq_len
    spec.image_preprocessor()  # an ImagePreprocessor equal to the training preprocessing
    spec.image                 # the same as a plain dict (channels, size, crop, mean, std)

This module imports neither Lightning nor datasets (transformers only in ``load_tokenizer``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from perceiver.model.core import data_spec
from perceiver.model.core.data_spec import KINDS

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from perceiver.data.audio.midi import MidiProcessor
    from perceiver.data.vision.image import ImagePreprocessor

__all__ = ["KINDS", "InferenceSpec", "inference_spec"]


class InferenceSpec(data_spec.InferenceSpec):
    """perceiver-core's :class:`perceiver.model.core.data_spec.InferenceSpec` (the same plain data)
    with the tokenizer, MIDI processor and image preprocessor of training built from it."""

    @classmethod
    def from_core(cls, spec: data_spec.InferenceSpec) -> InferenceSpec:
        return cls(**{f.name: getattr(spec, f.name) for f in fields(spec)})

    def load_tokenizer(self) -> PreTrainedTokenizerBase:
        """The tokenizer of training, with its padding side and `model_max_length = max_seq_len`."""
        if self.kind != "text" or self.tokenizer is None:
            raise ValueError(f"a {self.kind} data module has no tokenizer")
        from perceiver.data.text._tokenizer import load_tokenizer

        tokenizer = load_tokenizer(self.tokenizer)
        if self.padding_side is not None:
            tokenizer.padding_side = self.padding_side
        if self.max_seq_len is not None:
            tokenizer.model_max_length = self.max_seq_len
        return tokenizer

    def midi_processor(self) -> MidiProcessor:
        """The MIDI tokenization of training (needs the `audio` extra)."""
        if self.kind != "midi" or self.midi is None:
            raise ValueError(f"a {self.kind} data module has no MIDI processor")
        from perceiver.data.audio.midi import MidiProcessor

        return MidiProcessor(self.midi["include_drums"], self.midi["max_duration"])

    def image_preprocessor(self) -> ImagePreprocessor:
        """The image preprocessing of training (kind `image`)."""
        if self.kind != "image" or self.image is None:
            raise ValueError(f"a {self.kind} data module has no image preprocessing")
        from perceiver.data.vision.image import ImagePreprocessor

        image = self.image
        crop = image.get("crop_size")
        return ImagePreprocessor(
            size=image.get("size"),
            crop_size=tuple(crop) if crop is not None else None,
            mean=image.get("mean"),
            std=image.get("std"),
            channels_last=bool(image.get("channels_last", False)),
        )


def inference_spec(hparams: Mapping[str, Any], kind: str | None = None) -> InferenceSpec:
    """The :class:`InferenceSpec` of a data module from its saved hyperparameters (a data module's
    `hparams`, or a checkpoint's `datamodule_hyper_parameters`), without loading the dataset; read
    by :func:`perceiver.model.core.data_spec.inference_spec`, whose arguments and errors it has."""
    return InferenceSpec.from_core(data_spec.inference_spec(hparams, kind))
