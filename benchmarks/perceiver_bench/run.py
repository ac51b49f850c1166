"""Run the benchmark suite: ``python -m perceiver_bench.run [--quick] [--only mlm flow ...]``.

Writes the JSON results (``--json``), the generated section of docs/performance.md
(``--markdown``) and PNG plots next to it. On a GPU::

    python -m perceiver_bench.run --device cuda --precision bf16-mixed --keep-going

writes benchmarks/results/results-cuda.json and the GPU section of docs/performance.md (its
own markers: the CPU results stay), plots with a ``-cuda`` suffix. ``--render`` rewrites the
page's generated section (and the plots) from the JSON results without measuring anything,
e.g. after a change of the report's layout::

    python -m perceiver_bench.run --render --no-plots    # keeps the existing plots
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from perceiver_bench import causal, compiled, flow, mlm, onnx_runtime, quantized, scaling, small
from perceiver_bench.measure import PRECISIONS, Settings, WorkloadResult, machine_info, matmul_peak
from perceiver_bench.report import existing_plots, markdown, plots, write_markdown

__all__ = ["WORKLOADS", "main", "render", "run_suite"]

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS: dict[str, Callable[[Settings], WorkloadResult]] = {
    "mlm": mlm.run,
    "flow": flow.run,
    "ar_train": causal.run_training,
    "ar_small": small.run,
    "generation": causal.run_generation,
    "quantized": quantized.run,
    "scaling_encoder": scaling.run_encoder,
    "scaling_ar": scaling.run_ar,
    "compile": compiled.run,
    "onnx": onnx_runtime.run,
}
logger = logging.getLogger("perceiver_bench")


def _peak(settings: Settings) -> dict:
    if settings.tiny:
        sizes: tuple[int, ...] = (256, 512)
    elif settings.device.startswith("cuda"):
        sizes = (4096, 8192, 16384)
    else:
        sizes = (1024, 2048, 3072)
    return matmul_peak(sizes=sizes, device=settings.device, dtype=settings.compute_dtype)


def run_suite(
    settings: Settings,
    only: list[str] | None = None,
    on_result: Callable[[dict], None] | None = None,
    keep_going: bool = False,
) -> dict:
    """Run the workloads (all, or ``only``) and return the results as a JSON-ready dict;
    ``on_result`` sees the results so far after each workload (a long run writes as it goes).
    ``keep_going``: a workload that raises is recorded with its error and the next one runs
    (for a GPU lease, where a rerun costs device time)."""
    torch.set_num_threads(settings.threads)
    start = time.perf_counter()
    peak = _peak(settings)
    settings.peak_flops = peak["peak_flops"]
    workloads, results = [], []
    run = {
        "command": " ".join(["python -m perceiver_bench.run", *sys.argv[1:]]),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "wall_s": 0.0,
        "machine": machine_info(settings.threads, settings.device, settings.precision),
        "settings": {
            "repeats": settings.repeats,
            "warmup": settings.warmup,
            "quick": settings.quick,
            "device": settings.device,
            "precision": settings.precision,
            "ar_batch_size": settings.ar_batch_size,
        },
        "peak_flops": settings.peak_flops,
        "matmul": peak,
        "workloads": workloads,
    }
    for name in only or list(WORKLOADS):
        t0 = time.perf_counter()
        try:
            result = WORKLOADS[name](settings)
        except Exception:
            if not keep_going:
                raise
            logger.exception("%s failed", name)
            result = WorkloadResult(name, f"{name} (failed)", {}, notes=[traceback.format_exc(limit=-3)])
        logger.info("%s done in %.0f s", name, time.perf_counter() - t0)
        results.append(result)
        workloads.append(result.as_dict(settings.peak_flops))
        run["wall_s"] = time.perf_counter() - start
        if on_result is not None:
            on_result(run)
    # the peak again at the end: the larger of the two is the MFU denominator
    end_peak = _peak(settings)
    if end_peak["peak_flops"] > settings.peak_flops:
        settings.peak_flops = run["peak_flops"] = end_peak["peak_flops"]
        run["matmul"] = end_peak
        run["workloads"] = [w.as_dict(settings.peak_flops) for w in results]
    run["wall_s"] = time.perf_counter() - start
    if on_result is not None:
        on_result(run)
    return run


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions and scaling points, no compiled flow"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed repetitions (default 5, quick 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:index]")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="32 (float32) or bf16-mixed (autocast to bfloat16); default: 32 on the CPU, bf16-mixed on CUDA",
    )
    parser.add_argument(
        "--ar-batch-size",
        type=int,
        default=None,
        help="batch size of the Perceiver AR training step (default 4 on the CPU, 64 on CUDA)",
    )
    parser.add_argument(
        "--quantized-checkpoint",
        default=None,
        help="quantized workload: a causal LM checkpoint (UTF-8 bytes tokenizer) to compare int8 with "
        "float32 on; default: train a small model",
    )
    parser.add_argument(
        "--quantized-valid-text", default=None, help="quantized workload: the checkpoint's held-out text file"
    )
    parser.add_argument("--keep-going", action="store_true", help="record a failing workload and go on")
    parser.add_argument("--only", nargs="+", choices=list(WORKLOADS), default=None)
    parser.add_argument(
        "--json", type=Path, default=None, help="default: benchmarks/results/results[-cuda].json"
    )
    parser.add_argument("--markdown", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument(
        "--no-plots", action="store_true", help="draw no plots (--render: keep the existing ones)"
    )
    parser.add_argument(
        "--render", action="store_true", help="rewrite the page (and plots) from --json, measuring nothing"
    )
    parser.add_argument(
        "--merge", action="store_true", help="keep the other workloads' results from --json (rerun some only)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    cuda = args.device.startswith("cuda")
    suffix = "-cuda" if cuda else ""
    args.json = args.json or ROOT / "benchmarks" / "results" / f"results{suffix}.json"
    if args.render:
        return render(args.json, args.markdown, suffix, draw_plots=not args.no_plots)

    settings = Settings(
        repeats=args.repeats or (3 if args.quick else 5),
        warmup=1,
        quick=args.quick,
        threads=args.threads,
        device=args.device,
        precision=args.precision or ("bf16-mixed" if cuda else "32"),
        ar_batch_size=args.ar_batch_size or (64 if cuda else None),
        quantized_checkpoint=args.quantized_checkpoint,
        quantized_valid_text=args.quantized_valid_text,
    )
    previous = json.loads(args.json.read_text()) if args.merge and args.json.exists() else None

    def write(run: dict) -> None:
        if previous is not None:
            run = _merge(previous, run)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(run, indent=1))
        files = [] if args.no_plots else plots(run, args.markdown.parent, suffix)
        write_markdown(args.markdown, markdown(run, files), marker=f"bench{suffix}")

    run = run_suite(settings, args.only, on_result=write, keep_going=args.keep_going)
    for w in run["workloads"]:
        for c in w["checks"]:
            logger.info(
                "%-10s %-70s %10.4g %s %-6g %s",
                w["workload"],
                c["name"],
                c["value"],
                c["op"],
                c["target"],
                "met" if c["passed"] else "MISSED",
            )
    return run


def render(json_path: Path, markdown_path: Path, suffix: str = "", draw_plots: bool = True) -> dict:
    """Rewrite the generated section ``bench{suffix}`` of ``markdown_path`` from the results in
    ``json_path``; the plots are redrawn, or (``draw_plots=False``) the existing ones are kept."""
    if not json_path.is_file():
        raise SystemExit(f"--json {json_path} does not exist: run the suite first")
    run = json.loads(json_path.read_text())
    out_dir = markdown_path.parent
    files = plots(run, out_dir, suffix) if draw_plots else existing_plots(out_dir, suffix)
    write_markdown(markdown_path, markdown(run, files), marker=f"bench{suffix}")
    return run


FROM_RUN = "From the run of "


def _merge(previous: dict, run: dict) -> dict:
    """``run`` with the workloads of ``previous`` that it did not rerun, in suite order."""
    new = {w["workload"]: w for w in run["workloads"]}
    note = (
        f"{FROM_RUN}{previous['date']} on {previous['machine']['cpu']} "
        f"(matmul peak {previous['peak_flops'] / 1e9:.1f} GFLOP/s)."
    )

    def dated(w: dict) -> dict:  # a workload kept through several merges keeps its first date
        return w if any(n.startswith(FROM_RUN) for n in w["notes"]) else {**w, "notes": [*w["notes"], note]}

    kept = [dated(w) for w in previous["workloads"] if w["workload"] not in new]
    order = list(WORKLOADS)
    merged = sorted([*kept, *new.values()], key=lambda w: order.index(w["workload"]))
    return {**run, "workloads": merged, "command": f"{previous['command']}; {run['command']}"}


if __name__ == "__main__":
    main()
