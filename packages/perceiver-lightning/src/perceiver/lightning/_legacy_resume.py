"""Resuming a krasserm/perceiver-io 0.11 training run (``ckpt_path=<its .ckpt>``).

Its weights are converted with the key tables of :mod:`perceiver.model.core.legacy`. Its
optimizer state is keyed by the position of each parameter in its model's ``parameters()``;
it is carried over when the tables map its parameters one-to-one onto ours (renames only:
every parameter of ours has exactly one of its parameters, of the same shape), re-keyed by our
parameter order. Its learning rate schedule state is carried over as it is. Otherwise (its
Perceiver AR has no biases where ours has zero biases, its checkpoint holds weights only, another
optimizer or schedule) resuming is refused with an error that names the file and points to
``params=`` (``--model.params``): a new run from its weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from perceiver.lightning.optim import spec_of
from perceiver.model.core.checkpoint import TASK_KEY, legacy_backend

__all__ = ["convert_legacy_checkpoint"]

BACKEND_PREFIX = "backend_model."
LEGACY_PREFIX = "model."


class LegacyResumeError(ValueError):
    pass


def convert_legacy_checkpoint(
    module: Any, checkpoint: dict[str, Any], path: str | None, fitting: bool, architecture_diff: Any
) -> None:
    """Turn a perceiver-io 0.11 ``checkpoint`` into one of ``module`` (a ``Lit*`` wrapper), in place.

    Args:
        path: the checkpoint file (for messages), None when unknown.
        fitting: resuming training (the optimizer and schedule states are needed), not
            evaluating or predicting (weights only).
    """
    source = repr(path) if path is not None else "the checkpoint"
    weights = path if path is not None else "<checkpoint>"
    hint = (
        f"start a new run from its weights instead: --model.params={weights} on the command line, "
        f"params={weights!r} in Python"
    )
    try:
        config, state = legacy_backend(checkpoint, module.task)
    except ValueError as e:
        raise ValueError(f"{source} (a perceiver-io 0.11 checkpoint): {e}") from None
    diff = architecture_diff(config, module.config)
    if diff:
        raise ValueError(
            f"{source} (a perceiver-io 0.11 checkpoint) holds a model of another architecture than this "
            f"{type(module).__name__}: {', '.join(diff)}. Build the model with these values"
        )
    if fitting:
        _convert_training_state(module, checkpoint, state, source, hint)
    checkpoint["state_dict"] = {BACKEND_PREFIX + k: v for k, v in state.items()}
    checkpoint["hyper_parameters"] = dict(module.hparams)
    checkpoint[TASK_KEY] = module.task


def _convert_training_state(
    module: Any, checkpoint: dict[str, Any], state: Mapping[str, torch.Tensor], source: str, hint: str
) -> None:
    prefix = f"cannot resume the perceiver-io 0.11 run {source}"
    optimizer_states = checkpoint.get("optimizer_states")
    if not optimizer_states:
        raise LegacyResumeError(
            f"{prefix}: the checkpoint holds no optimizer state (perceiver-io 0.11's trainer.yaml "
            f"saved weights only); {hint}"
        )
    if len(optimizer_states) != 1:
        raise LegacyResumeError(
            f"{prefix}: it has {len(optimizer_states)} optimizers, this model one; {hint}"
        )
    order = _parameter_order(module.backend_model, checkpoint, state, prefix, hint)
    optimizer_state = optimizer_states[0]
    groups = optimizer_state.get("param_groups", [])
    if len(groups) != 1 or len(groups[0].get("params", [])) != len(order):
        sizes = [len(g.get("params", [])) for g in groups]
        raise LegacyResumeError(
            f"{prefix}: its optimizer has parameter groups of sizes {sizes}, this model one group of "
            f"{len(order)} parameters; {hint}"
        )
    _check_optimizer_class(module, groups[0], prefix, hint)
    _check_lr_schedulers(module, checkpoint.get("lr_schedulers") or [], prefix, hint)
    # ours[j] is the legacy parameter at position order[j]: torch's load_state_dict pairs the saved
    # ids of a group, in list order, with the group's parameters
    position = {legacy_index: j for j, legacy_index in enumerate(order)}
    saved_ids = groups[0]["params"]
    optimizer_state["state"] = {
        position[saved_ids.index(k)]: v for k, v in optimizer_state.get("state", {}).items()
    }
    optimizer_state["param_groups"] = [{**groups[0], "params": list(range(len(order)))}]


def _parameter_order(
    model: nn.Module, checkpoint: dict[str, Any], state: Mapping[str, torch.Tensor], prefix: str, hint: str
) -> list[int]:
    """For each of our parameters, in ``model.parameters()`` order, the position of its perceiver-io
    parameter in that library's ``parameters()`` order."""
    legacy = {
        k.removeprefix(LEGACY_PREFIX): v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith(LEGACY_PREFIX)
    }
    # the tables rename: our tensor is the very tensor of the perceiver-io key it came from
    origin = {id(v): k for k, v in legacy.items()}
    ours = [name for name, _ in model.named_parameters()]
    parameters = dict(model.named_parameters())
    mapped = {name: origin.get(id(state.get(name))) for name in ours}
    unmatched = [name for name, key in mapped.items() if key is None]
    shapes = [
        name
        for name, key in mapped.items()
        if key is not None and tuple(legacy[key].shape) != tuple(parameters[name].shape)
    ]
    if unmatched or shapes:
        detail = (
            f"{len(unmatched)} of this model's parameters have no counterpart in it ({unmatched[:4]}"
            f"{' ...' if len(unmatched) > 4 else ''})"
            if unmatched
            else f"parameters of other shapes ({shapes[:4]})"
        )
        raise LegacyResumeError(
            f"{prefix}: its parameters do not map one-to-one onto this model's, so its optimizer state "
            f"cannot be carried over: {detail}; {hint}"
        )
    # perceiver-io's parameters() order: its state dict's order, without buffers (tensors that are
    # not parameters of ours: derived position encodings ...)
    legacy_parameters = [k for k in legacy if k in set(mapped.values())]
    index = {k: i for i, k in enumerate(legacy_parameters)}
    return [index[mapped[name]] for name in ours]


def _check_optimizer_class(module: Any, group: Mapping[str, Any], prefix: str, hint: str) -> None:
    """Refuse the state of another optimizer (its hyperparameter names differ from ours)."""
    if type(module).configure_optimizers is not _base_configure_optimizers(module):
        return  # the user's own configure_optimizers: torch checks what it loads
    from perceiver.lightning.optim import build_optimizer

    spec = spec_of(module.hparams.get("optimizer"), "optimizer")
    ours = build_optimizer(spec, [nn.Parameter(torch.zeros(1))])
    theirs_keys = set(group) - {"params", "param_names"}
    ours_keys = set(ours.param_groups[0]) - {"params", "param_names"}
    unknown = sorted(theirs_keys - ours_keys)
    if unknown:
        raise LegacyResumeError(
            f"{prefix}: its optimizer state has the hyperparameters {unknown}, which this run's "
            f"{type(ours).__name__} does not have: pass the optimizer of that run (--optimizer=<its class>); "
            f"or {hint}"
        )


def _check_lr_schedulers(module: Any, schedulers: list[Any], prefix: str, hint: str) -> None:
    if type(module).configure_optimizers is not _base_configure_optimizers(module):
        return
    ours = 0 if module.hparams.get("lr_scheduler") is None else 1
    if len(schedulers) != ours:
        theirs = "a learning rate schedule" if schedulers else "no learning rate schedule"
        mine = "one" if ours else "none"
        raise LegacyResumeError(
            f"{prefix}: that run had {theirs}, this one has {mine}: pass the schedule of that run "
            f"(--lr_scheduler=<its class>, or lr_scheduler=None for none); or {hint}"
        )


def _base_configure_optimizers(module: Any) -> Any:
    from perceiver.lightning._base import LitModel

    return LitModel.configure_optimizers
