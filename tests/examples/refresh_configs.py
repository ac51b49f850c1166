"""Rewrite every file of configs/ from its ``--print_config`` output, keeping the comment on top.

    python tests/examples/refresh_configs.py            # all configs
    python tests/examples/refresh_configs.py text/clm   # one

Run it after a change of the training scripts' options (or a Lightning upgrade that adds trainer
options), then review the diff: test_configs.py checks that each file equals its printed config.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# recipes: a config tuned for one data set, run by its task's script
RECIPES = {"text/shakespeare": "text/clm"}


def refresh(task: str) -> None:
    path = CONFIGS / f"{task}.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    comment = []
    for line in lines:
        if not line.startswith("#"):
            break
        comment.append(line)
    script = "perceiver.scripts." + RECIPES.get(task, task).replace("/", ".")
    printed = subprocess.run(
        [sys.executable, "-m", script, "fit", f"--config={path}", "--print_config"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # the printed config starts with a "# pytorch_lightning==<version>" line of its own
    body = "".join(
        line for line in printed.splitlines(keepends=True) if not line.startswith("# pytorch_lightning")
    )
    path.write_text("".join(comment) + body, encoding="utf-8")
    print(f"refreshed {path}")


if __name__ == "__main__":
    tasks = sys.argv[1:] or sorted(
        p.relative_to(CONFIGS).with_suffix("").as_posix() for p in CONFIGS.rglob("*.yaml")
    )
    for task in tasks:
        refresh(task)
