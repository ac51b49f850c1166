"""Run the benchmark suite: ``python -m perceiver_bench.run [--quick] [--only mlm flow ...]``.

Writes the JSON results (``--json``), the generated section of docs/performance.md
(``--markdown``) and PNG plots next to it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from perceiver_bench import causal, compiled, flow, mlm, scaling
from perceiver_bench.measure import Settings, WorkloadResult, machine_info, matmul_peak
from perceiver_bench.report import markdown, plots, write_markdown

__all__ = ["WORKLOADS", "main", "run_suite"]

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS: dict[str, Callable[[Settings], WorkloadResult]] = {
    "mlm": mlm.run,
    "flow": flow.run,
    "ar_train": causal.run_training,
    "generation": causal.run_generation,
    "scaling_encoder": scaling.run_encoder,
    "scaling_ar": scaling.run_ar,
    "compile": compiled.run,
}
logger = logging.getLogger("perceiver_bench")


def run_suite(
    settings: Settings, only: list[str] | None = None, on_result: Callable[[dict], None] | None = None
) -> dict:
    """Run the workloads (all, or ``only``) and return the results as a JSON-ready dict;
    ``on_result`` sees the results so far after each workload (a long run writes as it goes)."""
    torch.set_num_threads(settings.threads)
    start = time.perf_counter()
    peak = matmul_peak(sizes=(256, 512) if settings.tiny else (1024, 2048, 3072))
    settings.peak_flops = peak["peak_flops"]
    workloads, results = [], []
    run = {
        "command": " ".join(["python -m perceiver_bench.run", *sys.argv[1:]]),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "wall_s": 0.0,
        "machine": machine_info(settings.threads),
        "settings": {"repeats": settings.repeats, "warmup": settings.warmup, "quick": settings.quick},
        "peak_flops": settings.peak_flops,
        "matmul": peak,
        "workloads": workloads,
    }
    for name in only or list(WORKLOADS):
        t0 = time.perf_counter()
        result = WORKLOADS[name](settings)
        logger.info("%s done in %.0f s", name, time.perf_counter() - t0)
        results.append(result)
        workloads.append(result.as_dict(settings.peak_flops))
        run["wall_s"] = time.perf_counter() - start
        if on_result is not None:
            on_result(run)
    # the peak again at the end: the larger of the two is the MFU denominator
    end_peak = matmul_peak(sizes=(256, 512) if settings.tiny else (1024, 2048, 3072))
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
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="+", choices=list(WORKLOADS), default=None)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "results.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--merge", action="store_true", help="keep the other workloads' results from --json (rerun some only)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    settings = Settings(
        repeats=args.repeats or (3 if args.quick else 5), warmup=1, quick=args.quick, threads=args.threads
    )

    previous = json.loads(args.json.read_text()) if args.merge and args.json.exists() else None

    def write(run: dict) -> None:
        if previous is not None:
            run = _merge(previous, run)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(run, indent=1))
        files = [] if args.no_plots else plots(run, args.markdown.parent)
        write_markdown(args.markdown, markdown(run, files))

    run = run_suite(settings, args.only, on_result=write)
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


def _merge(previous: dict, run: dict) -> dict:
    """``run`` with the workloads of ``previous`` that it did not rerun, in suite order."""
    new = {w["workload"]: w for w in run["workloads"]}
    note = f"From the run of {previous['date']} (matmul peak {previous['peak_flops'] / 1e9:.1f} GFLOP/s)."
    kept = [{**w, "notes": [*w["notes"], note]} for w in previous["workloads"] if w["workload"] not in new]
    order = list(WORKLOADS)
    merged = sorted([*kept, *new.values()], key=lambda w: order.index(w["workload"]))
    return {**run, "workloads": merged, "command": f"{previous['command']}; {run['command']}"}


if __name__ == "__main__":
    main()
