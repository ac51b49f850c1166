"""Vision data: image preprocessing, MNIST, ImageNet-style folders and optical flow."""

from perceiver.data.vision.image import IMAGENET_MEAN, IMAGENET_STD, ImagePreprocessor, load_image
from perceiver.data.vision.imagenet import ImageFolderDataset, ImageNetDataModule
from perceiver.data.vision.mnist import MNISTDataModule, read_idx
from perceiver.data.vision.optical_flow import (
    FramePairDataset,
    OpticalFlowDataModule,
    extract_patches,
    flow_to_color,
    middlebury_frame_pairs,
    preprocess_frame_pair,
    read_flo,
    save_flow_image,
    sintel_frame_pairs,
    write_flo,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FramePairDataset",
    "ImageFolderDataset",
    "ImageNetDataModule",
    "ImagePreprocessor",
    "MNISTDataModule",
    "OpticalFlowDataModule",
    "extract_patches",
    "flow_to_color",
    "load_image",
    "middlebury_frame_pairs",
    "preprocess_frame_pair",
    "read_flo",
    "read_idx",
    "save_flow_image",
    "sintel_frame_pairs",
    "write_flo",
]
