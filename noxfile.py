"""Sessions for the perceiver monorepo.

Every package is tested in a fresh virtual environment that holds only that package, the
perceiver siblings it depends on and its test extra, so an import that crosses the package
DAG fails here rather than on a user's machine.

    nox -t tests        # lint, the core-wheel isolation check and every package's tests
    nox -s main         # the quick-start training run (README's first command)
    nox -s tests-core   # one package
    nox -s tests-repo   # journeys, docs and examples across all four packages (tests/)

Not part of ``nox -t tests`` because they take long (each resolves and installs a fresh set of
dependencies per package):

    nox -s tests-python                         # every package on every supported CPython version (PYTHONS)
    nox -s tests-python-3.12                    # every package on one version
    nox -s "tests-python-3.12(package='core')"  # one package on one version
    nox -s tests-lowest                         # every package with the lowest versions its pyproject.toml allows
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
CONSTRAINTS = ROOT / "constraints.txt"
PACKAGES = ("core", "data", "lightning", "hf")
# the CPython versions requires-python claims (>=3.10) and that tests-python runs the suites on;
# keep in step with the classifiers in packages/*/pyproject.toml and ruff.toml's target-version
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# the lowest CPython each package supports (its requires-python); perceiver-hf needs
# transformers>=5.23, which requires Python 3.11
LOWEST_PYTHON = {"core": "3.10", "data": "3.10", "lightning": "3.10", "hf": "3.11"}
# perceiver siblings each package is tested with: its dependencies and optional extras
SIBLINGS = {
    "core": [],
    "data": ["core"],
    "lightning": ["core", "data"],
    "hf": ["core", "data"],
}
EXTRAS = {"core": "test", "data": "test", "lightning": "test,data", "hf": "test,data"}
# pytest-xdist workers of the suites that spend their time in subprocesses (training runs, fresh
# interpreters): tests-lightning and tests-repo. A module's tests stay on one worker (loadscope),
# so that a module-scoped fixture (a trained checkpoint) runs once; `-- -n 0` runs one process.
XDIST = ["-n", str(min(os.cpu_count() or 1, 4)), "--dist", "loadscope"]
XDIST_PACKAGES = {"lightning"}  # the package suites above, in every session that runs them


def _find_links() -> list[str]:
    """Local wheel folders pip is configured with (this is how the CPU torch wheel is found).

    uv does not read pip's configuration, so it is handed the same folders explicitly.
    """
    folders = os.environ.get("PIP_FIND_LINKS", "").split()
    if not folders:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.find-links"],
            capture_output=True,
            text=True,
            check=False,
        )
        folders = result.stdout.split() if result.returncode == 0 else []
    args = []
    for folder in folders:
        if Path(folder).is_dir():
            args += ["--find-links", folder]
    return args


def _local_torch_pin(find_links: list[str]) -> list[str]:
    """``torch==X+cpu`` for the torch that constraints.txt pins, where a local wheel folder holds
    that CPU build. Without it, the lowest resolution would prefer the index's plain ``X`` (the
    CUDA build on Linux), since a local version label sorts above the plain version."""
    pins = [
        line.split("==", 1)[1].strip()
        for line in CONSTRAINTS.read_text().splitlines()
        if line.startswith("torch==")
    ]
    folders = [Path(f) for f in find_links[1::2]]
    for version in pins:
        for folder in folders:
            for wheel in sorted(folder.glob(f"torch-{version}+*.whl")):
                return [f"torch=={wheel.name.split('-')[1]}"]
    return []


def _install(session: nox.Session, *requirements: str, lowest: bool = False) -> None:
    find_links = _find_links()
    extra = []
    if lowest:
        # uv resolves each direct requirement (those in the packages' pyproject.toml files) to
        # the lowest version it allows; torch stays pinned by constraints.txt
        extra = ["--resolution", "lowest-direct", *_local_torch_pin(find_links)]
    session.install(*extra, "-c", str(CONSTRAINTS), *find_links, *requirements)


def _package_path(name: str, extras: str = "") -> str:
    path = str(ROOT / "packages" / f"perceiver-{name}")
    return f"{path}[{extras}]" if extras else path


def _run_tests(session: nox.Session, package: str, lowest: bool = False) -> None:
    requirements = []
    for sibling in SIBLINGS[package]:
        requirements += ["-e", _package_path(sibling)]
    requirements += ["-e", _package_path(package, EXTRAS[package])]
    _install(session, *requirements, lowest=lowest)
    if lowest:  # the versions the tests ran with, for the record in docs/installation.md
        session.run("uv", "pip", "list", "--python", session.virtualenv.location, external=True)
    data_dir = os.environ.get("PERCEIVER_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    session.env["PERCEIVER_DATA_DIR"] = data_dir
    session.env["HF_HUB_OFFLINE"] = "1"
    session.env["HF_DATASETS_OFFLINE"] = "1"
    session.env["TOKENIZERS_PARALLELISM"] = "false"
    session.chdir(ROOT / "packages" / f"perceiver-{package}")
    xdist = XDIST if package in XDIST_PACKAGES else []
    session.run("pytest", "--timeout=900", *xdist, *session.posargs)


@nox.session(name="tests-core", tags=["tests"])
def tests_core(session: nox.Session) -> None:
    """perceiver-core alone, with torch and pytest."""
    _run_tests(session, "core")


@nox.session(name="tests-data", tags=["tests"])
def tests_data(session: nox.Session) -> None:
    """perceiver-data with perceiver-core (the contracts they share, e.g. tokenizer names)."""
    _run_tests(session, "data")


@nox.session(name="tests-lightning", tags=["tests"])
def tests_lightning(session: nox.Session) -> None:
    """perceiver-lightning with perceiver-core and perceiver-data."""
    _run_tests(session, "lightning")


@nox.session(name="tests-hf", tags=["tests"])
def tests_hf(session: nox.Session) -> None:
    """perceiver-hf with perceiver-core (and perceiver-data for pipeline preprocessors)."""
    _run_tests(session, "hf")


@nox.session(name="tests-python", python=PYTHONS)
@nox.parametrize("package", PACKAGES)
def tests_python(session: nox.Session, package: str) -> None:
    """One package's tests on one CPython version (not in ``nox -t tests``: 16 fresh environments).

    An interpreter this machine lacks fails the session. Where torch has no local CPU wheel for
    that version, the package index's default torch build is installed (on Linux the CUDA build,
    which also runs on the CPU). A version below the package's requires-python is skipped."""
    if _minor(session.python) < _minor(LOWEST_PYTHON[package]):
        session.skip(f"perceiver-{package} requires Python >={LOWEST_PYTHON[package]}")
    _run_tests(session, package)


def _minor(version: str) -> int:
    return int(version.split(".")[1])


@nox.session(name="tests-lowest", venv_backend="uv")
@nox.parametrize("package", PACKAGES)
def tests_lowest(session: nox.Session, package: str) -> None:
    """One package's tests with the lowest versions of its direct dependencies that its
    pyproject.toml allows (``uv pip install --resolution lowest-direct``), so that the lower
    bounds are true. torch is the exception: constraints.txt pins the CPU build. Not in
    ``nox -t tests``: each package resolves and installs a fresh environment."""
    _run_tests(session, package, lowest=True)


@nox.session(name="tests-repo", tags=["tests"])
def tests_repo(session: nox.Session) -> None:
    """Tests that span the packages (tests/ at the repository root): end-to-end journeys, the
    documentation's examples and commands, examples/ and a benchmark smoke run, with all four
    packages installed together as a user who trains and serves models would have them."""
    _install(
        session,
        "-e",
        _package_path("core", "test"),
        "-e",
        _package_path("data", "test"),
        "-e",
        _package_path("lightning", "test,data"),
        "-e",
        _package_path("hf", "test,data"),
        "matplotlib",  # the learning-curve scripts of docs/figures
    )
    data_dir = os.environ.get("PERCEIVER_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    session.env["PERCEIVER_DATA_DIR"] = data_dir
    session.env["HF_HUB_OFFLINE"] = "1"
    session.env["HF_DATASETS_OFFLINE"] = "1"
    session.env["TOKENIZERS_PARALLELISM"] = "false"
    # the data modules' preprocessed caches of this suite, apart from the user's own cache
    session.env["PERCEIVER_DATA_CACHE"] = str(Path(session.create_tmp()) / "perceiver-data-cache")
    session.chdir(ROOT / "tests")
    session.run("pytest", "--timeout=900", *XDIST, *session.posargs)


@nox.session(tags=["tests"])
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole repository."""
    session.install("ruff>=0.17,<0.18")  # formatting rules change between minor releases
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(name="core-wheel", tags=["tests"])
def core_wheel(session: nox.Session) -> None:
    """Build the four wheels and sdists and check them for a release (license, metadata, version,
    py.typed: tools/check_release.py), then install perceiver-core's wheel alone and prove torch is
    its only dependency."""
    dist = Path(session.create_tmp()) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.install("build>=1.2")
    for package in PACKAGES:
        session.run(
            "python", "-m", "build", "--wheel", "--sdist", "--outdir", str(dist), _package_path(package)
        )
    session.run("python", str(ROOT / "tools" / "check_release.py"), str(dist))
    wheels = sorted(dist.glob("perceiver_core-*.whl"))
    if len(wheels) != 1:
        session.error(f"expected one perceiver-core wheel in {dist}, found {wheels}")
    # a fresh environment: only the core wheel and what it declares
    session.run("uv", "venv", "--clear", "-q", str(dist / "venv"), external=True)
    python = str(dist / "venv" / "bin" / "python")
    session.run(
        "uv",
        "pip",
        "install",
        "-q",
        "--python",
        python,
        "-c",
        str(CONSTRAINTS),
        *_find_links(),
        str(wheels[0]),
        external=True,
    )
    session.run(python, str(ROOT / "tools" / "check_core_isolation.py"), external=True)


@nox.session
def main(session: nox.Session) -> None:
    """The quick-start training run (README's first command): install perceiver-core, perceiver-data and
    perceiver-lightning, train a small Perceiver AR language model on CPU and print generated text."""
    _install(session, _package_path("core"), _package_path("data"), _package_path("lightning", "data"))
    session.env["HF_HUB_OFFLINE"] = "1"  # the UTF-8 bytes tokenizer resolves offline; no Hub access needed
    session.env["TOKENIZERS_PARALLELISM"] = "false"
    session.run(
        "python",
        str(ROOT / "examples" / "train_clm.py"),
        "--output_dir",
        str(Path(session.create_tmp()) / "train_clm"),
        *session.posargs,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark suite (benchmarks/, not part of ``nox -t tests``): perceiver-core and
    perceiver-hf against transformers on CPU; writes benchmarks/results/results.json and
    docs/performance.md with plots. ``nox -s bench -- --quick`` for fewer repetitions and points.
    On a GPU the suite runs with the machine's own CUDA build of torch instead (docs/performance.md,
    "On a GPU"): the constraints used here install the CPU wheel."""
    _install(
        session,
        "-e",
        _package_path("core"),
        "-e",
        _package_path("data"),
        "-e",
        _package_path("hf", "onnx"),  # the onnx workload: ONNX Runtime against PyTorch
        "matplotlib",
    )
    session.env["HF_HUB_OFFLINE"] = "1"
    session.env["TOKENIZERS_PARALLELISM"] = "false"
    session.env["PYTHONPATH"] = str(ROOT / "benchmarks")
    session.run("python", "-m", "perceiver_bench.run", *session.posargs)
