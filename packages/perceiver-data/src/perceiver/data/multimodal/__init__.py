"""Multimodal data: video + audio + label clips for the multimodal Perceiver IO autoencoder.

Names load on first use (PEP 562), so that the clip format and preprocessing
(`perceiver.data.multimodal.preprocessing`) import without Lightning and datasets; the data
module loads them.
"""

from __future__ import annotations

from perceiver.data._lazy import lazy_exports

_EXPORTS = {
    "CLIP_FIELDS": "preprocessing",
    "ClipPreprocessor": "preprocessing",
    "load_clip": "preprocessing",
    "ClipDataset": "clips",
    "MultimodalDataModule": "clips",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
