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


def test_migration_guide_examples_run():
    from markdown_blocks import python_blocks

    path = DOCS / "migrating.md"
    blocks = python_blocks(path)
    assert blocks, "migrating.md has no runnable python examples"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(path), "exec"), namespace)


def test_fsdp_replacement_command_is_the_scripts():
    """The FSDP command of the guide is the one clm_fsdp prints (whose options a test trains with)."""
    from perceiver.scripts.text.clm_fsdp import OPTIONS

    text = " ".join((DOCS / "migrating.md").read_text(encoding="utf-8").replace("\\\n", " ").split())
    for option in OPTIONS:
        assert (f'"{option}"' if " " in option else option) in text, option
