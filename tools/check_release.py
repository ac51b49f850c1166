"""Check the built wheels and sdists of the four perceiver distributions before a release.

    python tools/check_release.py DIST_DIR

DIST_DIR holds one wheel and one sdist of each package (``python -m build``). For each it
checks that the Apache-2.0 license text is included and equals the repository's LICENSE, that
the metadata a package index shows is complete (license expression, authors, keywords,
classifiers, Python requirement, a README without relative links), that the version is the one
version of the release (tools/version.py) and that every import root ships ``py.typed``.
Exits non-zero with one line per problem.
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import version as release_version  # tools/version.py

ROOT = Path(__file__).resolve().parents[1]
IMPORT_ROOTS = {
    "perceiver_core": ["perceiver/model"],
    "perceiver_data": ["perceiver/data"],
    "perceiver_lightning": ["perceiver/lightning", "perceiver/scripts"],
    "perceiver_hf": ["perceiver/hf"],
}
REQUIRED_FIELDS = (
    "Name",
    "Version",
    "Summary",
    "License-Expression",
    "Author",
    "Keywords",
    "Requires-Python",
)
RELATIVE_LINK = re.compile(r"\]\((?!https?://|#|mailto:)([^)]+)\)")


def check_metadata(name: str, text: str, version: str) -> list[str]:
    problems = []
    meta = Parser().parsestr(text)
    for field in REQUIRED_FIELDS:
        if not meta.get(field):
            problems.append(f"{name}: metadata has no {field}")
    if meta.get("License-Expression") != "Apache-2.0":
        problems.append(f"{name}: License-Expression is {meta.get('License-Expression')!r}, not 'Apache-2.0'")
    if meta.get("Version") != version:
        problems.append(f"{name}: version {meta.get('Version')} is not the release version {version}")
    classifiers = meta.get_all("Classifier") or []
    for prefix in ("Development Status", "Programming Language :: Python :: 3.", "Operating System"):
        if not any(c.startswith(prefix) for c in classifiers):
            problems.append(f"{name}: no '{prefix}' classifier")
    readme = meta.get_payload() or ""
    if not readme.strip():
        problems.append(f"{name}: no long description (README)")
    for link in RELATIVE_LINK.findall(readme):
        problems.append(f"{name}: the README links to {link!r}, which is broken on a package index page")
    return problems


def check_wheel(path: Path, version: str, license_text: bytes) -> list[str]:
    dist = path.name.split("-")[0]
    problems = []
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        licenses = [n for n in names if re.fullmatch(r"[^/]+\.dist-info/licenses/LICENSE", n)]
        if not licenses:
            problems.append(f"{path.name}: no dist-info/licenses/LICENSE")
        elif wheel.read(licenses[0]) != license_text:
            problems.append(f"{path.name}: its LICENSE differs from the repository's")
        for root in IMPORT_ROOTS[dist]:
            if f"{root}/py.typed" not in names:
                problems.append(f"{path.name}: {root}/py.typed is missing")
        if "perceiver/__init__.py" in names:
            problems.append(f"{path.name}: ships perceiver/__init__.py (perceiver is a namespace package)")
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        problems += check_metadata(path.name, wheel.read(metadata).decode("utf-8"), version)
    return problems


def check_sdist(path: Path, license_text: bytes) -> list[str]:
    with tarfile.open(path) as sdist:
        members = [m for m in sdist.getnames() if m.count("/") == 1 and m.endswith("/LICENSE")]
        if not members:
            return [f"{path.name}: no LICENSE at its top level"]
        if sdist.extractfile(members[0]).read() != license_text:
            return [f"{path.name}: its LICENSE differs from the repository's"]
    return []


def main(dist_dir: Path) -> int:
    version = release_version.current()
    license_text = (ROOT / "LICENSE").read_bytes()
    problems = []
    for dist in IMPORT_ROOTS:
        wheels = sorted(dist_dir.glob(f"{dist}-*.whl"))
        sdists = sorted(dist_dir.glob(f"{dist}-*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            problems.append(
                f"{dist}: expected one wheel and one sdist in {dist_dir}, found {wheels + sdists}"
            )
            continue
        problems += check_wheel(wheels[0], version, license_text)
        problems += check_sdist(sdists[0], license_text)
    for line in problems:
        print(line, file=sys.stderr)
    if not problems:
        print(f"release check passed: 4 wheels and 4 sdists of version {version}")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    raise SystemExit(main(Path(sys.argv[1])))
