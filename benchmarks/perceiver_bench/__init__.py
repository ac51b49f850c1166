"""Benchmark suite of the perceiver monorepo (``nox -s bench``; see docs/performance.md).

Each workload module exposes ``run(settings) -> WorkloadResult``; :mod:`perceiver_bench.run`
runs them side by side in one process and writes JSON, a markdown table and plots.
"""

from perceiver_bench.measure import Check, Measurement, Settings, WorkloadResult

__all__ = ["Check", "Measurement", "Settings", "WorkloadResult"]
