"""tools/check_release.py's project-URL rule: none declared yet is allowed (the public address is
not decided), but once declared every wheel must name the same Repository, Documentation and Issues
addresses."""

import importlib
import sys

from markdown_blocks import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
check_release = importlib.import_module("check_release")  # tools/check_release.py

WHEELS = [f"perceiver_{name}-0.1.0-py3-none-any.whl" for name in ("core", "data", "lightning", "hf")]
URLS = {
    "Repository": "https://example.org/perceiver",
    "Documentation": "https://example.org/perceiver/docs",
    "Issues": "https://example.org/perceiver/issues",
}


def test_no_project_urls_anywhere_is_not_a_problem():
    assert check_release.check_project_urls({wheel: {} for wheel in WHEELS}) == []


def test_the_same_complete_urls_everywhere_pass():
    assert check_release.check_project_urls({wheel: dict(URLS) for wheel in WHEELS}) == []


def test_incomplete_or_differing_urls_are_reported():
    urls = {wheel: dict(URLS) for wheel in WHEELS}
    urls[WHEELS[1]] = {}
    urls[WHEELS[2]] = URLS | {"Issues": "https://example.org/other/issues"}
    urls[WHEELS[3]] = URLS | {"Documentation": "http://example.org/perceiver/docs"}
    problems = check_release.check_project_urls(urls)
    assert (
        f"{WHEELS[1]}: no Project-URL ['Repository', 'Documentation', 'Issues'] (it declares [])" in problems
    )
    assert any("different Project-URL Issues addresses" in p for p in problems), problems
    assert any(p.startswith(f"{WHEELS[3]}: Project-URL Documentation is 'http://") for p in problems), (
        problems
    )
    assert any("different Project-URL Documentation addresses" in p for p in problems), problems
    assert len(problems) == 4, problems


def test_the_documented_placeholder_section_exists():
    page = (REPO_ROOT / "docs" / "installation.md").read_text(encoding="utf-8")
    assert "## Before publishing" in page
    for label in check_release.PROJECT_URL_LABELS:
        assert label in page.split("## Before publishing", 1)[1], label
