"""export_onnx and export_onnx_decoder: perceiver models to ONNX graphs.

The graphs are made by ``torch.onnx.export(..., dynamo=True)``, which captures the model with
``torch.export`` and translates the captured operators with onnxscript. The older TorchScript
exporter cannot take these models: it does not trace through the custom autograd functions that
fuse layer norms and projections in training (they export only as opaque ``aten::size`` calls),
and a traced graph keeps the sizes of its example inputs wherever the model computes with them in
Python (Perceiver AR's prefix length, the cache lengths). ``scaled_dot_product_attention``, the
one attention call of every model, is exported by the dynamo exporter as plain ONNX operators.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from perceiver.hf.onnx._decoder_graphs import prefill_spec, step_spec
from perceiver.hf.onnx._deps import require
from perceiver.hf.onnx._graphs import SUPPORTED, GraphSpec, io_graph, unsupported_message
from perceiver.model.core.validation import ArgumentTypeError, check_int
from perceiver.model.text.clm import CausalLanguageModel

logger = logging.getLogger(__name__)

DECODER_CONFIG = "perceiver_onnx.json"
PREFILL = "prefill.onnx"
STEP = "decode_step.onnx"
DECODER_FORMAT = "perceiver-ar-onnx"

# graphs above this size keep their weights in a separate file next to the graph (ONNX's
# protobuf files are limited to 2 GiB)
_EXTERNAL_DATA_BYTES = 1 << 30


def backend_model(model: object) -> nn.Module:
    """The core model of a 🤗 or Lightning wrapper (its ``backend_model``), or ``model`` itself."""
    inner = getattr(model, "backend_model", None)
    return inner if isinstance(inner, nn.Module) else model


def export_onnx(model: nn.Module, path: str | os.PathLike, *, opset_version: int | None = None) -> Path:
    """Export a Perceiver IO model to the ONNX file ``path``, with a dynamic batch size.

    ``model``: a :class:`~perceiver.model.text.mlm.MaskedLanguageModel`,
    :class:`~perceiver.model.text.classifier.TextClassifier`,
    :class:`~perceiver.model.vision.image_classifier.ImageClassifier` (any position encoding),
    :class:`~perceiver.model.vision.optical_flow.OpticalFlow` or
    :class:`~perceiver.model.multimodal.autoencoder.MultimodalAutoencoder`, or a 🤗 / Lightning
    wrapper of one. The graph computes what the model computes in eval mode:

    - text models: ``input_ids`` (b, n) int64 and ``attention_mask`` (b, n) int64 (1 = token,
      0 = padding), n up to the encoder's ``max_seq_len`` (dynamic) -> ``logits``;
    - image classifiers: ``pixel_values`` (b, c, h, w) -> ``logits`` (b, num_classes);
    - optical flow: ``patches`` (b, 2, 27, h, w) -> ``flow`` (b, h, w, 2);
    - multimodal autoencoder: ``image`` (b, t, c, h, w), ``audio`` (b, s, 1), ``label`` (b, k)
      -> ``image_output``, ``audio_output``, ``label_logits`` (every output point).

    Returns the path. Raises ``TypeError`` for another model (a Perceiver AR goes to
    :func:`export_onnx_decoder`), ``ImportError`` with the install command when the ``onnx``
    extra is missing.
    """
    model = backend_model(model)
    if isinstance(model, CausalLanguageModel):
        raise TypeError(
            f"{type(model).__name__} is a Perceiver AR: export it with export_onnx_decoder(model, directory), "
            "which writes a prefill graph and a cached decoding-step graph"
        )
    if not isinstance(model, tuple(SUPPORTED)):
        raise TypeError(unsupported_message(model))
    path = _check_path("path", path)
    _check_opset(opset_version)
    _export(io_graph(model), model, path, opset_version)
    return path


def export_onnx_decoder(
    model: nn.Module, directory: str | os.PathLike, *, num_latents: int = 1, opset_version: int | None = None
) -> Path:
    """Export a Perceiver AR (:class:`~perceiver.model.text.clm.CausalLanguageModel`,
    :class:`~perceiver.model.audio.symbolic.SymbolicAudioModel` or a wrapper of one) for cached
    decoding with ONNX Runtime: ``directory`` receives ``prefill.onnx``, ``decode_step.onnx`` and
    ``perceiver_onnx.json`` (sizes that the runtime needs).

    ``num_latents``: the latents a decoding window starts (and restarts) with, as ``generate``'s
    ``num_latents`` (1..max_latents); it is part of the prefill graph. Batch size, prompt length
    and cache lengths are dynamic. :class:`~perceiver.hf.onnx.OnnxCausalLanguageModel` runs the
    graphs under ``generate``'s window schedule; the graphs' inputs and outputs are described in
    its documentation for other runtimes.

    Returns the directory.
    """
    model = backend_model(model)
    if not isinstance(model, CausalLanguageModel):
        raise TypeError(
            f"export_onnx_decoder takes a Perceiver AR (CausalLanguageModel, SymbolicAudioModel) or a wrapper "
            f"of one; got {type(model).__name__} (Perceiver IO models are exported with export_onnx(model, path))"
        )
    check_int("num_latents", num_latents)
    if not 1 <= num_latents <= model.max_latents:
        raise ValueError(f"num_latents must be in [1, {model.max_latents}] (max_latents), got {num_latents}")
    if model.max_latents < 2:
        raise ValueError(
            f"max_latents is {model.max_latents}: every decoding step would restart the window, and a "
            "cached decoding step needs max_latents >= 2"
        )
    _check_opset(opset_version)
    if not isinstance(directory, (str, os.PathLike)):
        raise ArgumentTypeError(f"directory must be a path, got {type(directory).__name__}")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"directory {str(directory)!r} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    _export(prefill_spec(model, num_latents), model, directory / PREFILL, opset_version)
    _export(step_spec(model), model, directory / STEP, opset_version)
    config = {
        "format": DECODER_FORMAT,
        "version": 1,
        "model": type(model).__name__,
        "vocab_size": model.vocab_size,
        "max_seq_len": model.max_seq_len,
        "max_latents": model.max_latents,
        "num_latents": num_latents,
        "num_self_attention_layers": len(model.perceiver_ar.self_attn),
        "graphs": {"prefill": PREFILL, "step": STEP},
    }
    (directory / DECODER_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return directory


def _check_path(name: str, path: object) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"{name} must be a file path, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a directory; pass the path of the .onnx file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _check_opset(opset_version: int | None) -> None:
    if opset_version is not None:
        check_int("opset_version", opset_version)
        if opset_version < 18:
            raise ValueError(
                f"opset_version must be at least 18 (the exporter's lowest), got {opset_version}"
            )


def _export(spec: GraphSpec, model: nn.Module, path: Path, opset_version: int | None) -> None:
    require("onnx")
    require("onnxscript")
    num_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    was_training = model.training
    model.eval()
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(
                spec.module,
                spec.args,
                str(path),
                input_names=spec.input_names,
                output_names=spec.output_names,
                dynamic_shapes=spec.dynamic_shapes,
                opset_version=opset_version,
                dynamo=True,
                external_data=num_bytes > _EXTERNAL_DATA_BYTES,
                verbose=False,
            )
    finally:
        model.train(was_training)
    _check_dynamic(spec, path)
    logger.info("exported %s to %s", type(model).__name__, path)


def _check_dynamic(spec: GraphSpec, path: Path) -> None:
    """Raise if the exporter fixed a dimension that should be dynamic (it does so, instead of
    failing, where the model's code cannot be traced for every size)."""
    onnx = require("onnx")
    shapes = []
    for entry in spec.dynamic_shapes:
        shapes.extend(entry if isinstance(entry, tuple) else [entry])
    graph = onnx.load(str(path), load_external_data=False).graph
    for value, axes in zip(graph.input, shapes, strict=True):
        dims = value.type.tensor_type.shape.dim
        fixed = [axis for axis, d in axes.items() if d is not None and dims[axis].HasField("dim_value")]
        if fixed:
            raise RuntimeError(
                f"exporting {path.name}: the exporter fixed dimension {fixed[0]} of input {value.name!r} to "
                f"{dims[fixed[0]].dim_value} instead of keeping it dynamic"
            )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's progress messages and warnings about its own internals, silenced."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
