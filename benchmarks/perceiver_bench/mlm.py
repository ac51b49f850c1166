"""Workload 1: Perceiver IO masked LM against transformers' PerceiverForMaskedLM, same weights.

A transformers ``PerceiverForMaskedLM`` is built from a b4-like config with random weights and
converted with perceiver-hf's production converter, so both models hold identical weights.
Forward (inference, ``torch.no_grad``) and training step (forward, cross-entropy over every
position, backward) are timed side by side; dropout is 0 so that outputs and losses compare.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from perceiver_bench.measure import (
    Check,
    Measurement,
    Settings,
    WorkloadResult,
    count_flops,
    max_rel_diff,
    peak_memory,
    time_interleaved,
)

__all__ = ["MLMBenchConfig", "build_models", "run"]


@dataclass
class MLMBenchConfig:
    batch_size: int = 4
    seq_len: int = 2048  # = max_position_embeddings: transformers always decodes all of them
    vocab_size: int = 262
    num_latents: int = 256
    d_latents: int = 640
    d_model: int = 384
    num_self_attends_per_block: int = 8
    num_heads: int = 8

    @classmethod
    def tiny(cls) -> MLMBenchConfig:
        return cls(
            batch_size=2, seq_len=64, num_latents=16, d_latents=64, d_model=32, num_self_attends_per_block=2
        )


def build_models(cfg: MLMBenchConfig):
    """(transformers model, our core model) with identical weights, in eval mode."""
    from transformers import PerceiverConfig, PerceiverForMaskedLM

    from perceiver.hf.text.mlm import convert_source_model

    torch.manual_seed(0)
    source = PerceiverForMaskedLM(
        PerceiverConfig(
            vocab_size=cfg.vocab_size,
            max_position_embeddings=cfg.seq_len,
            num_latents=cfg.num_latents,
            d_latents=cfg.d_latents,
            d_model=cfg.d_model,
            num_blocks=1,
            num_self_attends_per_block=cfg.num_self_attends_per_block,
            num_self_attention_heads=cfg.num_heads,
            num_cross_attention_heads=cfg.num_heads,
            attention_probs_dropout_prob=0.0,
        )
    ).eval()
    ours = convert_source_model(source).backend_model.eval()
    return source, ours


def _set_checkpointing(model, on: bool) -> None:
    for module in model.modules():
        if hasattr(module, "activation_checkpointing"):
            module.activation_checkpointing = on


def run(settings: Settings) -> WorkloadResult:
    cfg = MLMBenchConfig.tiny() if settings.tiny else MLMBenchConfig()
    theirs, ours = (settings.to(m) for m in build_models(cfg))
    g = torch.Generator().manual_seed(1)
    ids = settings.to(torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.seq_len), generator=g))
    labels = settings.to(torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.seq_len), generator=g))
    result = WorkloadResult(
        "mlm",
        "Perceiver IO masked LM vs transformers PerceiverForMaskedLM (identical weights)",
        {
            **asdict(cfg),
            "dropout": 0.0,
            "num_blocks": 1,
            "precision": settings.precision,
            "num_params": sum(p.numel() for p in ours.parameters()),
        },
    )

    @torch.no_grad()
    def fwd_ours():
        with settings.autocast():
            return ours(ids)

    @torch.no_grad()
    def fwd_theirs():
        with settings.autocast():
            return theirs(inputs=ids).logits

    def train_ours():
        ours.zero_grad(set_to_none=True)
        with settings.autocast():
            logits = ours(ids)
        loss = F.cross_entropy(logits.float().transpose(1, 2), labels)
        del logits  # not kept alive through the backward pass (peak memory)
        loss.backward()
        return loss.detach()

    def train_theirs():
        theirs.zero_grad(set_to_none=True)
        with settings.autocast():
            logits = theirs(inputs=ids).logits
        loss = F.cross_entropy(logits.float().transpose(1, 2), labels)
        del logits  # not kept alive through the backward pass (peak memory)
        loss.backward()
        return loss.detach()

    # outputs equal (transformers decodes max_position_embeddings positions = the input's)
    logit_diff = max_rel_diff(fwd_ours(), fwd_theirs())
    ours.train(), theirs.train()
    loss_diff = abs(train_ours().item() - train_theirs().item())
    grad_diff = max_rel_diff(
        ours.encoder.latent_provider._queries.grad, theirs.perceiver.embeddings.latents.grad[None]
    )
    ours.eval(), theirs.eval()

    for case, fns, train in (
        ("forward", {"perceiver": fwd_ours, "transformers": fwd_theirs}, False),
        ("train step", {"perceiver": train_ours, "transformers": train_theirs}, True),
    ):
        ours.train(train), theirs.train(train)
        flops = {name: count_flops(fn) for name, fn in fns.items()}
        peaks = {name: peak_memory(fn, settings.device) for name, fn in fns.items()}
        times = time_interleaved(fns, settings.repeats, settings.warmup)
        for name in fns:
            result.measurements.append(Measurement("mlm", case, name, times[name], flops[name], peaks[name]))
        ours_m, theirs_m = result.get(case, "perceiver"), result.get(case, "transformers")
        result.checks.append(
            Check(f"{case}: throughput vs transformers", theirs_m.median_s / ours_m.median_s, 1.25, ">=")
        )
        result.checks.append(
            Check(f"{case}: peak memory vs transformers", ours_m.peak_bytes / theirs_m.peak_bytes, 0.5, "<=")
        )
    # activation checkpointing (a config option; transformers' Perceiver refuses it): memory for time
    ours.train()
    _set_checkpointing(ours, True)
    peak = peak_memory(train_ours, settings.device)
    times = time_interleaved({"c": train_ours}, max(settings.repeats // 2, 1), warmup=0)["c"]
    _set_checkpointing(ours, False)
    name = "perceiver (activation checkpointing)"
    result.measurements.append(Measurement("mlm", "train step", name, times, peak_bytes=peak))
    theirs_m = result.get("train step", "transformers")
    result.checks.append(
        Check(
            "train step, activation checkpointing: peak memory vs transformers",
            peak / theirs_m.peak_bytes,
            0.5,
            "<=",
        )
    )
    ours.eval(), theirs.eval()
    tol = settings.tolerance
    result.checks.append(Check("forward: max |logit difference| / max |logit|", logit_diff, tol, "<="))
    result.checks.append(Check("train step: |loss difference|", loss_diff, tol, "<="))
    result.checks.append(
        Check("train step: max |latent gradient difference| / max |gradient|", grad_diff, tol, "<=")
    )
    return result
