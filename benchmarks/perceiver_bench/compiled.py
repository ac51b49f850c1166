"""Workload 6: torch.compile (inductor, default mode) on the masked LM forward, the Perceiver AR
training step and the optical flow forward: speedup over eager and agreement of the outputs.

Compilation time is reported separately (first call); timings are of later calls. Compiled
generation (the cached decoding step, dynamic in the cache length) is timed in the generation
workload, beside eager cached and uncached generation.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from perceiver_bench import causal, flow, mlm
from perceiver_bench.measure import (
    Check,
    Measurement,
    Settings,
    WorkloadResult,
    max_abs_diff,
    max_rel_diff,
    time_interleaved,
)

__all__ = ["run"]


def _compare(result: WorkloadResult, settings: Settings, name: str, eager, compiled, outputs) -> None:
    start = time.perf_counter()
    compiled()
    compile_s = time.perf_counter() - start
    times = time_interleaved({"eager": eager, "compiled": compiled}, settings.repeats, settings.warmup)
    result.measurements.append(Measurement("compile", name, "perceiver (eager)", times["eager"]))
    result.measurements.append(
        Measurement(
            "compile", name, "perceiver (compiled)", times["compiled"], extra={"compile_s": compile_s}
        )
    )
    speedup = (
        result.get(name, "perceiver (eager)").median_s / result.get(name, "perceiver (compiled)").median_s
    )
    result.checks.append(
        Check(
            f"{name}: torch.compile speedup", speedup, 1.0, ">=", note=f"compilation took {compile_s:.0f} s"
        )
    )
    compiled_out, eager_out = outputs()
    if settings.precision == "32":
        diff = max_abs_diff(compiled_out, eager_out)
        result.checks.append(Check(f"{name}: max |compiled - eager| output", diff, 1e-3, "<="))
    else:  # bfloat16: relative to the output's scale
        diff = max_rel_diff(compiled_out, eager_out)
        result.checks.append(
            Check(f"{name}: max |compiled - eager| / max |eager| output", diff, settings.tolerance, "<=")
        )


def _inference(settings: Settings, fn):
    """``fn`` without autograd, under the settings' precision."""

    def call():
        with torch.no_grad(), settings.autocast():
            return fn()

    return call


def run(settings: Settings) -> WorkloadResult:
    torch._dynamo.reset()
    result = WorkloadResult(
        "compile",
        "torch.compile speedup (inductor, default mode)",
        {"backend": settings.compile_backend, "mode": "default", "precision": settings.precision},
    )

    # masked LM forward
    mcfg = mlm.MLMBenchConfig.tiny() if settings.tiny else mlm.MLMBenchConfig()
    model = settings.to(mlm.build_models(mcfg)[1])
    compiled_model = torch.compile(model, backend=settings.compile_backend)
    ids = torch.randint(
        0, mcfg.vocab_size, (mcfg.batch_size, mcfg.seq_len), generator=torch.Generator().manual_seed(1)
    )
    ids = settings.to(ids)
    eager = _inference(settings, lambda: model(ids))
    comp = _inference(settings, lambda: compiled_model(ids))
    _compare(result, settings, "mlm forward", eager, comp, lambda: (comp(), eager()))

    # Perceiver AR training step (outputs compared in eval mode: prefix dropout is random)
    acfg = causal.ARBenchConfig.tiny() if settings.tiny else causal.ARBenchConfig()
    acfg.batch_size = settings.ar_batch_size or acfg.batch_size
    ar = settings.to(causal.build_model(acfg))
    ar_compiled = torch.compile(ar, backend=settings.compile_backend)
    step_eager = causal.train_step_fn(ar, acfg.batch_size, acfg.max_seq_len, settings=settings)
    step_comp = causal.train_step_fn(ar_compiled, acfg.batch_size, acfg.max_seq_len, settings=settings)

    def ar_outputs():
        x = torch.randint(
            0,
            acfg.vocab_size,
            (acfg.batch_size, acfg.max_seq_len),
            generator=torch.Generator().manual_seed(3),
        )
        x = settings.to(x)
        ar.eval()
        with torch.no_grad(), settings.autocast():
            out = ar_compiled(x), ar(x)
        ar.train()
        return out

    _compare(result, settings, "ar train step", step_eager, step_comp, ar_outputs)

    # optical flow forward (full mode only: one forward takes tens of seconds on 2 cores)
    if not settings.quick or settings.tiny:
        fcfg = flow.FlowBenchConfig.tiny() if settings.tiny else flow.FlowBenchConfig()
        fmodel = settings.to(flow.build_models(fcfg)[1])
        fcompiled = torch.compile(fmodel, backend=settings.compile_backend)
        x = torch.randn(1, 2, 27, *fcfg.image_shape, generator=torch.Generator().manual_seed(1))
        x = settings.to(x)
        feager = _inference(settings, lambda: fmodel(x))
        fcomp = _inference(settings, lambda: fcompiled(x))
        flow_settings = dataclasses.replace(settings, repeats=min(settings.repeats, 2), warmup=0)
        _compare(result, flow_settings, "flow forward", feager, fcomp, lambda: (fcomp(), feager()))
    return result
