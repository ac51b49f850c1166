"""The Python examples of the docs pages about perceiver-core run as written."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[3] / "docs"
PAGES = ["building-blocks.md", "model-construction.md", "model-construction-vision.md", "generation.md"]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page):
    path = DOCS / page
    if not path.exists():
        pytest.skip(f"{path} is not part of this checkout")
    blocks = python_blocks(path)
    assert blocks, f"{page} has no python examples"
    namespace: dict = {}
    for block in blocks:  # blocks of a page build on each other
        exec(compile(block, str(path), "exec"), namespace)


# Words that mean something only inside this repository's history, not to a reader of the docs.
INTERNAL_WORDS = re.compile(
    r"seed[- ]docs?|\bthe seed\b|\bseed's|seed-sized|main job|\.\./shared|this session", flags=re.IGNORECASE
)


def test_user_facing_text_has_no_internal_vocabulary():
    root = DOCS.parent
    pages = [root / "README.md", *sorted(DOCS.glob("*.md")), *sorted(root.glob("packages/*/README.md"))]
    pages = [page for page in pages if page.is_file()]
    if not pages:
        pytest.skip(f"no README.md or docs pages under {root} (installed without the repository)")
    hits = [
        f"{page.relative_to(root)}:{number}: {match.group(0)!r}"
        for page in pages
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1)
        for match in INTERNAL_WORDS.finditer(line)
    ]
    assert not hits, (
        "user-facing text uses words only this repository's history explains (say what a reader needs: "
        "'krasserm/perceiver-io 0.11', 'the quick-start training run', '$PERCEIVER_DATA_DIR', 'the random "
        "seed'):\n" + "\n".join(hits)
    )
