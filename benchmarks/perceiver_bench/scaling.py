"""Workload 5: scaling with input length.

- Perceiver IO encoder (the masked-LM encoder's shape: 384 input channels, 256 latents of 640
  channels, 8 self-attention layers) over 1k-64k input positions, forward: time and peak memory
  must grow linearly in the input length (cross-attention is latents x inputs, never
  inputs x inputs).
- Perceiver AR training step (512 channels, 8 layers, batch 1) against prefix length 1k-16k.
"""

from __future__ import annotations

import torch

from perceiver_bench.causal import ARBenchConfig, build_model, train_step_fn
from perceiver_bench.measure import (
    Check,
    Measurement,
    Settings,
    WorkloadResult,
    count_flops,
    peak_memory,
    time_interleaved,
)

__all__ = ["run_ar", "run_encoder"]


def _encoder(tiny: bool):
    from perceiver.model.core import InputAdapter, PerceiverEncoder

    class FeatureAdapter(InputAdapter):
        """Identity over precomputed features (b, m, c): isolates the encoder."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    c_in, n_lat, c_lat, layers = (32, 16, 64, 2) if tiny else (384, 256, 640, 8)
    torch.manual_seed(0)
    encoder = PerceiverEncoder(
        input_adapter=FeatureAdapter(c_in),
        num_latents=n_lat,
        num_latent_channels=c_lat,
        num_cross_attention_heads=8 if not tiny else 4,
        num_self_attention_heads=8 if not tiny else 4,
        num_self_attention_layers_per_block=layers,
    ).eval()
    return encoder, {"num_input_channels": c_in, "num_latents": n_lat, "num_latent_channels": c_lat,
                     "num_self_attention_layers": layers, "heads": 8 if not tiny else 4, "batch_size": 1}  # fmt: skip


def _linearity_checks(result: WorkloadResult, case_prefix: str, lengths: list[int]) -> None:
    """Peak memory per position at the longest length over that at the shortest (linear: ~1, quadratic: ~L/l)."""
    first, last = result.measurements[0], result.measurements[-1]
    growth = (last.peak_bytes / first.peak_bytes) / (lengths[-1] / lengths[0])
    result.checks.append(
        Check(
            f"{case_prefix}: memory growth {lengths[0]} -> {lengths[-1]}, relative to linear",
            growth,
            1.5,
            "<=",
            note=f"1.0 = linear; quadratic growth would give {lengths[-1] / lengths[0]:.0f}",
        )
    )


def run_encoder(settings: Settings) -> WorkloadResult:
    encoder, config = _encoder(settings.tiny)
    encoder = settings.to(encoder)
    if settings.tiny:
        lengths = [64, 256]
    else:
        lengths = [1024, 4096, 16384] if settings.quick else [1024, 4096, 16384, 65536]
    result = WorkloadResult(
        "scaling_encoder",
        "Perceiver IO encoder forward vs input length",
        {**config, "lengths": lengths, "precision": settings.precision},
    )
    for n in lengths:
        x = settings.to(torch.randn(1, n, config["num_input_channels"]))

        @torch.no_grad()
        def fwd(x=x):
            with settings.autocast():
                return encoder(x)

        flops = count_flops(fwd)
        peak = peak_memory(fwd, settings.device)
        times = time_interleaved({"f": fwd}, max(settings.repeats - 2, 1), settings.warmup)["f"]
        result.measurements.append(
            Measurement("scaling_encoder", f"{n} positions", "perceiver", times, flops, peak, {"length": n})
        )
    _linearity_checks(result, "encoder", lengths)
    return result


def run_ar(settings: Settings) -> WorkloadResult:
    cfg = ARBenchConfig.tiny() if settings.tiny else ARBenchConfig()
    if settings.tiny:
        prefixes = [32, 128]
    else:
        prefixes = [1024, 4096] if settings.quick else [1024, 2048, 4096, 8192, 16384]
    model = settings.to(build_model(cfg, max_seq_len=prefixes[-1] + cfg.max_latents))
    result = WorkloadResult(
        "scaling_ar",
        f"Perceiver AR training step vs prefix length ({cfg.num_channels} channels, "
        f"{cfg.num_self_attention_layers} layers, batch 1, prefix dropout {cfg.cross_attention_dropout})",
        {"num_channels": cfg.num_channels, "num_latents": cfg.max_latents, "num_self_attention_layers": cfg.num_self_attention_layers,
         "num_heads": cfg.num_heads, "batch_size": 1, "prefix_lengths": prefixes, "cross_attention_dropout": cfg.cross_attention_dropout, "precision": settings.precision},
    )  # fmt: skip
    for p in prefixes:
        step = train_step_fn(model, 1, p + cfg.max_latents, settings=settings)
        flops = count_flops(step)
        peak = peak_memory(step, settings.device)
        times = time_interleaved({"s": step}, max(settings.repeats - 2, 1), settings.warmup)["s"]
        result.measurements.append(
            Measurement("scaling_ar", f"prefix {p}", "perceiver", times, flops, peak, {"length": p})
        )
    return result
