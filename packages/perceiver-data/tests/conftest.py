import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The sample data folder given by $PERCEIVER_DATA_DIR (the noxfile sets it); tests that need it skip
    without it."""
    default = Path(__file__).resolve().parents[4] / "shared" / "data"
    path = Path(os.environ.get("PERCEIVER_DATA_DIR", default))
    if not path.is_dir():
        pytest.skip(f"test data directory {path} not found (set PERCEIVER_DATA_DIR)")
    return path


@pytest.fixture
def text_slices(data_dir: Path, tmp_path: Path) -> dict[str, Path]:
    """Small UTF-8 slices (about 20 kB) of the real text corpora, to keep preprocessing fast."""
    sources = {
        "wikitext_train": data_dir / "wikitext-2" / "valid.txt",
        "wikitext_valid": data_dir / "wikitext-2" / "test.txt",
        "shakespeare": data_dir / "tinyshakespeare" / "input.txt",
        "enwik8": data_dir / "enwik8" / "enwik8_small",
    }
    result = {}
    for name, source in sources.items():
        if not source.is_file():
            pytest.skip(f"{source} not found")
        text = source.read_text(encoding="utf-8")[:20_000]
        path = tmp_path / "slices" / f"{name}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text[: text.rfind("\n") + 1], encoding="utf-8")
        result[name] = path
    return result
