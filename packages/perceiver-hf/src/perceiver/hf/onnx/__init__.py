"""ONNX export of perceiver models, and ONNX Runtime decoding for Perceiver AR.

- :func:`export_onnx`: a Perceiver IO model (masked LM, text classifier, image classifiers,
  optical flow, multimodal autoencoder) to one ONNX graph with a dynamic batch size (and a
  dynamic sequence length for text).
- :func:`export_onnx_decoder`: a Perceiver AR (causal LM, symbolic audio) to a prefill graph and a
  cached decoding-step graph whose KV cache is explicit inputs and outputs.
- :class:`OnnxCausalLanguageModel`: generation with those graphs in ONNX Runtime.

Needs the ``onnx`` extra (``pip install "perceiver-hf[onnx]"``: onnx, onnxscript, onnxruntime);
without it, the functions raise an ``ImportError`` that says so. docs/deployment.md has examples.
"""

from perceiver.hf.onnx._deps import INSTALL_HINT
from perceiver.hf.onnx._export import export_onnx, export_onnx_decoder
from perceiver.hf.onnx._runtime import OnnxCausalLanguageModel, OnnxDecoderCache

__all__ = [
    "INSTALL_HINT",
    "OnnxCausalLanguageModel",
    "OnnxDecoderCache",
    "export_onnx",
    "export_onnx_decoder",
]
