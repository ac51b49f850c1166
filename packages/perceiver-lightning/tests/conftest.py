"""Fixtures of the perceiver-lightning tests (helpers live in lightning_helpers.py)."""

from __future__ import annotations

import os

import pytest
import torch
from lightning_helpers import make_text_files


@pytest.fixture(scope="session")
def text_files(tmp_path_factory) -> tuple[str, str]:
    return make_text_files(tmp_path_factory.mktemp("corpus"))


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n 2``) the workers share the CPU: each worker's torch, and the
    subprocesses it starts (they inherit OMP_NUM_THREADS), get an equal share of the cores
    instead of every worker using all of them."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers and int(workers) > 1 and "OMP_NUM_THREADS" not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // int(workers))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)
