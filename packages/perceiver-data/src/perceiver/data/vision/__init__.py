"""Vision data: image preprocessing, MNIST, ImageNet-style folders and optical flow.

Names load on first use (PEP 562), so that the format helpers (`perceiver.data.vision.image`,
`perceiver.data.vision.flow`) import without Lightning and datasets; the data modules load them.
"""

from __future__ import annotations

from perceiver.data._lazy import lazy_exports

_EXPORTS = {
    "IMAGENET_MEAN": "image",
    "IMAGENET_STD": "image",
    "ImagePreprocessor": "image",
    "load_image": "image",
    "extract_patches": "flow",
    "flow_to_color": "flow",
    "preprocess_frame_pair": "flow",
    "read_flo": "flow",
    "save_flow_image": "flow",
    "write_flo": "flow",
    "ImageFolderDataset": "imagenet",
    "ImageNetDataModule": "imagenet",
    "MNISTDataModule": "mnist",
    "read_idx": "mnist",
    "FramePairDataset": "optical_flow",
    "OpticalFlowDataModule": "optical_flow",
    "middlebury_frame_pairs": "optical_flow",
    "sintel_frame_pairs": "optical_flow",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
