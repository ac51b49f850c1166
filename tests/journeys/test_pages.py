"""Every journey page is linked from docs/journeys/README.md and names the test that runs it."""

from __future__ import annotations

import re

import pytest
from journeys.helpers import PAGES_DIR, TESTS_DIR

PAGES = sorted(p.name for p in PAGES_DIR.glob("*.md") if p.name != "README.md")


def test_there_are_journey_pages():
    assert len(PAGES) >= 7, PAGES


@pytest.mark.parametrize("page", PAGES)
def test_page_is_linked_and_tested(page):
    assert f"]({page})" in (PAGES_DIR / "README.md").read_text(), (
        f"docs/journeys/README.md does not link {page}"
    )
    tests = re.findall(r"`tests/journeys/(test_\w+\.py)`", (PAGES_DIR / page).read_text())
    assert tests, f"{page} does not name the test that runs it"
    for name in tests:
        test = TESTS_DIR / "journeys" / name
        assert test.is_file(), f"{page} names {name}, which does not exist"
        assert f'PAGE = "{page}"' in test.read_text(), f"{name} does not run {page}"
