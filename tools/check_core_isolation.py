"""Prove that perceiver-core needs torch and nothing else.

Run inside an environment where only the perceiver-core wheel (and what it declares) is
installed. It imports every module of ``perceiver.model``, then checks that
1. the wheel declares torch as its only unconditional dependency,
2. every installed distribution is perceiver-core, torch, or something torch requires,
3. no third-party module other than torch (and torch's own imports) was loaded.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import pkgutil
import re
import sys


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _closure(root: str) -> set[str]:
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in md.requires(name) or []:
            if "extra ==" not in req:
                todo.append(_name(req))
    return seen


def main() -> None:
    import perceiver.model

    modules = []
    for info in pkgutil.walk_packages(perceiver.model.__path__, "perceiver.model."):
        importlib.import_module(info.name)
        modules.append(info.name)

    declared = [r for r in md.requires("perceiver-core") or [] if "extra ==" not in r]
    if [_name(r) for r in declared] != ["torch"]:
        sys.exit(f"perceiver-core declares {declared}; torch must be its only dependency")

    allowed = _closure("torch") | {"perceiver-core", "pip", "setuptools", "wheel"}
    installed = {d.metadata["Name"].lower().replace("_", "-") for d in md.distributions()}
    extra = sorted(installed - allowed)
    if extra:
        sys.exit(f"distributions beyond torch's closure are installed: {extra}")

    forbidden = ("transformers", "pytorch_lightning", "lightning", "datasets", "numpy", "einops")
    loaded = sorted(m for m in forbidden if m in sys.modules)
    if loaded:
        sys.exit(f"importing perceiver.model loaded {loaded}")

    if perceiver.model.__version__ != md.version("perceiver-core"):
        sys.exit(f"perceiver.model.__version__ is {perceiver.model.__version__}, not the installed version")

    print(
        f"perceiver-core {perceiver.model.__version__}: {len(modules)} modules import with only {declared} installed"
    )


if __name__ == "__main__":
    main()
