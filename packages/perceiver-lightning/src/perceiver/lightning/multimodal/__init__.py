"""Lightning wrapper of the multimodal (video, audio, label) autoencoder."""

from perceiver.lightning.multimodal.autoencoder import LitMultimodalAutoencoder

__all__ = ["LitMultimodalAutoencoder"]
