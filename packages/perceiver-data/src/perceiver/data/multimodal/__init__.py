"""Multimodal data: video + audio + label clips for the multimodal Perceiver IO autoencoder."""

from perceiver.data.multimodal.clips import (
    CLIP_FIELDS,
    ClipDataset,
    ClipPreprocessor,
    MultimodalDataModule,
    load_clip,
)

__all__ = ["CLIP_FIELDS", "ClipDataset", "ClipPreprocessor", "MultimodalDataModule", "load_clip"]
