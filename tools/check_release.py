"""Check the built wheels and sdists of the four perceiver distributions before a release.

    python tools/check_release.py DIST_DIR

DIST_DIR holds one wheel and one sdist of each package (``python -m build``). For each it
checks that the Apache-2.0 license text is included and equals the repository's LICENSE, that
the metadata a package index shows is complete (license expression, authors, keywords,
classifiers, Python requirement, a README without relative links), that the version is the one
version of the release (tools/version.py), that every import root ships ``py.typed``, that the
project URLs, once declared, are complete and the same in every package, and that
the optional extras the features need exist: those in EXTRAS below and every
``perceiver-<package>[extra]`` that the documentation (README.md, docs/, the packages' READMEs)
tells users to install. Exits non-zero with one line per problem.
"""

from __future__ import annotations

import re
import shutil
import sys
import tarfile
import tempfile
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
# the extras each distribution must offer: the features that need them (pyproject.toml comments)
EXTRAS = {
    "perceiver_core": set(),
    "perceiver_data": {"audio", "vision", "all"},
    "perceiver_lightning": {"data"},
    "perceiver_hf": {"vision", "audio", "data"},
}
# the Project-URL labels a package index shows; the project's public address is not decided yet,
# so none is declared (docs/installation.md, "Before publishing"); once one package declares them,
# all four must declare these labels with the same addresses
PROJECT_URL_LABELS = ("Repository", "Documentation", "Issues")
DOCUMENTED_EXTRA = re.compile(r"perceiver-(core|data|lightning|hf)\[([a-z0-9_,-]+)\]")
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
    for requirement in meta.get_all("Requires-Dist") or []:
        sibling = re.match(r"perceiver-(core|data|lightning|hf)\b(\[[a-z,]+\])?\s*([^;]*)", requirement)
        if sibling and sibling.group(3).strip() != f"=={version}":
            problems.append(
                f"{name}: requires {requirement!r}, not its sibling's release version =={version}"
            )
    problems += check_python_versions(name, meta)
    classifiers = meta.get_all("Classifier") or []
    for prefix in ("Development Status", "Programming Language :: Python :: 3.", "Operating System"):
        if not any(c.startswith(prefix) for c in classifiers):
            problems.append(f"{name}: no '{prefix}' classifier")
    readme = meta.get_payload() or ""
    if not readme.strip():
        problems.append(f"{name}: no long description (README)")
    for link in RELATIVE_LINK.findall(readme):
        problems.append(f"{name}: the README links to {link!r}, which is broken on a package index page")
    dist = name.split("-")[0]
    provided = set(meta.get_all("Provides-Extra") or [])
    for extra in sorted(EXTRAS[dist] - provided):
        problems.append(f"{name}: no extra [{extra}] (it has {sorted(provided)})")
    for page, extra in documented_extras(dist):
        if extra not in provided:
            problems.append(f"{name}: {page} tells users to install [{extra}], which it does not provide")
    return problems


def project_urls(wheel: Path) -> dict[str, str]:
    """The wheel's ``Project-URL`` entries, label -> address."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(archive.read(metadata).decode("utf-8"))
    urls = {}
    for entry in meta.get_all("Project-URL") or []:
        label, _, address = entry.partition(",")
        urls[label.strip()] = address.strip()
    return urls


def check_project_urls(urls: dict[str, dict[str, str]]) -> list[str]:
    """None declared anywhere (not decided yet), or every label of PROJECT_URL_LABELS with one
    https address per label, the same in all four wheels."""
    if not any(urls.values()):
        return []
    problems = []
    for name, declared in sorted(urls.items()):
        missing = [label for label in PROJECT_URL_LABELS if label not in declared]
        if missing:
            problems.append(f"{name}: no Project-URL {missing} (it declares {sorted(declared)})")
        for label, address in sorted(declared.items()):
            if not address.startswith("https://"):
                problems.append(f"{name}: Project-URL {label} is {address!r}, not an https:// address")
    for label in PROJECT_URL_LABELS:
        addresses = {declared[label] for declared in urls.values() if label in declared}
        if len(addresses) > 1:
            problems.append(
                f"the wheels declare different Project-URL {label} addresses: {sorted(addresses)}"
            )
    return problems


def documentation_pages() -> list[Path]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return pages + sorted((ROOT / "packages").glob("perceiver-*/README.md"))


def documented_extras(dist: str) -> list[tuple[str, str]]:
    """(page, extra) for each ``perceiver-<package>[extra,...]`` in the documentation."""
    package = dist.removeprefix("perceiver_")
    found = []
    for page in documentation_pages():
        for match in DOCUMENTED_EXTRA.finditer(page.read_text(encoding="utf-8")):
            if match.group(1) == package:
                found += [(str(page.relative_to(ROOT)), extra) for extra in match.group(2).split(",")]
    return found


def supported_pythons(package: str | None = None) -> list[str]:
    """The CPython versions ``nox -s tests-python`` runs the suites on (PYTHONS in noxfile.py);
    with ``package`` ("perceiver-hf", ...), those from its LOWEST_PYTHON entry up."""
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    match = re.search(r"^PYTHONS = \(([^)]*)\)", noxfile, re.MULTILINE)
    pythons = re.findall(r'"(3\.\d+)"', match.group(1)) if match else []
    if package is None:
        return pythons
    lowest = re.search(rf'"{package.removeprefix("perceiver-")}": "3\.(\d+)"', noxfile)
    if not lowest:
        return []
    return [v for v in pythons if int(v.split(".")[1]) >= int(lowest.group(1))]


def check_python_versions(name: str, meta) -> list[str]:
    """requires-python, the classifiers, ruff's target version and noxfile's PYTHONS (from the
    package's LOWEST_PYTHON up) agree."""
    pythons = supported_pythons(meta.get("Name"))
    if not pythons:
        return [f"noxfile.py: no PYTHONS tuple, or no LOWEST_PYTHON entry for {meta.get('Name')}"]
    problems = []
    claimed = sorted(
        c.rsplit(":: ", 1)[1]
        for c in meta.get_all("Classifier") or []
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    if sorted(claimed) != sorted(pythons):
        problems.append(f"{name}: Python classifiers {claimed} differ from the tested versions {pythons}")
    lowest = min(pythons, key=lambda v: int(v.split(".")[1]))
    if meta.get("Requires-Python") != f">={lowest}":
        problems.append(f"{name}: Requires-Python is {meta.get('Requires-Python')!r}, not '>={lowest}'")
    lowest_overall = min(supported_pythons(), key=lambda v: int(v.split(".")[1]))
    target = re.search(
        r'^target-version = "py3(\d+)"', (ROOT / "ruff.toml").read_text(encoding="utf-8"), re.MULTILINE
    )
    if not target or f"3.{target.group(1)}" != lowest_overall:
        problems.append(
            f"ruff.toml: target-version is not py{lowest_overall.replace('.', '')}, the lowest supported Python"
        )
    return problems


def check_version_bump(version: str) -> list[str]:
    """A bump is one command (tools/version.py NEW): on a copy of the four pyproject.toml files it
    must change every version and sibling pin to NEW and nothing else."""
    bumped = "99.0.0rc1" if version != "99.0.0rc1" else "98.0.0"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp)
        for path in release_version.pyprojects():
            target = copy / path.relative_to(ROOT)
            target.parent.mkdir(parents=True)
            shutil.copy(path, target)
        release_version.set_version(bumped, root=copy)
        problems = []
        for path in release_version.pyprojects():
            before = path.read_text(encoding="utf-8")
            after = (copy / path.relative_to(ROOT)).read_text(encoding="utf-8")
            expected = before.replace(f'version = "{version}"', f'version = "{bumped}"')
            expected = re.sub(
                rf"(perceiver-[a-z]+(?:\[[a-z,]+\])?)=={re.escape(version)}", rf"\1=={bumped}", expected
            )
            if after != expected or f"=={version}" in after or f'"{version}"' in after:
                problems.append(
                    f"{path.relative_to(ROOT)}: tools/version.py {bumped} does not bump it completely"
                )
        if release_version.current(copy) != bumped:
            problems.append(
                f"after tools/version.py {bumped} the versions are {release_version.versions(copy)}"
            )
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
    problems = check_version_bump(version)
    urls = {}
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
        urls[wheels[0].name] = project_urls(wheels[0])
    problems += check_project_urls(urls)
    for line in problems:
        print(line, file=sys.stderr)
    if not problems:
        if not any(urls.values()):
            print(
                "note: no Project-URL (Repository, Documentation, Issues) is declared: the project's public"
                " address is not decided yet; docs/installation.md ('Before publishing') says what to"
                " fill in"
            )
        print(f"release check passed: 4 wheels and 4 sdists of version {version}")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    raise SystemExit(main(Path(sys.argv[1])))
