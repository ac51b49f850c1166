"""Lightning wrappers of the vision models: image classifier, optical flow."""

from perceiver.lightning.vision.image_classifier import LitImageClassifier
from perceiver.lightning.vision.optical_flow import LitOpticalFlow

__all__ = ["LitImageClassifier", "LitOpticalFlow"]
