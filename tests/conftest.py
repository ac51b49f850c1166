"""Fixtures shared by the repository-level tests (see pyproject.toml in this folder)."""

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder (docs/, examples/, benchmarks/)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The offline example data ($PERCEIVER_DATA_DIR); tests that need it skip without it."""
    default = REPO_ROOT.parent / "shared" / "data"
    path = Path(os.environ.get("PERCEIVER_DATA_DIR", default))
    if not path.is_dir():
        pytest.skip(f"example data directory {path} not found (set PERCEIVER_DATA_DIR)")
    return path


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n 2``) the workers share the CPU: each worker's torch, and the
    subprocesses it starts (they inherit OMP_NUM_THREADS), get an equal share of the cores
    instead of every worker using all of them."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers and int(workers) > 1 and "OMP_NUM_THREADS" not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // int(workers))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)
