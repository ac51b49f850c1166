"""What a checkpoint records about the data a model was trained with, read as plain data.

Every data module of perceiver-data keeps what inference needs in its hyperparameters, which
Lightning writes into every checkpoint under :data:`DATA_HPARAMS_KEY`: class names, the tokenizer
name, ``max_seq_len``, the padding side, the image settings. This module is the one reader of
them, shared by perceiver-data (``perceiver.data.inference_spec``, which adds the tokenizer, image
preprocessor and MIDI processor built from an :class:`InferenceSpec`) and perceiver-hf (which
converts checkpoints with the class names, tokenizer settings and image processor of training).
It needs neither package::

    spec = inference_spec(checkpoint[DATA_HPARAMS_KEY])
    spec.id2label()  # {0: "neg", 1: "pos"}, or None
    spec.image       # channels, input size, resize, crop, mean, std (images)

It also owns the constants of perceiver-data's preprocessing that a spec records: the image
normalization of the MNIST and ImageNet data modules and the MIDI vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "DATA_HPARAMS_KEY",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KINDS",
    "MIDI_PAD_TOKEN_ID",
    "MIDI_VOCAB_SIZE",
    "MNIST_MEAN",
    "MNIST_STD",
    "InferenceSpec",
    "inference_spec",
    "recorded_class_names",
    "text_settings",
]

# key of the data module's hyperparameters in a Lightning checkpoint
DATA_HPARAMS_KEY = "datamodule_hyper_parameters"

# per-channel normalization of perceiver-data's image data modules (after scaling to [0, 1])
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081

# perceiver-data's MIDI tokenization: 388 event tokens (note on/off, time shift, velocity) and padding
MIDI_PAD_TOKEN_ID = 388
MIDI_VOCAB_SIZE = 389

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
        image: images: `num_channels`, `image_size` ((h, w) of the model input), `size` (shorter
            side resized to it, or None), `crop_size` ((h, w) center crop, or None), `mean`, `std`
            (per channel, or None), `channels_last`; optical flow: `num_channels`, `patch_size`,
            `channel_order`, `value_range`, `crop_shape`; multimodal: `num_frames`, `image_shape`,
            `audio_samples_per_frame`.
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
        if self.add_special_tokens not in (None, True, False):
            raise ValueError(f"add_special_tokens ({self.add_special_tokens!r}) must be True or False")

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

    def id2label(self) -> dict[int, str] | None:
        """`{i: class_names[i]}`, or None without class names."""
        return None if self.class_names is None else dict(enumerate(self.class_names))

    def label2id(self) -> dict[str, int] | None:
        return None if self.class_names is None else {n: i for i, n in enumerate(self.class_names)}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def recorded_class_names(hparams: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The ``class_names`` hyperparameter (names or integer labels, as strings), or None.

    Raises:
        ValueError: it is not a list of names.
    """
    names = hparams.get("class_names")
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(f"the data module's class_names ({names!r}) is not a list of names")
    if not all(isinstance(n, str | int) and not isinstance(n, bool) for n in names):
        raise ValueError(f"the data module's class_names ({names!r}) is not a list of names")
    return tuple(str(n) for n in names)


def text_settings(hparams: Mapping[str, Any], causal: bool) -> tuple[bool, str]:
    """``(add_special_tokens, padding_side)`` of a text data module's tokenization: the recorded
    values, else the defaults of perceiver-data's text data modules (no special tokens; left
    padding for a causal language model, right otherwise).

    Raises:
        ValueError: a recorded value is not one of those allowed.
    """
    add_special_tokens = hparams.get("add_special_tokens", False)
    if not isinstance(add_special_tokens, bool):
        raise ValueError(
            f"the data module's add_special_tokens ({add_special_tokens!r}) is not True or False"
        )
    padding_side = hparams.get("padding_side") or ("left" if causal else "right")
    if padding_side not in ("left", "right"):
        raise ValueError(f"the data module's padding_side ({padding_side!r}) must be 'left' or 'right'")
    return add_special_tokens, padding_side


# data module family -> hyperparameters that recognize it (the builder reads them; others have defaults)
_SIGNATURES = {
    "text": {"tokenizer", "task", "max_seq_len"},
    "midi": {"include_drums", "max_duration", "max_seq_len"},
    "mnist": {"normalize", "channels_last"},
    "image_folder": {"image_size", "crop_fraction"},
    "optical_flow": {"layout", "sintel_pass", "crop_shape", "root"},
    "multimodal": {"num_frames", "image_shape", "audio_samples_per_frame", "num_classes"},
}


def _text(hp: Mapping[str, Any]) -> InferenceSpec:
    task = str(hp["task"])
    add_special_tokens, padding_side = text_settings(hp, causal=task == "clm")
    return InferenceSpec(
        kind="text",
        class_names=recorded_class_names(hp) if task == "clf" else None,
        tokenizer=hp["tokenizer"],
        max_seq_len=hp["max_seq_len"],
        padding_side=padding_side,
        add_special_tokens=add_special_tokens,
        task=task,
    )


def _midi(hp: Mapping[str, Any]) -> InferenceSpec:
    return InferenceSpec(
        kind="midi",
        max_seq_len=hp["max_seq_len"],
        padding_side=hp.get("padding_side", "left"),
        midi={
            "vocab_size": MIDI_VOCAB_SIZE,
            "pad_token_id": MIDI_PAD_TOKEN_ID,
            "include_drums": hp["include_drums"],
            "max_duration": hp["max_duration"],
        },
    )


def _mnist(hp: Mapping[str, Any]) -> InferenceSpec:
    normalize = hp["normalize"]
    return InferenceSpec(
        kind="image",
        class_names=tuple(str(i) for i in range(10)),  # label i is the digit i
        image={
            "num_channels": 1,
            "image_size": [28, 28],  # MNIST's images, neither resized nor cropped
            "size": None,
            "crop_size": None,
            "mean": [MNIST_MEAN] if normalize else None,
            "std": [MNIST_STD] if normalize else None,
            "channels_last": hp["channels_last"],
        },
    )


def _image_folder(hp: Mapping[str, Any]) -> InferenceSpec:
    size = hp["image_size"]
    return InferenceSpec(
        kind="image",
        class_names=recorded_class_names(hp),  # None until given or read from the training folder
        image={
            "num_channels": 3,
            "image_size": [size, size],
            "size": round(size / hp["crop_fraction"]),  # the shorter side, before the center crop
            "crop_size": [size, size],
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "channels_last": hp.get("channels_last", False),
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
    `hparams`, or a checkpoint's ``checkpoint[DATA_HPARAMS_KEY]``), without loading the dataset.

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
