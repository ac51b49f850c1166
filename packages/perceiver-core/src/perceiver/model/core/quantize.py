"""Int8 weight-only quantization for decoding on the CPU.

A cached decoding step reads every weight once for one token per sequence, so on a CPU it is
bound by the bytes of the weights it reads. :func:`quantize_for_decoding` returns a copy of a
model whose ``nn.Linear`` layers hold their weights as int8 with one float32 scale per output
channel (symmetric: ``w ≈ q * scale``, ``q`` in [-127, 127], ``scale = max |w_row| / 127``).
Activations, biases, norms, embeddings and the tied output projection stay float32.

The speed comes with compiled decoding (``generate(..., quantize="int8", compile=True)``):
there each product is written as a reduction over the input features, which inductor turns
into one loop that converts the int8 weights as it reads them (2.3-2.6x faster than the float32
products on two CPU threads). Eagerly (prompts, restarts, uncached or eager decoding), a layer
converts its weight to float32 and multiplies, which costs more than the float32 layer for a
single row. torch's own int8 weight-only kernel (``torch.ops.aten._weight_int8pack_mm``) was
measured 4x *slower* than the float32 product for one row on this kind of CPU (torch 2.13),
so it is not used.

The copy decodes a slightly different model than the float32 one: logits move by about the
weights' rounding error (0.4% of each row's largest weight at most), and greedy decoding can
pick another token where two are nearly tied (``generate(..., draft_tokens=k)`` lets this copy
draft and float32 check, which keeps float32's greedy tokens). It is for inference only: it refuses
``train()``, inputs that require gradients, and models that are not float32 on the CPU.

Why one scale per output channel: on a trained model (the benchmark's ``quantized`` workload)
the held-out loss moves by under 0.01% and the next token after a given prefix equals float32's
at 99.5% of positions, but free-running greedy decoding parts from float32 wherever float32's
own two best tokens are nearly tied, and random noise of less than half int8's rounding error
does the same. Finer scales (one per 32-128 input features: a scale load inside the compiled
loop) cut the logit change by up to a third without raising that agreement, and cost speed;
scales that minimise each row's squared error matched the largest-value scale. So the
simplest scheme stays.

Shapes: r rows (every leading dimension flattened), i input features, o output features.
"""

from __future__ import annotations

import copy
import weakref

import torch
from torch import nn

__all__ = ["QUANTIZE_MODES", "Int8Linear", "quantize_for_decoding", "quantized_for_decoding"]

QUANTIZE_MODES = ("int8",)


@torch.library.custom_op("perceiver::materialize", mutates_args=())
def _materialize(x: torch.Tensor) -> torch.Tensor:
    """A copy of ``x`` that compiled code computes as a buffer of its own (a fusion barrier)."""
    return x.clone()


@_materialize.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class Int8Linear(nn.Module):
    """A decoding-only ``nn.Linear`` with per-output-channel symmetric int8 weights.

    Frozen parameters: ``weight_int8`` (o, i) int8, ``scale`` (o,) float32, ``bias`` (o,)
    float32 or None.
    """

    def __init__(self, weight_int8: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        if weight_int8.dtype != torch.int8 or weight_int8.dim() != 2:
            raise ValueError(
                f"weight_int8 must be a 2-D int8 tensor, got {weight_int8.dtype} of shape {tuple(weight_int8.shape)}"
            )
        out_features, in_features = weight_int8.shape
        if scale.shape != (out_features,) or scale.dtype != torch.float32:
            raise ValueError(
                f"scale must be float32 of shape ({out_features},), got {scale.dtype} of shape {tuple(scale.shape)}"
            )
        if bias is not None and bias.shape != (out_features,):
            raise ValueError(f"bias must have shape ({out_features},), got {tuple(bias.shape)}")
        self.in_features, self.out_features = in_features, out_features
        # frozen parameters rather than buffers: torch.compile keeps the shapes of parameters
        # static (torch._dynamo.config.force_parameter_static_shapes) also in dynamic mode,
        # and a reduction over a static length compiles to a tighter loop
        self.weight_int8 = nn.Parameter(weight_int8.detach().contiguous(), requires_grad=False)
        self.scale = nn.Parameter(scale.detach().contiguous(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        super().train(False)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        """Quantize ``linear``'s float32 weight per output channel (rounding to nearest)."""
        w = linear.weight.detach()
        if w.dtype != torch.float32:
            raise ValueError(f"int8 quantization needs float32 weights, got {w.dtype}")
        amax = w.abs().amax(dim=1)  # (o,)
        # an all-zero row keeps scale 1 (its int8 weights are zero whatever the scale)
        scale = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax))
        q = torch.round(w / scale[:, None]).clamp_(-127, 127).to(torch.int8)  # (o, i)
        bias = None if linear.bias is None else linear.bias.detach()
        return cls(q, scale, bias)

    def dequantized_weight(self) -> torch.Tensor:
        """The float32 weight (o, i) this layer computes with."""
        return self.weight_int8.float() * self.scale[:, None]

    def train(self, mode: bool = True) -> Int8Linear:
        if mode:
            raise RuntimeError(
                "Int8Linear is quantized for decoding only and cannot be trained: train the float32 "
                "model and quantize it again (quantize_for_decoding)"
            )
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad and torch.is_grad_enabled():
            raise RuntimeError(
                "Int8Linear has no backward pass (quantized for decoding only): run it under "
                "torch.inference_mode() or torch.no_grad(), or use the float32 model for training"
            )
        if x.dtype != torch.float32:
            raise ValueError(f"Int8Linear takes float32 inputs, got {x.dtype}")
        x2 = x.reshape(-1, self.in_features)  # (r, i)
        if torch.compiler.is_compiling():
            # a matrix-vector product written as a reduction over i: inductor fuses the int8 ->
            # float conversion into it and reads each int8 weight once from memory. The input is
            # materialized first, else inductor would recompute the norm or GELU producing it
            # once per output feature inside the reduction
            x2 = _materialize(x2)
            y = (x2[:, None, :] * self.weight_int8).sum(dim=-1) * self.scale  # (r, o)
        else:
            # eager (prompts, restarts): the rows of a prompt amortise one dequantized copy
            y = torch.mm(x2, self.weight_int8.t().to(x2.dtype)) * self.scale  # (r, o)
        if self.bias is not None:
            y = y + self.bias
        return y.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        )


def _check_mode(argument: str, mode: object) -> None:
    if not isinstance(mode, str) or mode not in QUANTIZE_MODES:
        raise ValueError(f"{argument} must be one of {QUANTIZE_MODES}, got {mode!r}")


def _check_quantizable(model: nn.Module, mode: str) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_mode("mode", mode)
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.device.type != "cpu":
            raise ValueError(
                f"int8 decoding runs on the CPU only; {name} is on {tensor.device} (move the model with .cpu())"
            )
        if tensor.is_floating_point() and tensor.dtype != torch.float32:
            raise ValueError(
                f"int8 decoding quantizes float32 models only; {name} is {tensor.dtype} (convert with .float())"
            )
    if not any(type(m) is nn.Linear for m in model.modules()):
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to quantize")


def quantize_for_decoding(model: nn.Module, mode: str = "int8") -> nn.Module:
    """A copy of ``model`` for decoding, its ``nn.Linear`` layers replaced by :class:`Int8Linear`.

    The copy is in eval mode, shares no tensor with ``model`` (later changes to ``model`` do not
    reach it), and refuses ``train()``. ``model`` itself is left as it is; an ``nn.Linear``
    passed on its own gives an :class:`Int8Linear`.

    Raises:
        ValueError: ``mode`` is not ``"int8"``, or ``model`` is not float32 on the CPU.
        TypeError: ``model`` is not an ``nn.Module``.
    """
    _check_quantizable(model, mode)
    if type(model) is nn.Linear:  # no parent to put the int8 layer into: it is the copy
        return Int8Linear.from_linear(model)  # frozen, in eval mode, its own tensors
    linears = [m for m in model.modules() if type(m) is nn.Linear]
    # the float weights of the linears are not copied: the copy's linears are replaced below
    memo = {id(t): t for m in linears for t in (m.weight, m.bias) if t is not None}
    quantized = copy.deepcopy(model, memo)
    with torch.no_grad():
        for parent in list(quantized.modules()):
            for child_name, child in list(parent.named_children()):
                if type(child) is nn.Linear:
                    setattr(parent, child_name, Int8Linear.from_linear(child))
    quantized.eval()
    quantized.requires_grad_(False)
    return quantized


# generate(quantize=...) reuses a model's quantized copy while its parameters stay the same
_copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _signature(model: nn.Module) -> tuple:
    # storage and in-place version counter of every parameter: an optimizer step, a
    # load_state_dict or .to() changes one of them
    return tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in model.parameters())


def quantized_for_decoding(model: nn.Module, mode: str = "int8", argument: str = "mode") -> nn.Module:
    """:func:`quantize_for_decoding`, remembered per model until its parameters change (what
    ``generate(..., quantize="int8")`` uses, so that repeated calls quantize once). A bad
    ``mode`` is named as ``argument``, the caller's name for it."""
    _check_mode(argument, mode)
    signature = _signature(model)
    entry = _copies.get(model)
    if entry is not None and entry[0] == (mode, signature):
        return entry[1]
    quantized = quantize_for_decoding(model, mode)
    _copies[model] = ((mode, signature), quantized)
    return quantized
