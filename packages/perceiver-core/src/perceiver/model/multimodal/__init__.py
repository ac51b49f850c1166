"""Multimodal task models: video + audio + label autoencoding."""

from perceiver.model.multimodal.autoencoder import (
    MultimodalAutoencoder,
    MultimodalAutoencoderConfig,
    MultimodalDecoderConfig,
    MultimodalEncoderConfig,
    reconstruction_loss,
)

__all__ = [
    "MultimodalAutoencoder",
    "MultimodalAutoencoderConfig",
    "MultimodalDecoderConfig",
    "MultimodalEncoderConfig",
    "reconstruction_loss",
]
