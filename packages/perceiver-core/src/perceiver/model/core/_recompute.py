"""Layer norm -> linear(s) and the MLP as autograd functions that keep less for the backward pass.

Autograd keeps, for a pre-norm projection ``linear(norm(x))``, both ``x`` (for the norm's
backward) and ``norm(x)`` (for the linear's weight gradient); for the MLP it keeps the GELU's
input and its output as well. Here only ``x``, the norm's statistics and the matmul outputs
that the backward needs are kept: the norm and the GELU, cheap elementwise work, are recomputed
in the backward pass. Matmuls are never recomputed. Per self-attention layer this stores three
(b, n, c)-sized tensors fewer; gradients are those of the plain modules (tests compare them).

The functions apply when autograd records (``torch.is_grad_enabled()``), outside autocast, when
the modules are exactly ``nn.LayerNorm`` / ``nn.Linear`` / exact ``nn.GELU`` without hooks, and
when the input holds at least :data:`RECOMPUTE_MIN_ELEMENTS` elements; otherwise (inference,
mixed precision, adapters or hooks on the modules, small activations) the plain modules run.
For small activations the memory saved is a few hundred KiB per layer, while the recomputed
norm and GELU and the functions' own Python cost a fixed time per layer that a small model's
step feels (a Perceiver AR of 128 channels trains about 10% faster without them).

Shapes: r rows (every leading dimension flattened), c input channels, o output channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RECOMPUTE_MIN_ELEMENTS", "norm_linears", "norm_mlp"]

_aten = torch.ops.aten

# inputs (rows x channels) smaller than this (1 MiB of float32) run the plain modules: a
# Perceiver AR of 128 channels at batch 12 (768 latents, 1,920 cross-attention keys) stays under
# it, the benchmark sizes (512 channels x 1,024 rows and more) stay above it
RECOMPUTE_MIN_ELEMENTS = 2**18


def _plain(module: nn.Module, cls: type) -> bool:
    return type(module) is cls and not (module._forward_hooks or module._forward_pre_hooks)


def _recording(x: torch.Tensor) -> bool:
    return (
        torch.is_grad_enabled()
        and x.numel() >= RECOMPUTE_MIN_ELEMENTS
        and not torch.is_autocast_enabled(x.device.type)
    )


def _fusable_norm(norm: nn.Module) -> bool:
    return _plain(norm, nn.LayerNorm) and len(norm.normalized_shape) == 1


def norm_linears(x: torch.Tensor, norm: nn.Module | None, linears: Sequence[nn.Module]) -> list[torch.Tensor]:
    """``[linear(norm(x)) for linear in linears]``, storing ``x`` rather than ``norm(x)`` for the
    backward pass (``norm=None``: no norm)."""
    if (
        norm is None
        or not _recording(x)
        or not _fusable_norm(norm)
        or not all(_plain(linear, nn.Linear) for linear in linears)
    ):
        h = x if norm is None else norm(x)
        return [linear(h) for linear in linears]
    params = [t for linear in linears for t in (linear.weight, linear.bias)]
    return list(_NormLinears.apply(x, norm.weight, norm.bias, norm.eps, len(linears), *params))


def norm_mlp(
    x: torch.Tensor, norm: nn.Module, fc1: nn.Module, act: nn.Module, fc2: nn.Module
) -> torch.Tensor | None:
    """``fc2(gelu(fc1(norm(x))))`` storing ``x`` and ``fc1``'s output only; None when the modules
    or the mode do not allow it (the caller then runs the modules)."""
    if not (
        _recording(x)
        and _fusable_norm(norm)
        and _plain(fc1, nn.Linear)
        and _plain(act, nn.GELU)
        and act.approximate == "none"
        and _plain(fc2, nn.Linear)
    ):
        return None
    return _NormMLP.apply(x, norm.weight, norm.bias, norm.eps, fc1.weight, fc1.bias, fc2.weight, fc2.bias)


def _linear(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    return torch.addmm(b, h, w.t()) if b is not None else h @ w.t()


def _linear_grads(
    g: torch.Tensor, h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, needs_w: bool, needs_b: bool
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    gw = g.t() @ h if needs_w else None
    gb = g.sum(0) if b is not None and needs_b else None
    return gw, gb


class _NormLinears(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, norm_w, norm_b, eps, n, *params):
        c = x.shape[-1]
        x2 = x.reshape(-1, c)  # (r, c)
        h, mean, rstd = torch.native_layer_norm(x2, (c,), norm_w, norm_b, eps)
        outs = [_linear(h, params[2 * i], params[2 * i + 1]).view(*x.shape[:-1], -1) for i in range(n)]
        ctx.save_for_backward(x2, mean, rstd, norm_w, norm_b, *params)
        ctx.eps, ctx.n, ctx.x_shape = eps, n, x.shape
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        x2, mean, rstd, norm_w, norm_b, *params = ctx.saved_tensors
        c = x2.shape[-1]
        h = torch.native_layer_norm(x2, (c,), norm_w, norm_b, ctx.eps)[0]  # recomputed
        needs = ctx.needs_input_grad
        param_grads: list[torch.Tensor | None] = []
        gh = None
        for i, g in enumerate(grads):
            w, b = params[2 * i], params[2 * i + 1]
            if g is None:
                param_grads += [None, None]
                continue
            g2 = g.reshape(-1, g.shape[-1])  # (r, o)
            param_grads += _linear_grads(g2, h, w, b, needs[5 + 2 * i], needs[6 + 2 * i])
            gh = g2 @ w if gh is None else gh.addmm_(g2, w)
        if gh is None:
            return (None,) * (5 + 2 * ctx.n)
        mask = [needs[0], norm_w is not None and needs[1], norm_b is not None and needs[2]]
        gx, g_norm_w, g_norm_b = _aten.native_layer_norm_backward(
            gh, x2, (c,), mean, rstd, norm_w, norm_b, mask
        )
        gx = None if gx is None else gx.view(ctx.x_shape)
        return (gx, g_norm_w, g_norm_b, None, None, *param_grads)


class _NormMLP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, norm_w, norm_b, eps, w1, b1, w2, b2):
        c = x.shape[-1]
        x2 = x.reshape(-1, c)  # (r, c)
        h, mean, rstd = torch.native_layer_norm(x2, (c,), norm_w, norm_b, eps)
        a = _linear(h, w1, b1)  # (r, widening * c): the GELU's input
        y = _linear(F.gelu(a), w2, b2)
        ctx.save_for_backward(x2, mean, rstd, norm_w, norm_b, a, w1, b1, w2, b2)
        ctx.eps, ctx.x_shape = eps, x.shape
        return y.view(*x.shape[:-1], -1)

    @staticmethod
    def backward(ctx, g):
        x2, mean, rstd, norm_w, norm_b, a, w1, b1, w2, b2 = ctx.saved_tensors
        needs = ctx.needs_input_grad
        c = x2.shape[-1]
        g2 = g.reshape(-1, g.shape[-1])  # (r, o)
        act = F.gelu(a)  # recomputed
        gw2, gb2 = _linear_grads(g2, act, w2, b2, needs[6], needs[7])
        # act's buffer, no longer needed, takes the gradient into it and then, in place, the
        # gradient into a: no fresh (r, 4c) buffer, whose pages the first write would fault in
        ga = torch.mm(g2, w2, out=act)
        ga = _aten.gelu_backward.grad_input(ga, a, grad_input=ga)
        h = torch.native_layer_norm(x2, (c,), norm_w, norm_b, ctx.eps)[0]  # recomputed
        gw1, gb1 = _linear_grads(ga, h, w1, b1, needs[4], needs[5])
        mask = [needs[0], norm_w is not None and needs[1], norm_b is not None and needs[2]]
        gx, g_norm_w, g_norm_b = _aten.native_layer_norm_backward(
            ga @ w1, x2, (c,), mean, rstd, norm_w, norm_b, mask
        )
        gx = None if gx is None else gx.view(ctx.x_shape)
        return gx, g_norm_w, g_norm_b, None, gw1, gb1, gw2, gb2
