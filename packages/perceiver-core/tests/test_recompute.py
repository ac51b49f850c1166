"""Layers that recompute norms and GELUs in the backward pass: same values and gradients as the
plain modules, fewer stored activations, and the plain path where fusion does not apply."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from perceiver.model.core import MLP, CrossAttentionLayer, SelfAttentionLayer
from perceiver.model.core._recompute import norm_linears


def _plain_path(module: nn.Module):
    """A no-op forward hook on every LayerNorm makes the layers run their plain modules."""
    return [
        m.register_forward_hook(lambda *args: None) for m in module.modules() if isinstance(m, nn.LayerNorm)
    ]


def _grads(module: nn.Module, *inputs: torch.Tensor, **kwargs):
    for t in inputs:
        t.grad = None
    module.zero_grad(set_to_none=True)
    out = module(*inputs, **kwargs)
    (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum().backward()
    return out.detach(), [t.grad for t in inputs], {n: p.grad for n, p in module.named_parameters()}


def _compare(module: nn.Module, *inputs: torch.Tensor, **kwargs):
    fused = _grads(module, *inputs, **kwargs)
    handles = _plain_path(module)
    try:
        plain = _grads(module, *inputs, **kwargs)
    finally:
        for h in handles:
            h.remove()
    assert_close(fused[0], plain[0])
    for a, b in zip(fused[1], plain[1], strict=True):
        assert_close(a, b)
    assert fused[2].keys() == plain[2].keys()
    for name in fused[2]:
        assert_close(fused[2][name], plain[2][name], msg=name)


def _perturb(module: nn.Module) -> nn.Module:
    with torch.no_grad():  # norms with non-trivial affine parameters
        for m in module.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.add_(torch.randn_like(m.weight) * 0.1)
                m.bias.add_(torch.randn_like(m.bias) * 0.1)
    return module


def test_mlp_gradients_equal_the_plain_modules():
    torch.manual_seed(0)
    mlp = _perturb(MLP(12, 3).double())
    _compare(mlp, torch.randn(3, 5, 12, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_layer_gradients_equal_the_plain_modules(causal):
    torch.manual_seed(0)
    layer = _perturb(
        SelfAttentionLayer(num_heads=2, num_channels=8, causal_attention=causal, widening_factor=2).double()
    )
    _compare(layer, torch.randn(2, 6, 8, dtype=torch.float64, requires_grad=True))


def test_cross_attention_layer_with_batch_one_queries_equals_the_plain_modules():
    torch.manual_seed(0)
    layer = _perturb(
        CrossAttentionLayer(
            num_heads=2, num_q_input_channels=8, num_kv_input_channels=6, num_qk_channels=4
        ).double()
    )
    latents = torch.randn(1, 3, 8, dtype=torch.float64, requires_grad=True)  # broadcast over the batch
    _compare(layer, latents, torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True))


def test_layers_store_fewer_activations():
    torch.manual_seed(0)
    layer = SelfAttentionLayer(num_heads=2, num_channels=16, widening_factor=4)
    x = torch.randn(2, 32, 16, requires_grad=True)

    def stored_bytes() -> int:
        storages = {}

        def pack(t):
            if t.numel() >= x.numel():  # activations, not parameters or statistics
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            layer(x)
        return sum(storages.values())

    fused = stored_bytes()
    handles = _plain_path(layer)
    plain = stored_bytes()
    for h in handles:
        h.remove()
    # the two norm outputs (x-sized) and the GELU output (4 x-sized) are no longer stored
    assert plain - fused >= 6 * x.numel() * 4


def test_plain_path_in_inference_and_under_autocast():
    norm, linear = nn.LayerNorm(4), nn.Linear(4, 3)
    x = torch.randn(2, 4, requires_grad=True)
    with torch.no_grad():
        (y,) = norm_linears(x, norm, [linear])
    assert y.grad_fn is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        (y,) = norm_linears(x, norm, [linear])
    assert y.dtype == torch.bfloat16 and "NormLinears" not in type(y.grad_fn).__name__
    (y,) = norm_linears(x, norm, [linear])
    assert "NormLinears" in type(y.grad_fn).__name__
