"""Which model is exported how: the graph modules that give each Perceiver IO model named,
tensor-only inputs and outputs, with example inputs and dynamic dimensions for ``torch.export``.

Inputs follow the conventions of 🤗 tokenizers and image processors, so that their outputs
can be fed to ONNX Runtime as they are: token ids with an ``attention_mask`` (int64, 1 = token,
0 = padding), float ``pixel_values``.

Shapes: b batch, n tokens, c channels, h height, w width, t frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.export import Dim

from perceiver.model.core.validation import module_dtype
from perceiver.model.multimodal.autoencoder import MultimodalAutoencoder
from perceiver.model.text.classifier import TextClassifier
from perceiver.model.text.clm import CausalLanguageModel
from perceiver.model.text.mlm import MaskedLanguageModel
from perceiver.model.vision.image_classifier import ImageClassifier
from perceiver.model.vision.optical_flow import OpticalFlow

# model classes export_onnx takes, with what their graphs compute
SUPPORTED = {
    MaskedLanguageModel: "masked language model: input_ids, attention_mask -> logits (b, n, vocab)",
    TextClassifier: "text classifier: input_ids, attention_mask -> logits (b, num_classes)",
    ImageClassifier: "image classifier: pixel_values (b, c, h, w) -> logits (b, num_classes)",
    OpticalFlow: "optical flow: patches (b, 2, 27, h, w) -> flow (b, h, w, 2)",
    MultimodalAutoencoder: "multimodal autoencoder: image, audio, label -> image_output, audio_output, label_logits",
}


@dataclass
class GraphSpec:
    """A module to export with its example inputs, names and dynamic dimensions."""

    module: nn.Module
    args: tuple[torch.Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic_shapes: tuple[dict[int, Any], ...]


def example_sizes(*bounds: tuple[int, int]) -> list[int]:
    """Example sizes for dynamic dimensions, one per (minimum, maximum), all distinct and at least
    2: ``torch.export`` would fix a dimension whose example is 0 or 1, and may tie dimensions whose
    examples are equal. A dimension whose maximum is below 2 gets its maximum (it stays fixed)."""
    taken: set[int] = set()
    sizes = []
    for low, high in bounds:
        size = max(low, 2)
        while size in taken and size < high:
            size += 1
        size = min(size, high)
        taken.add(size)
        sizes.append(size)
    return sizes


def dim(name: str, low: int, high: int | None) -> Dim | None:
    """A dynamic dimension in [low, high], or None (fixed) when only one size fits."""
    if high is not None and high < 2:
        return None
    return Dim(name, min=low, max=high) if high is not None else Dim(name, min=low)


class _TextGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids, attention_mask == 0)  # pad_mask: True = padding


class _TensorGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class _MultimodalGraph(nn.Module):
    def __init__(self, model: MultimodalAutoencoder) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, image: torch.Tensor, audio: torch.Tensor, label: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model({"image": image, "audio": audio, "label": label})  # every output point
        return out["image"], out["audio"], out["label"]


def io_graph(model: nn.Module) -> GraphSpec:
    """The graph of a Perceiver IO model (one of :data:`SUPPORTED`)."""
    dtype = module_dtype(model)
    batch = Dim("batch", min=1)
    if isinstance(model, (MaskedLanguageModel, TextClassifier)):
        max_seq_len = model.config.encoder.max_seq_len
        b, n = example_sizes((1, 1 << 16), (1, max_seq_len))
        seq = dim("sequence", 1, max_seq_len)
        shapes = {0: batch, 1: seq} if seq is not None else {0: batch}
        return GraphSpec(
            _TextGraph(model),
            (torch.zeros(b, n, dtype=torch.long), torch.ones(b, n, dtype=torch.long)),
            ["input_ids", "attention_mask"],
            ["logits"],
            (shapes, shapes),
        )
    if isinstance(model, ImageClassifier):
        return GraphSpec(
            _TensorGraph(model),
            (torch.zeros(2, *model.config.encoder.image_shape, dtype=dtype),),
            ["pixel_values"],
            ["logits"],
            ({0: batch},),
        )
    if isinstance(model, OpticalFlow):
        return GraphSpec(
            _TensorGraph(model),
            (torch.zeros(2, *model.input_shape, dtype=dtype),),
            ["patches"],
            ["flow"],
            ({0: batch},),
        )
    if isinstance(model, MultimodalAutoencoder):
        enc = model.config.encoder
        t = enc.num_frames
        return GraphSpec(
            _MultimodalGraph(model),
            (
                torch.zeros(2, t, *enc.image_shape, dtype=dtype),  # (b, t, c, h, w)
                torch.zeros(2, t * enc.audio_samples_per_frame, 1, dtype=dtype),  # (b, s, 1)
                torch.zeros(2, enc.num_classes, dtype=dtype),  # (b, k)
            ),
            ["image", "audio", "label"],
            ["image_output", "audio_output", "label_logits"],
            ({0: batch}, {0: batch}, {0: batch}),
        )
    raise TypeError(unsupported_message(model))


def unsupported_message(model: object) -> str:
    kinds = ", ".join(cls.__name__ for cls in SUPPORTED)
    return (
        f"export_onnx takes a Perceiver IO model ({kinds}) or a wrapper of one with a .backend_model "
        f"(🤗 or Lightning); got {type(model).__name__}. A Perceiver AR ({CausalLanguageModel.__name__}, "
        "SymbolicAudioModel) is exported with export_onnx_decoder(model, directory)."
    )
