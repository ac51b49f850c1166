"""The ``optical-flow`` pipeline: frame pairs in, flow (h, w, 2) out.

A frame is a path, a PIL image or an RGB uint8 array (h, w, 3); an input is a pair of frames of
the same size, or a list of pairs. Frames are scaled to [-1, 1] and cut into 3x3 patches as the
official model was trained; frames larger than the model's training size are processed as
overlapping tiles (``overlap`` pixels at least) whose flows are blended.

Returns a float32 array (h, w, 2) per pair; with ``render=True`` a dict ``{"flow": array,
"image": PIL image}`` with the Middlebury colour coding of the flow (needs perceiver-data).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from transformers import Pipeline

from perceiver.hf._base import refuse_pipeline_arguments
from perceiver.model.core.validation import check_int, check_number
from perceiver.model.vision.optical_flow import extract_patches

__all__ = ["OpticalFlowPipeline", "load_frame", "render_flow"]


def _is_frame(x: Any) -> bool:
    if isinstance(x, str | os.PathLike | np.ndarray):
        return True
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return False
    return isinstance(x, Image.Image)


def _is_pair(x: Any) -> bool:
    return isinstance(x, tuple | list) and len(x) == 2 and all(_is_frame(f) for f in x)


def load_frame(frame: Any) -> torch.Tensor:
    """A path, PIL image or RGB uint8 array (h, w, 3) -> (3, h, w) float32 in [-1, 1]."""
    if isinstance(frame, str | os.PathLike):
        from PIL import Image

        with Image.open(frame) as image:
            frame = image.convert("RGB")
    elif not isinstance(frame, np.ndarray):
        frame = frame.convert("RGB")
    array = np.asarray(frame)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"a frame must be RGB uint8 of shape (h, w, 3), got {array.dtype} {array.shape}")
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0 * 2.0 - 1.0  # (3, h, w)


def render_flow(flow: np.ndarray, max_flow: float | None = None):
    """Middlebury colour coding of flow (h, w, 2) as a PIL image (perceiver-data's ``flow_to_color``)."""
    try:
        from perceiver.data.vision.flow import flow_to_color  # no Lightning, no datasets
    except ImportError as e:
        raise ImportError("rendering flow needs perceiver-data: pip install 'perceiver-hf[data]'") from e
    from PIL import Image

    return Image.fromarray(flow_to_color(flow, max_flow))


class OpticalFlowPipeline(Pipeline):
    """``pipeline("optical-flow", model=...)(pair | [pairs], render=False, overlap=32, max_flow=None)``."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        if _is_pair(inputs):
            return super().__call__(tuple(inputs), **kwargs)
        if isinstance(inputs, list) and all(_is_pair(pair) for pair in inputs):
            return super().__call__([tuple(pair) for pair in inputs], **kwargs)
        raise ValueError(
            "inputs must be a pair of frames (paths, PIL images or uint8 arrays) or a list of pairs, "
            f"got {type(inputs).__name__}"
        )

    def _sanitize_parameters(
        self, render: bool | None = None, overlap: int | None = None, max_flow: float | None = None, **kwargs
    ):
        refuse_pipeline_arguments(
            "optical-flow",
            kwargs,
            {"micro_batch_size": "tiles are run through the model one at a time; drop it"},
        )
        if overlap is not None:
            check_int("overlap", overlap, minimum=0)
        if max_flow is not None:
            check_number("max_flow", max_flow)
            if not max_flow > 0:
                raise ValueError(f"max_flow must be positive, got {max_flow}")
        forward_params = {} if overlap is None else {"overlap": overlap}
        postprocess_params = {}
        if render is not None:
            postprocess_params["render"] = render
        if max_flow is not None:
            postprocess_params["max_flow"] = max_flow
        return {}, forward_params, postprocess_params

    def preprocess(self, inputs: tuple[Any, Any]) -> dict[str, torch.Tensor]:
        frame1, frame2 = (load_frame(f) for f in inputs)
        if frame1.shape != frame2.shape:
            raise ValueError(
                f"the frames of a pair differ in size: {tuple(frame1.shape)} and {tuple(frame2.shape)}"
            )
        height, width = frame1.shape[1:]
        tile_h, tile_w = self.model.image_shape
        if height < tile_h or width < tile_w:
            raise ValueError(
                f"frames of {height}x{width} are smaller than the model's input size {tile_h}x{tile_w}"
            )
        return {"inputs": extract_patches(frame1[None], frame2[None])}  # (1, 2, 27, h, w)

    def _forward(self, model_inputs: dict[str, torch.Tensor], overlap: int = 32) -> dict[str, torch.Tensor]:
        x = model_inputs["inputs"].to(self.model.dtype)
        tile_h, tile_w = self.model.image_shape
        if tuple(x.shape[-2:]) == (tile_h, tile_w):
            return {"flow": self.model(x).logits}
        overlap = min(overlap, tile_h - 1, tile_w - 1)
        return {"flow": self.model.forward_tiled(x, overlap=overlap)}

    def postprocess(
        self, model_outputs: dict[str, torch.Tensor], render: bool = False, max_flow: float | None = None
    ) -> np.ndarray | dict[str, Any]:
        flow = model_outputs["flow"][0].float().cpu().numpy()  # (h, w, 2)
        if not render:
            return flow
        return {"flow": flow, "image": render_flow(flow, max_flow)}
