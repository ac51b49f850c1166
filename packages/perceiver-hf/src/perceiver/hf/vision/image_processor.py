"""🤗 image processors of the image classifiers: the preprocessing a model was trained with.

- :class:`PerceiverImageClassifierProcessor`: perceiver-data's image preprocessing
  (``perceiver.data.vision.image.ImagePreprocessor``: optional resize of the shorter side, center
  crop, scaling to [0, 1], normalization), after converting each image to the model's number of
  channels. ``convert_checkpoint`` saves it configured from the training data module
  (:func:`training_image_processor`), so that ``pipeline("image-classification")`` gives a model
  on a raw image exactly what training gave it.
- :class:`PerceiverImageClassifierInputProcessor`: the image processor that krasserm/perceiver-io
  0.11 saved with its image classifiers (transformers' ``PerceiverImageProcessor`` plus
  ``single_channel`` and ``channels_last``), so that its 🤗 directories work with the pipeline.

Output of both: ``pixel_values`` (b, c, h, w), channels first, as the 🤗 image classifier takes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import PerceiverImageProcessorPil, PretrainedConfig
from transformers.image_processing_base import ImageProcessingMixin
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature

from perceiver.model.core.data_spec import inference_spec

__all__ = [
    "PerceiverImageClassifierInputProcessor",
    "PerceiverImageClassifierProcessor",
    "training_image_processor",
]


def _image_preprocessing():
    try:
        from perceiver.data.vision import image
    except ImportError as error:
        raise ImportError(
            "the image processor of a perceiver image classifier uses perceiver-data's image preprocessing: "
            'pip install "perceiver-hf[data]"'
        ) from error
    return image


def _pair(name: str, value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = (value.get("height"), value.get("width"))
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, Sequence)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ValueError(f"{name} ({value!r}) must be a positive int or a (height, width) pair of them")
    return [int(value[0]), int(value[1])]


def _values(name: str, value: Any, num_channels: int) -> list[float] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, int | float) else list(value)
    if len(values) not in (1, num_channels):
        raise ValueError(f"{name} ({value!r}) must hold 1 or num_channels ({num_channels}) values")
    return [float(v) for v in values]


class PerceiverImageClassifierProcessor(BaseImageProcessor):
    """perceiver-data's image preprocessing of a training data module, as a 🤗 image processor.

    Images: paths, PIL images, or arrays / tensors (h, w) or (h, w, c) of uint8 (0-255) or floats in
    [0, 1] (see ``perceiver.data.vision.image.image_array``). Each is converted to ``num_channels``
    (a colour image to gray with PIL's ``L`` conversion, which leaves a gray image stored as RGB
    unchanged; a gray image to RGB by repeating it), resized, cropped, scaled and normalized.

    Args:
        num_channels: 1 (gray) or 3 (RGB), the model's input channels.
        image_size: (height, width) of the model's input; an image that has another size after
            resizing and cropping raises ``ValueError``.
        resize: the shorter side's length after a bilinear resize; None: no resize.
        crop_size: (height, width) of a central crop (or an int for a square); None: no crop.
        image_mean, image_std: per-channel normalization after scaling to [0, 1]; None: none.
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        num_channels: int = 3,
        image_size: Sequence[int] = (224, 224),
        resize: int | None = None,
        crop_size: int | Sequence[int] | None = None,
        image_mean: float | Sequence[float] | None = None,
        image_std: float | Sequence[float] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("image_processor_type", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {sorted(kwargs)}")
        if num_channels not in (1, 3):
            raise ValueError(f"num_channels ({num_channels!r}) must be 1 or 3")
        if resize is not None and (not isinstance(resize, int) or isinstance(resize, bool) or resize < 1):
            raise ValueError(f"resize ({resize!r}) must be a positive int or None")
        if (image_mean is None) != (image_std is None):
            raise ValueError("image_mean and image_std must be given together")
        ImageProcessingMixin.__init__(self)
        self.num_channels = num_channels
        self.image_size = _pair("image_size", image_size)
        self.resize = resize
        self.crop_size = _pair("crop_size", crop_size)
        self.image_mean = _values("image_mean", image_mean, num_channels)
        self.image_std = _values("image_std", image_std, num_channels)
        image = _image_preprocessing()
        self._preprocessor = image.ImagePreprocessor(
            size=resize,
            crop_size=None if self.crop_size is None else tuple(self.crop_size),
            mean=self.image_mean,
            std=self.image_std,
            channels_last=False,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_processor_type": type(self).__name__,
            "num_channels": self.num_channels,
            "image_size": self.image_size,
            "resize": self.resize,
            "crop_size": self.crop_size,
            "image_mean": self.image_mean,
            "image_std": self.image_std,
        }

    def _with_channels(self, image: Any, name: str) -> np.ndarray:
        from PIL import Image

        array = _image_preprocessing().image_array(image, name)  # (h, w, c), uint8 or float32
        channels = array.shape[2]
        if channels == 4:
            array, channels = array[:, :, :3], 3  # alpha dropped, as for a PIL image
        if channels == self.num_channels:
            return array
        if self.num_channels == 3:
            return np.repeat(array, 3, axis=2)  # (h, w, 1) -> (h, w, 3)
        if array.dtype == np.uint8:
            return np.asarray(Image.fromarray(np.ascontiguousarray(array)).convert("L"))[:, :, None]
        weights = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)  # PIL's L conversion, on floats
        return (array @ weights)[:, :, None].astype(np.float32)

    def preprocess(self, images: Any, return_tensors: str | None = None, **kwargs: Any) -> BatchFeature:
        """``pixel_values`` (b, c, h, w) of an image or a list of images."""
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {sorted(kwargs)}")
        batch = list(images) if isinstance(images, list | tuple) else [images]
        if not batch:
            raise ValueError("images is empty")
        pixel_values = []
        for i, image in enumerate(batch):
            name = "image" if len(batch) == 1 and not isinstance(images, list | tuple) else f"images[{i}]"
            x = self._preprocessor(self._with_channels(image, name), name)  # (c, h, w)
            if list(x.shape[1:]) != self.image_size:
                raise ValueError(
                    f"{name}: the model takes {self.image_size[0]}x{self.image_size[1]} images, this one "
                    f"is {x.shape[1]}x{x.shape[2]} after preprocessing (resize {self.resize}, crop "
                    f"{self.crop_size})"
                )
            pixel_values.append(x)
        data = {"pixel_values": torch.stack(pixel_values)}
        if return_tensors in (None, "pt"):
            return BatchFeature(data=data, tensor_type=return_tensors)
        if return_tensors == "np":
            return BatchFeature(data={"pixel_values": data["pixel_values"].numpy()}, tensor_type="np")
        raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}")


def training_image_processor(
    image_shape: Sequence[int], data_hparams: Mapping[str, Any], source: str
) -> PerceiverImageClassifierProcessor:
    """The image processor of an image classifier trained on one of perceiver-data's image data
    modules, from the data module's hyperparameters (those a checkpoint records).

    Args:
        image_shape: the model's (channels, height, width).
        data_hparams: the training data module's hyperparameters with its ``_class_path`` (as the
            LightningCLI scripts record it).

    Raises:
        ValueError: the data module is not one whose preprocessing is known here (pass an image
            processor of your own then), or its images do not fit the model.
    """
    channels, height, width = (int(s) for s in image_shape)
    class_path = data_hparams.get("_class_path")
    spec = None
    if isinstance(class_path, str) and class_path.startswith("perceiver.data."):
        try:
            spec = inference_spec(data_hparams)
        except ValueError:  # hyperparameters of no image data module with a known preprocessing
            spec = None
    if spec is None or spec.kind != "image":
        what = "no data module" if class_path is None else f"data module {class_path}"
        raise ValueError(
            f"{source} records {what}, whose image preprocessing is not known: pass an image processor "
            "(e.g. PerceiverImageClassifierProcessor) as image_processor"
        )
    image = spec.image
    mean, std = image["mean"], image["std"]
    processor = PerceiverImageClassifierProcessor(
        num_channels=image["num_channels"],
        image_size=tuple(image["image_size"]),
        resize=image["size"],
        crop_size=None if image["crop_size"] is None else tuple(image["crop_size"]),
        image_mean=mean if mean is None or len(mean) > 1 else mean[0],
        image_std=std if std is None or len(std) > 1 else std[0],
    )
    if (processor.num_channels, *processor.image_size) != (channels, height, width):
        raise ValueError(
            f"{source}: the data module's images ({processor.num_channels}, {processor.image_size[0]}, "
            f"{processor.image_size[1]}) do not fit the model's image_shape {(channels, height, width)}"
        )
    return processor


class PerceiverImageClassifierInputProcessor(PerceiverImageProcessorPil):
    """The image processor of krasserm/perceiver-io 0.11's image classifiers (its name and fields).

    transformers' ``PerceiverImageProcessor`` (center crop, resize, rescale, normalize) that first
    converts images to gray with ``single_channel=True``. perceiver-io 0.11's models took
    channels-last images (``channels_last=True``); the converted models take channels first, which
    this processor returns whatever ``channels_last`` says (it is kept so that the configuration
    saves as it was read).
    """

    def __init__(self, channels_last: bool = True, single_channel: bool = False, **kwargs: Any) -> None:
        for name, value in (("channels_last", channels_last), ("single_channel", single_channel)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {value!r}")
        super().__init__(**kwargs)
        self.channels_last = channels_last
        self.single_channel = single_channel

    def preprocess(self, images: Any, *args: Any, **kwargs: Any) -> BatchFeature:
        if self.single_channel:
            from PIL import Image

            batch = images if isinstance(images, list | tuple) else [images]
            gray = []
            for image in batch:
                if not isinstance(image, Image.Image):
                    image = Image.fromarray(np.asarray(_image_preprocessing().image_array(image)).squeeze())
                gray.append(np.asarray(image.convert("L"))[None])  # (1, h, w)
            images = gray if isinstance(images, list | tuple) else gray[0]
        return super().preprocess(images, *args, **kwargs)


class _PerceiverIOImageProcessorFormat(PretrainedConfig):
    """Only a key under which ``AutoImageProcessor`` finds perceiver-io 0.11's image processor by
    the name its ``preprocessor_config.json`` holds (one class per registered config)."""

    model_type = "perceiver-io-0.11-image-processor"


def _register() -> None:
    from transformers import AutoImageProcessor

    from perceiver.hf.vision.image_classifier import PerceiverImageClassifierConfig

    AutoImageProcessor.register(
        PerceiverImageClassifierConfig, image_processor_classes={"pil": PerceiverImageClassifierProcessor}
    )
    AutoImageProcessor.register(
        _PerceiverIOImageProcessorFormat,
        image_processor_classes={"pil": PerceiverImageClassifierInputProcessor},
    )


_register()
