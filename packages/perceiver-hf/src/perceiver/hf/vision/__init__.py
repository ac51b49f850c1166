"""🤗 wrappers of the vision task models: image classification and optical flow.

Importing this package registers the configs and models with the Auto classes
(``AutoModelForImageClassification``, ``AutoModel``) and the ``optical-flow`` pipeline.
"""

from perceiver.hf.vision.image_classifier import PerceiverImageClassifier, PerceiverImageClassifierConfig
from perceiver.hf.vision.image_processor import (
    PerceiverImageClassifierInputProcessor,
    PerceiverImageClassifierProcessor,
)
from perceiver.hf.vision.optical_flow import (
    OpticalFlowOutput,
    OpticalFlowPerceiver,
    OpticalFlowPerceiverConfig,
    OpticalFlowPipeline,
)

__all__ = [
    "OpticalFlowOutput",
    "OpticalFlowPerceiver",
    "OpticalFlowPerceiverConfig",
    "OpticalFlowPipeline",
    "PerceiverImageClassifier",
    "PerceiverImageClassifierConfig",
    "PerceiverImageClassifierInputProcessor",
    "PerceiverImageClassifierProcessor",
]
