"""🤗 wrappers of the vision task models: image classification and optical flow."""

from perceiver.hf.vision.image_classifier import (
    PerceiverImageClassifier,
    PerceiverImageClassifierConfig,
)

__all__ = [
    "PerceiverImageClassifier",
    "PerceiverImageClassifierConfig",
]
