"""Workload 2: optical flow at 368x496, batch 1: core ``OpticalFlow`` vs transformers'
``PerceiverForOpticalFlow`` with the official configuration and identical weights.

Our decoder decodes the h * w output queries in chunks of ``output_chunk_size``; every attention
runs through SDPA (CPU flash attention: no (queries x keys) score matrix is materialized).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

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

__all__ = ["FlowBenchConfig", "build_models", "run"]


@dataclass
class FlowBenchConfig:
    """transformers' config of deepmind/optical-flow-perceiver (41,057,134 parameters)."""

    image_shape: tuple[int, int] = (368, 496)
    batch_size: int = 1
    num_latents: int = 2048
    d_latents: int = 512
    num_self_attends_per_block: int = 24
    num_self_attention_heads: int = 16
    num_cross_attention_heads: int = 1
    output_chunk_size: int | None = 8192

    @classmethod
    def tiny(cls) -> FlowBenchConfig:
        return cls(
            image_shape=(16, 24), num_latents=32, d_latents=64, num_self_attends_per_block=2,
            num_self_attention_heads=4, output_chunk_size=100,
        )  # fmt: skip


def build_models(cfg: FlowBenchConfig):
    """(transformers model, our core model) with identical weights, in eval mode."""
    from transformers import PerceiverConfig, PerceiverForOpticalFlow

    from perceiver.hf.vision.optical_flow import convert_source_model

    torch.manual_seed(0)
    source = PerceiverForOpticalFlow(
        PerceiverConfig(
            num_latents=cfg.num_latents,
            d_latents=cfg.d_latents,
            num_blocks=1,
            num_self_attends_per_block=cfg.num_self_attends_per_block,
            num_self_attention_heads=cfg.num_self_attention_heads,
            num_cross_attention_heads=cfg.num_cross_attention_heads,
            train_size=list(cfg.image_shape),
            attention_probs_dropout_prob=0.0,
        )
    ).eval()
    # transformers zero-initializes biases and some output layers; noise on every parameter
    # makes the flow non-trivial, so that comparing outputs means something
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    ours = convert_source_model(source, output_chunk_size=cfg.output_chunk_size).backend_model.eval()
    return source, ours


def run(settings: Settings) -> WorkloadResult:
    cfg = FlowBenchConfig.tiny() if settings.tiny else FlowBenchConfig()
    theirs, ours = (settings.to(m) for m in build_models(cfg))
    x = torch.randn(cfg.batch_size, 2, 27, *cfg.image_shape, generator=torch.Generator().manual_seed(1))
    x = settings.to(x)
    result = WorkloadResult(
        "flow",
        "Optical flow: core OpticalFlow vs transformers PerceiverForOpticalFlow (identical weights)",
        {
            **asdict(cfg),
            "precision": settings.precision,
            "num_params": sum(p.numel() for p in ours.parameters()),
        },
    )

    outputs = {}

    @torch.no_grad()
    def fwd_ours():
        with settings.autocast():
            outputs["perceiver"] = ours(x)

    @torch.no_grad()
    def fwd_theirs():
        with settings.autocast():
            outputs["transformers"] = theirs(inputs=x).logits

    fns = {"perceiver": fwd_ours, "transformers": fwd_theirs}
    # one forward each takes tens of seconds on 2 cores: the FLOP-count run is also the
    # warm-up and gives the outputs to compare, the memory run is a second warm-up
    flops = {name: count_flops(fn) for name, fn in fns.items()}
    diff = max_rel_diff(outputs["perceiver"], outputs["transformers"])
    outputs.clear()
    peaks = {name: peak_memory(fn, settings.device) for name, fn in fns.items()}
    times = time_interleaved(fns, settings.repeats if not settings.quick else 2, warmup=0)
    for name in fns:
        result.measurements.append(
            Measurement("flow", "forward", name, times[name], flops[name], peaks[name])
        )
    ours_m, theirs_m = result.get("forward", "perceiver"), result.get("forward", "transformers")
    result.checks += [
        Check("forward: peak memory vs transformers", ours_m.peak_bytes / theirs_m.peak_bytes, 0.25, "<="),
        Check("forward: time vs transformers", ours_m.median_s / theirs_m.median_s, 1.0, "<="),
        Check("forward: max |flow difference| / max |flow|", diff, settings.tolerance, "<="),
    ]
    result.notes.append(
        "Warm-up: the FLOP-count run (which also gives the outputs compared) and the memory run."
    )
    return result
