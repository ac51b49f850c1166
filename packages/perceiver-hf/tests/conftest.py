import os
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The sample data folder given by $PERCEIVER_DATA_DIR (the noxfile sets it); tests that need it skip
    without it."""
    default = Path(__file__).resolve().parents[4] / "shared" / "data"
    path = Path(os.environ.get("PERCEIVER_DATA_DIR", default))
    if not path.is_dir():
        pytest.skip(f"test data directory {path} not found (set PERCEIVER_DATA_DIR)")
    return path


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _perturb(model: torch.nn.Module, scale: float = 0.05) -> torch.nn.Module:
    """Add noise to every parameter of a freshly initialised model (zero biases, unit norms
    would hide mapping errors in parity tests); randomize BatchNorm running statistics."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="session")
def perturb():
    """``perturb(model)``: noisy parameters and BatchNorm statistics, in eval mode."""
    return _perturb
