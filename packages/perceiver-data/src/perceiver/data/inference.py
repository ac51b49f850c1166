"""What inference needs from a data module, as plain data: class names, the tokenizer and its settings,
the image preprocessing.

Every data module of perceiver-data keeps what inference needs in its hyperparameters (plain data,
written by Lightning into every checkpoint as ``checkpoint["datamodule_hyper_parameters"]``): class
names, the tokenizer name, ``max_seq_len``, the padding side, the image settings. `inference_spec`
turns them into an :class:`InferenceSpec` without loading the dataset::

    spec = inference_spec(checkpoint["datamodule_hyper_parameters"])
    spec.id2label()            # {0: "neg", 1: "pos"}, or None
    spec.load_tokenizer()      # the training tokenizer: padding side, model_max_length = max_seq_len
    spec.image_preprocessor()  # an ImagePreprocessor equal to the training preprocessing
    spec.image                 # the same as a plain dict (channels, size, crop, mean, std)

This module imports neither Lightning nor datasets (transformers only in ``load_tokenizer``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from perceiver.data.audio.midi import MidiProcessor
    from perceiver.data.vision.image import ImagePreprocessor

__all__ = ["KINDS", "InferenceSpec", "inference_spec"]

KINDS = ("text", "midi", "image", "optical_flow", "multimodal")


@dataclass(frozen=True)
class InferenceSpec:
    """Plain-data description of a data module's preprocessing, for inference.

    Attributes:
        kind: one of `KINDS`.
        class_names: label i is `class_names[i]`; None where the data module has no labels or does
            not know their names (then `id2label()` is None).
        tokenizer: text: the tokenizer's name, Hub id or local directory.
        max_seq_len: text and MIDI: the longest input in tokens.
        padding_side: text and MIDI: `left` or `right`, as in training.
        add_special_tokens: text: whether the tokenizer added its special tokens in training.
        task: text: `mlm`, `clm` or `clf`.
        image: images: `num_channels`, `size` (shorter side resized to it, or None), `crop_size`
            ((h, w) center crop, or None), `mean`, `std` (per channel, or None), `channels_last`;
            optical flow: `num_channels`, `patch_size`, `channel_order`, `value_range`, `crop_shape`;
            multimodal: `num_frames`, `image_shape`, `audio_samples_per_frame`.
        midi: MIDI: `vocab_size`, `pad_token_id`, `include_drums`, `max_duration`.
    """

    kind: str
    class_names: tuple[str, ...] | None = None
    tokenizer: str | None = None
    max_seq_len: int | None = None
    padding_side: str | None = None
    add_special_tokens: bool | None = None
    task: str | None = None
    image: Mapping[str, Any] | None = None
    midi: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind ({self.kind!r}) must be one of {list(KINDS)}")
        if self.class_names is not None:
            names = self.class_names
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"class_names ({names!r}) must be a list of strings")
            object.__setattr__(self, "class_names", tuple(names))
        if self.padding_side not in (None, "left", "right"):
            raise ValueError(f"padding_side ({self.padding_side!r}) must be 'left' or 'right'")

    # ------------------------------------------------------------------ plain data

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, dicts, str, numbers), as stored in the hyperparameters."""
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InferenceSpec:
        if not isinstance(data, Mapping):
            raise ValueError(f"an inference spec must be a dict, got {type(data).__name__}")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"inference spec has unknown fields {unknown}")
        return cls(**data)

    # ------------------------------------------------------------------ what inference builds from it

    def id2label(self) -> dict[int, str] | None:
        """`{i: class_names[i]}`, or None without class names."""
        return None if self.class_names is None else dict(enumerate(self.class_names))

    def label2id(self) -> dict[str, int] | None:
        return None if self.class_names is None else {n: i for i, n in enumerate(self.class_names)}

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


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# data module family -> hyperparameters that only its data modules have (their __init__ arguments)
_SIGNATURES = {
    "text": {"tokenizer", "task", "max_seq_len"},
    "midi": {"include_drums", "max_duration", "max_seq_len"},
    "mnist": {"hub_path", "valid_size", "normalize", "channels_last"},
    "image_folder": {"image_size", "crop_fraction", "train_dir", "valid_dir"},
    "optical_flow": {"layout", "sintel_pass", "crop_shape", "root"},
    "multimodal": {"num_frames", "image_shape", "audio_samples_per_frame", "num_classes"},
}


def _text(hp: Mapping[str, Any]) -> InferenceSpec:
    task = str(hp["task"])
    padding_side = hp.get("padding_side") or ("left" if task == "clm" else "right")  # as TextDataModule
    class_names = hp.get("class_names") if task == "clf" else None
    return InferenceSpec(
        kind="text",
        class_names=class_names,
        tokenizer=hp["tokenizer"],
        max_seq_len=hp["max_seq_len"],
        padding_side=padding_side,
        add_special_tokens=bool(hp.get("add_special_tokens", False)),
        task=task,
    )


def _midi(hp: Mapping[str, Any]) -> InferenceSpec:
    from perceiver.data.audio.midi import PAD_TOKEN_ID, VOCAB_SIZE  # no pretty-midi needed for these

    return InferenceSpec(
        kind="midi",
        max_seq_len=hp["max_seq_len"],
        padding_side=hp.get("padding_side", "left"),
        midi={
            "vocab_size": VOCAB_SIZE,
            "pad_token_id": PAD_TOKEN_ID,
            "include_drums": hp["include_drums"],
            "max_duration": hp["max_duration"],
        },
    )


def _mnist(hp: Mapping[str, Any]) -> InferenceSpec:
    from perceiver.data.vision.image import MNIST_MEAN, MNIST_STD

    normalize = hp.get("normalize", True)
    return InferenceSpec(
        kind="image",
        class_names=tuple(str(i) for i in range(10)),
        image={
            "num_channels": 1,
            "size": 28,
            "crop_size": [28, 28],
            "mean": [MNIST_MEAN] if normalize else None,
            "std": [MNIST_STD] if normalize else None,
            "channels_last": hp["channels_last"],
        },
    )


def _image_folder(hp: Mapping[str, Any]) -> InferenceSpec:
    from perceiver.data.vision.image import IMAGENET_MEAN, IMAGENET_STD

    size = hp["image_size"]
    return InferenceSpec(
        kind="image",
        class_names=hp.get("class_names"),  # None until given or read from the training folder
        image={
            "num_channels": 3,
            "size": round(size / hp["crop_fraction"]),  # as ImageNetDataModule.image_preprocessor
            "crop_size": [size, size],
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "channels_last": hp["channels_last"],
        },
    )


def _optical_flow(hp: Mapping[str, Any]) -> InferenceSpec:
    crop = hp.get("crop_shape")
    return InferenceSpec(
        kind="optical_flow",
        image={
            "num_channels": 3,
            "patch_size": 3,
            "channel_order": "hwc",
            "value_range": [-1.0, 1.0],
            "crop_shape": None if crop is None else list(crop),
        },
    )


def _multimodal(hp: Mapping[str, Any]) -> InferenceSpec:
    return InferenceSpec(
        kind="multimodal",
        image={
            "num_channels": 3,
            "num_frames": hp["num_frames"],
            "image_shape": list(hp["image_shape"]),
            "audio_samples_per_frame": hp["audio_samples_per_frame"],
            "value_range": [0.0, 1.0],
        },
    )


_BUILDERS = {
    "text": _text,
    "midi": _midi,
    "mnist": _mnist,
    "image_folder": _image_folder,
    "optical_flow": _optical_flow,
    "multimodal": _multimodal,
}


def inference_spec(hparams: Mapping[str, Any], kind: str | None = None) -> InferenceSpec:
    """The :class:`InferenceSpec` of a data module from its saved hyperparameters (a data module's
    `hparams`, or a checkpoint's `datamodule_hyper_parameters`), without loading the dataset.

    Args:
        kind: the data module family (`text`, `midi`, `mnist`, `image_folder`, `optical_flow`,
            `multimodal`); by default recognized from the hyperparameters' names.

    Raises:
        ValueError: `hparams` are not those of a perceiver-data data module (or match several).
    """
    if not isinstance(hparams, Mapping):
        raise ValueError(f"hparams must be a mapping, got {type(hparams).__name__}")
    if kind is None:
        matches = [name for name, keys in _SIGNATURES.items() if keys <= set(hparams)]
        if len(matches) != 1:
            raise ValueError(
                f"hparams with keys {sorted(hparams)} are not those of one perceiver-data data module "
                f"({'none' if not matches else ', '.join(matches)} match); pass kind= one of {list(_BUILDERS)}"
            )
        kind = matches[0]
    elif kind not in _BUILDERS:
        raise ValueError(f"kind ({kind!r}) must be one of {list(_BUILDERS)}")
    missing = sorted(_SIGNATURES[kind] - set(hparams))
    if missing:
        raise ValueError(f"hparams lack {missing}, which {kind} data modules save")
    return _BUILDERS[kind](hparams)
