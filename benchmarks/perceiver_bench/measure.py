"""Timing, peak memory, FLOP counting and the matmul peak, shared by every workload.

- Device and precision (:class:`Settings`): float32 on the CPU by default; ``device="cuda"``
  and ``precision="bf16-mixed"`` (autocast to bfloat16 over float32 weights, as Lightning's
  precision of that name) for the GPU run. Workloads move models and inputs with
  :meth:`Settings.to` and run under :meth:`Settings.autocast`.
- Time: ``time.perf_counter`` around each call, after warm-up; implementations compared
  side by side are interleaved repetition by repetition, so load from other processes hits
  both alike. Figures are medians. Once CUDA is in use, the device is synchronized before and
  after each call, so that a call's time includes its kernels.
- Peak memory: the CPU allocator reports every allocation and free to ``torch.profiler``
  (``profile_memory=True``); the running sum of those events over one call gives the peak of
  tensor memory allocated *during* the call, on top of what was already allocated (weights,
  inputs). ``tracemalloc`` does not see torch's allocations and process RSS mixes in the
  allocator's caching, so neither is used. On CUDA, the caching allocator's own peak counter
  (``torch.cuda.max_memory_allocated``, reset before the call) gives the same quantity.
- FLOPs: the formulas of ``torch.utils.flop_counter`` (the registry behind ``FlopCounterMode``:
  matmuls, convolutions, attention), applied by a dispatch mode without ``FlopCounterMode``'s
  module tracker (which fails on modules that return a parameter under ``no_grad``). The CPU
  flash-attention kernels, which the registry does not know, are counted like any other SDPA
  kernel (causal attention as full attention, the usual convention).
- MFU: counted FLOPs / median time / matmul peak, the peak being the best FLOP/s of large
  matmuls in the compute dtype (float32, or bfloat16 under ``bf16-mixed``) timed in the same
  run (at its start and at its end). The Perceiver AR
  training target is also checked against a square matmul timed side by side with the
  training step (repetitions interleaved, median against median), which is insensitive to
  the machine's speed drifting between the start of the run and the workload.
"""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry, sdpa_backward_flop_count, sdpa_flop_count, shape_wrapper

__all__ = [
    "PRECISIONS",
    "Check",
    "Measurement",
    "Settings",
    "WorkloadResult",
    "count_flops",
    "machine_info",
    "matmul_peak",
    "max_abs_diff",
    "max_rel_diff",
    "op_breakdown",
    "peak_memory",
    "square_matmul",
    "synchronize",
    "time_interleaved",
]


PRECISIONS = ("32", "bf16-mixed")
_T = TypeVar("_T")


@dataclass
class Settings:
    """How hard to measure: ``tiny`` configs for the smoke test, ``quick`` for fewer points;
    where: ``device`` and ``precision`` (``"32"``: float32; ``"bf16-mixed"``: autocast to
    bfloat16); ``ar_batch_size`` overrides the Perceiver AR training batch size (a GPU needs
    more than the CPU's 4 to be busy)."""

    repeats: int = 5
    warmup: int = 1
    quick: bool = False
    tiny: bool = False
    threads: int = 2
    compile_backend: str = "inductor"  # the smoke test uses "aot_eager": tracing without codegen
    peak_flops: float = 0.0  # matmul peak FLOP/s, measured by the runner
    device: str = "cpu"
    precision: str = "32"
    ar_batch_size: int | None = None
    # the quantized workload's trained model: a causal LM checkpoint and its held-out text
    quantized_checkpoint: str | None = None
    quantized_valid_text: str | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device is {self.device!r}, but torch sees no CUDA device")
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda[:index]', got {self.device!r}")
        if self.ar_batch_size is not None and self.ar_batch_size < 1:
            raise ValueError(f"ar_batch_size must be positive, got {self.ar_batch_size}")

    @property
    def compute_dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.precision == "bf16-mixed" else torch.float32

    @property
    def tolerance(self) -> float:
        """Largest relative difference accepted between implementations (bfloat16 keeps 8 bits)."""
        return 5e-2 if self.precision == "bf16-mixed" else 1e-4

    def to(self, x: _T) -> _T:
        """A module or tensor on the device (float32 weights under either precision)."""
        return x.to(self.device)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "32":
            return contextlib.nullcontext()
        return torch.autocast(torch.device(self.device).type, dtype=self.compute_dtype)


@dataclass
class Measurement:
    workload: str
    case: str  # e.g. "forward", "train step"
    impl: str  # "perceiver", "transformers", "perceiver (compiled)", ...
    times_s: list[float]
    flops: int | None = None
    peak_bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    def mfu(self, peak_flops: float) -> float | None:
        if not self.flops or not peak_flops:
            return None
        return self.flops / self.median_s / peak_flops

    def as_dict(self, peak_flops: float) -> dict[str, Any]:
        d = asdict(self)
        d["median_s"] = self.median_s
        d["mfu"] = self.mfu(peak_flops)
        d["tflops_per_s"] = None if not self.flops else self.flops / self.median_s / 1e12
        return d


@dataclass
class Check:
    """A target: ``value <op> target`` (op is ">=" or "<=")."""

    name: str
    value: float
    target: float
    op: str
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.value >= self.target if self.op == ">=" else self.value <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


@dataclass
class WorkloadResult:
    workload: str
    title: str
    config: dict[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, case: str, impl: str) -> Measurement:
        for m in self.measurements:
            if m.case == case and m.impl == impl:
                return m
        raise KeyError(f"no measurement {case!r} / {impl!r} in {self.workload}")

    def as_dict(self, peak_flops: float) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "title": self.title,
            "config": self.config,
            "measurements": [m.as_dict(peak_flops) for m in self.measurements],
            "checks": [c.as_dict() for c in self.checks],
            "notes": self.notes,
        }


def synchronize() -> None:
    """Wait for queued CUDA kernels, once CUDA is in use (no-op otherwise)."""
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()


def time_interleaved(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each function, repetitions interleaved across the functions."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(repeats, 1)):
        for name, fn in fns.items():
            gc.collect()
            synchronize()
            start = time.perf_counter()
            fn()
            synchronize()
            times[name].append(time.perf_counter() - start)
    return times


def peak_memory(fn: Callable[[], Any], device: str = "cpu") -> int:
    """Peak bytes of tensor memory on ``device`` allocated during ``fn()`` beyond what was
    allocated before."""
    gc.collect()
    if torch.device(device).type == "cuda":
        synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        result = fn()
        del result
        synchronize()
        return torch.cuda.max_memory_allocated(device) - before
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=False) as prof:
        result = fn()
        del result
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    current = peak = 0
    for e in events:
        current += e.nbytes()  # negative for a free
        peak = max(peak, current)
    return peak


def _cpu_flash(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_flash_backward(
    grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs
) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


_aten = torch.ops.aten
_FLOP_FORMULAS = {
    **flop_registry,
    _aten._scaled_dot_product_flash_attention_for_cpu: shape_wrapper(_cpu_flash),
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: shape_wrapper(_cpu_flash_backward),
}


class _FlopCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = _FLOP_FORMULAS.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of ``fn`` (runs it once)."""
    with _FlopCounter() as counter:
        fn()
    return counter.total


# operator categories of :func:`op_breakdown`, by ATen name (in-place and out= overloads included)
_MATMUL_OPS = {"mm", "addmm", "addmm_", "bmm", "baddbmm", "addbmm", "_addmm_activation"}
_NORM_OPS = {
    "native_layer_norm",
    "native_layer_norm_backward",
    "native_group_norm",
    "native_group_norm_backward",
}
OP_CATEGORIES = ("matmul", "attention", "norm", "optimizer", "other ops")


def _category(name: str) -> str:
    if name in _MATMUL_OPS:
        return "matmul"
    if "scaled_dot_product" in name:
        return "attention"
    if name in _NORM_OPS:
        return "norm"
    if name.startswith(("_fused_adam", "_foreach_")):
        return "optimizer"
    return "other ops"


class _OpTimer(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.seconds = dict.fromkeys(OP_CATEGORIES, 0.0)
        self.flops = dict.fromkeys(OP_CATEGORIES, 0)
        self.calls = dict.fromkeys(OP_CATEGORIES, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        start = time.perf_counter()
        out = func(*args, **kwargs)
        elapsed = time.perf_counter() - start
        category = _category(func._overloadpacket.__name__)
        self.seconds[category] += elapsed
        self.calls[category] += 1
        formula = _FLOP_FORMULAS.get(func._overloadpacket)
        if formula is not None:
            self.flops[category] += formula(*args, **kwargs, out_val=out)
        return out


def op_breakdown(fn: Callable[[], Any], repeats: int = 3) -> dict[str, Any]:
    """Where the time of ``fn()`` goes, on the CPU: ``{"wall_s": mean seconds per call,
    "parts": {category: {"s", "flops", "calls"}}}``, the seconds, FLOPs and calls of each
    category of ATen operators (:data:`OP_CATEGORIES`) per call, averaged over ``repeats``
    calls.

    Each operator is timed where it is dispatched (``time.perf_counter`` around the kernel
    call), which on the CPU is synchronous. Unlike ``torch.profiler``, whose bookkeeping
    inflated short elementwise kernels 3-5x in the Perceiver AR training step (a GELU of
    1024 x 2048 floats: 5 ms under the profiler, 1-1.6 ms without it), this adds nothing inside
    the timed region. What the operators leave of the wall time is Python, autograd's engine
    and dispatch, plus this timer's own Python (a few microseconds per operator).
    """
    timer = _OpTimer()
    start = time.perf_counter()
    with timer:
        for _ in range(repeats):
            fn()
    wall = (time.perf_counter() - start) / repeats
    parts = {
        c: {
            "s": timer.seconds[c] / repeats,
            "flops": timer.flops[c] // repeats,
            "calls": timer.calls[c] // repeats,
        }
        for c in OP_CATEGORIES
    }
    return {"wall_s": wall, "parts": parts}


def matmul_peak(
    sizes: tuple[int, ...] = (1024, 2048, 3072),
    repeats: int = 10,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> dict[str, Any]:
    """Best FLOP/s of square matmuls of ``dtype`` on ``device`` (the MFU denominator).

    The fastest repetition, not the median: the peak is what the machine can do, and load from
    other processes only ever slows a repetition down.
    """
    best, per_size = 0.0, {}
    for n in sizes:
        mm, _ = square_matmul(n, device, dtype)
        times = time_interleaved({"mm": mm}, repeats, warmup=2)["mm"]
        flops = 2 * n**3 / min(times)
        per_size[n] = flops
        best = max(best, flops)
    return {"peak_flops": best, "per_size": per_size}


def square_matmul(
    n: int, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[Callable[[], Any], int]:
    """An (n x n) @ (n x n) matmul of ``dtype`` on ``device`` and its FLOPs: timed side by side
    with a workload, its median FLOP/s is the matmul rate the machine gives at the same moment.

    The product is written into one preallocated output. A fresh output each call would time
    the allocator too: interleaved with Perceiver AR training steps, the 16 MiB output of a
    2048 x 2048 float32 product came back as fresh pages in some repetitions (4,096 page
    faults each), which slowed the matmul and so inflated the MFU measured against it."""
    a, b, out = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(3))
    return (lambda: torch.mm(a, b, out=out)), 2 * n**3


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.detach().double() - b.detach().double()).abs().max().item()


def max_rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|: the difference relative to the output's scale."""
    return max_abs_diff(a, b) / b.detach().double().abs().max().item()


def machine_info(threads: int, device: str = "cpu", precision: str = "32") -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import transformers

        transformers_version = transformers.__version__
    except ImportError:
        transformers_version = None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "torch_threads": threads,
        "device": device,
        "gpu": torch.cuda.get_device_name(device) if torch.device(device).type == "cuda" else None,
        "cuda": torch.version.cuda if torch.device(device).type == "cuda" else None,
        "precision": precision,
        "dtype": "float32" if precision == "32" else "bfloat16 autocast over float32 weights",
        "torch": torch.__version__,
        "transformers": transformers_version,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "mkldnn": torch.backends.mkldnn.is_available(),
    }
