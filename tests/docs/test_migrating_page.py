"""docs/migrating.md names every perceiver-io 0.11 import that moved, with its new home."""

from markdown_blocks import DOCS

from perceiver.model._moved import MOVED_NAMES


def test_migration_guide_lists_every_moved_name():
    text = (DOCS / "migrating.md").read_text(encoding="utf-8")
    moved = [(old, name, *new) for old, names in MOVED_NAMES.items() for name, new in names.items()]
    assert moved
    missing = [
        f"{old}.{name} -> {module}.{new}"
        for old, name, module, new in moved
        if f"`{name}`" not in text or f"`{module}`" not in text or f"`{new}`" not in text
    ]
    assert not missing, missing
