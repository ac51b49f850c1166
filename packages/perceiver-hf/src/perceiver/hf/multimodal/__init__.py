"""🤗 wrapper of the multimodal (video + audio + label) autoencoder.

Importing this package registers the config and model with ``AutoConfig`` / ``AutoModel`` and
the ``multimodal-autoencoding`` pipeline.
"""

from perceiver.hf.multimodal.autoencoder import (
    MultimodalAutoencoderOutput,
    MultimodalAutoencodingPipeline,
    PerceiverMultimodalAutoencoder,
    PerceiverMultimodalAutoencoderConfig,
)

__all__ = [
    "MultimodalAutoencoderOutput",
    "MultimodalAutoencodingPipeline",
    "PerceiverMultimodalAutoencoder",
    "PerceiverMultimodalAutoencoderConfig",
]
