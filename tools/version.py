"""Read or set the one version that the four perceiver distributions are released under.

The packages are released in lockstep: each pyproject.toml carries the version, and the
sibling requirements (``perceiver-core==X``, ``perceiver-data[all]==X``) pin it. A bump is this
one command, which rewrites all of them; ``tools/check_release.py`` fails when they disagree.

    python tools/version.py            # print the version
    python tools/version.py 0.2.0      # set it everywhere
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "data", "lightning", "hf")
VERSION_LINE = re.compile(r'^version = "([^"]+)"$', re.MULTILINE)
SIBLING_PIN = re.compile(r'("perceiver-(?:core|data|lightning|hf)(?:\[[a-z,]+\])?==)([^"]+)(")')
PEP440 = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")


def pyprojects(root: Path = ROOT) -> list[Path]:
    return [root / "packages" / f"perceiver-{name}" / "pyproject.toml" for name in PACKAGES]


def versions(root: Path = ROOT) -> dict[str, set[str]]:
    """Every version each pyproject.toml states: its own and those of its sibling pins."""
    found = {}
    for path in pyprojects(root):
        text = path.read_text(encoding="utf-8")
        own = VERSION_LINE.findall(text)
        found[str(path.relative_to(root))] = set(own) | {m.group(2) for m in SIBLING_PIN.finditer(text)}
    return found


def current(root: Path = ROOT) -> str:
    stated = set().union(*versions(root).values())
    if len(stated) != 1:
        raise SystemExit(f"the pyproject.toml files disagree on the version: {versions(root)}")
    return stated.pop()


def set_version(version: str, root: Path = ROOT) -> None:
    if not PEP440.match(version):
        raise SystemExit(f"version {version!r} is not a PEP 440 release version such as 0.2.0 or 0.2.0rc1")
    for path in pyprojects(root):
        text = path.read_text(encoding="utf-8")
        text = VERSION_LINE.sub(f'version = "{version}"', text, count=1)
        text = SIBLING_PIN.sub(lambda m: f"{m.group(1)}{version}{m.group(3)}", text)
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) == 1:
        print(current())
    elif len(sys.argv) == 2:
        set_version(sys.argv[1])
        print(current())
    else:
        raise SystemExit(__doc__)
