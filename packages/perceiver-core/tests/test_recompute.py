"""Layers that recompute norms and GELUs in the backward pass: same values and gradients as the
plain modules, fewer stored activations, and the plain path where fusion does not apply (small
activations among them)."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from perceiver.model.core import MLP, CausalSequenceModel, CrossAttentionLayer, SelfAttentionLayer, _recompute
from perceiver.model.core._recompute import RECOMPUTE_MIN_ELEMENTS, norm_linears


@pytest.fixture(autouse=True)
def recompute_small_inputs(monkeypatch):
    """The tiny inputs here are below the size from which the layers recompute: lower it, so that
    the recomputing functions run (tests that check the size switch restore it)."""
    monkeypatch.setattr(_recompute, "RECOMPUTE_MIN_ELEMENTS", 0)


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


def test_small_inputs_run_the_plain_modules(monkeypatch):
    monkeypatch.setattr(_recompute, "RECOMPUTE_MIN_ELEMENTS", RECOMPUTE_MIN_ELEMENTS)
    norm, linear = nn.LayerNorm(8), nn.Linear(8, 3)
    rows = RECOMPUTE_MIN_ELEMENTS // 8
    (small,) = norm_linears(torch.randn(rows - 1, 8, requires_grad=True), norm, [linear])
    (large,) = norm_linears(torch.randn(rows, 8, requires_grad=True), norm, [linear])
    assert "NormLinears" not in type(small.grad_fn).__name__
    assert "NormLinears" in type(large.grad_fn).__name__


def _ar_training_step(model: nn.Module, tokens: torch.Tensor, prefix_len: int):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same prefix dropout in both runs
    logits = model(tokens[:, :-1], prefix_len=prefix_len)
    loss = nn.functional.cross_entropy(logits.transpose(1, 2), tokens[:, prefix_len + 1 :])
    loss.backward()
    return loss.detach(), {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_small_perceiver_ar_plain_path_equals_the_recomputing_path(monkeypatch, dtype):
    """The plain modules that small models run give the loss and gradients of the recomputing
    functions: to 1e-12 in float64, to 1e-6 (relative, the float32 rounding of a different order
    of operations) in float32."""
    torch.manual_seed(0)
    model = CausalSequenceModel(
        vocab_size=32, max_seq_len=24, max_latents=8, num_channels=16, num_heads=2,
        num_self_attention_layers=2, cross_attention_dropout=0.5,
    ).to(dtype)  # fmt: skip
    tokens = torch.randint(0, 32, (3, 25))
    recomputed = _ar_training_step(model, tokens, 16)  # the fixture: every layer recomputes
    monkeypatch.setattr(_recompute, "RECOMPUTE_MIN_ELEMENTS", RECOMPUTE_MIN_ELEMENTS)
    plain = _ar_training_step(model, tokens, 16)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-6, "atol": 1e-7}
    assert_close(plain[0], recomputed[0], **tol)
    assert plain[1].keys() == recomputed[1].keys()
    for name, grad in recomputed[1].items():
        assert_close(plain[1][name], grad, **tol, msg=name)
