"""Fixtures of the perceiver-lightning tests (helpers live in lightning_helpers.py)."""

from __future__ import annotations

import pytest
from lightning_helpers import make_text_files


@pytest.fixture(scope="session")
def text_files(tmp_path_factory) -> tuple[str, str]:
    return make_text_files(tmp_path_factory.mktemp("corpus"))
