"""Vision task models: image classification and optical flow."""

from perceiver.model.vision.image_classifier import ImageClassifier, ImageClassifierConfig, ImageEncoderConfig
from perceiver.model.vision.optical_flow import (
    OpticalFlow,
    OpticalFlowConfig,
    OpticalFlowDecoderConfig,
    OpticalFlowEncoderConfig,
    end_point_error,
    extract_patches,
)

__all__ = [
    "ImageClassifier",
    "ImageClassifierConfig",
    "ImageEncoderConfig",
    "OpticalFlow",
    "OpticalFlowConfig",
    "OpticalFlowDecoderConfig",
    "OpticalFlowEncoderConfig",
    "end_point_error",
    "extract_patches",
]
