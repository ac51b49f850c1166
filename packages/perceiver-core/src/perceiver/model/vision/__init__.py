"""Vision task models: image classification and optical flow."""

from perceiver.model.vision.image_classifier import ImageClassifier, ImageClassifierConfig, ImageEncoderConfig

__all__ = ["ImageClassifier", "ImageClassifierConfig", "ImageEncoderConfig"]
