"""User-facing text (README.md, docs/, the package READMEs, examples, configs) and the code's
comments and docstrings (the packages' sources and tests, tests/, tools/, benchmarks/, noxfile.py)
use no words that only this repository's history explains."""

import re
from pathlib import Path

from markdown_blocks import DOCS, REPO_ROOT

INTERNAL_WORDS = re.compile(
    r"seed[- ]docs?|\bthe seed\b|\bseed's|seed-sized|main job|\.\./shared|shared/data|this session"
    r"|\bshared (?:offline |local |example |sample )?(?:test )?data\b",
    flags=re.IGNORECASE,
)
TEXT_SUFFIXES = (".py", ".md", ".yaml", ".yml", ".toml", ".txt")


def _test_files() -> list[Path]:
    """The text files of the test suites (packages/*/tests and tests/), this file excepted: it
    names the words it looks for."""
    files = [
        path
        for pattern in ("packages/*/tests/**/*", "tests/**/*")
        for path in REPO_ROOT.glob(pattern)
        if path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts
    ]
    return sorted(set(files) - {Path(__file__).resolve()})


def test_user_facing_text_has_no_internal_vocabulary():
    pages = [
        REPO_ROOT / "README.md",
        *sorted(DOCS.glob("**/*.md")),
        *sorted(REPO_ROOT.glob("packages/*/README.md")),
        *sorted(REPO_ROOT.glob("examples/**/*.py")),
        *sorted(REPO_ROOT.glob("configs/**/*.yaml")),
        *sorted(REPO_ROOT.glob("packages/*/src/**/*.py")),
        *sorted(REPO_ROOT.glob("packages/*/pyproject.toml")),
        *sorted(REPO_ROOT.glob("tools/*.py")),
        *sorted(REPO_ROOT.glob("benchmarks/**/*.py")),
        REPO_ROOT / "noxfile.py",
        REPO_ROOT / "CHANGELOG.md",
        *_test_files(),
    ]
    assert len(pages) > 100, pages
    hits = [
        f"{page.relative_to(REPO_ROOT)}:{number}: {match.group(0)!r}"
        for page in pages
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1)
        for match in INTERNAL_WORDS.finditer(line)
    ]
    assert not hits, (
        "user-facing text uses words only this repository's history explains (say what a reader needs: "
        "'krasserm/perceiver-io 0.11', 'the quick-start training run', '$PERCEIVER_DATA_DIR', 'the random "
        "seed'):\n" + "\n".join(hits)
    )


def test_the_scan_finds_internal_words():
    assert INTERNAL_WORDS.search("as in the seed docs")
    assert INTERNAL_WORDS.search("see ../shared/data")
    assert INTERNAL_WORDS.search("the shared offline test data")
    assert INTERNAL_WORDS.search("skipped without the shared data")
    assert not INTERNAL_WORDS.search("the modules share data with the tests")


def test_the_scan_covers_the_test_suites():
    files = {str(path.relative_to(REPO_ROOT)) for path in _test_files()}
    for package in ("core", "data", "lightning", "hf"):
        assert f"packages/perceiver-{package}/tests/conftest.py" in files, package
    assert "tests/conftest.py" in files
    assert "tests/docs/test_internal_vocabulary.py" not in files
    assert not INTERNAL_WORDS.search("torch.manual_seed(0) fixes the random seed")
