"""What the task examples share: command-line options, a training run of a training script with
a config of configs/, and the checkpoint it wrote.

Each example trains from the command line exactly as a user would::

    cd <a work folder with data/> && python -m perceiver.scripts.<task> fit --config=configs/<task>.yaml

The configs read their data from ``data/`` in the folder they run in, with the layout of the
example data (``wikitext-2/``, ``imdb-sample/``, ``images/mnist/``, ``midi/``, ``optical-flow/``):
``--data_dir`` names that folder (default ``$PERCEIVER_DATA_DIR``) and the example links it into
its output folder. Options an example does not know are passed on to the training script, so
``--trainer.max_steps=20`` or ``--trainer.accelerator=gpu`` work as they do there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args(description: str) -> tuple[argparse.Namespace, list[str]]:
    """The example's options and the options passed on to the training script."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--data_dir",
        default=os.environ.get("PERCEIVER_DATA_DIR", "data"),
        help="folder of the example data (default: $PERCEIVER_DATA_DIR, else ./data)",
    )
    parser.add_argument(
        "--output_dir", default="example-runs", help="logs, checkpoints and the converted model"
    )
    return parser.parse_known_args()


def train(task: str, args: argparse.Namespace, training_args: list[str]) -> Path:
    """Train with ``python -m perceiver.scripts.<task> fit --config=configs/<task>.yaml`` in
    ``<output_dir>/<task>`` and return the checkpoint it wrote last."""
    data_dir = Path(args.data_dir).resolve()
    if not data_dir.is_dir():
        raise SystemExit(
            f"--data_dir {args.data_dir}: not a folder (set it or PERCEIVER_DATA_DIR to the example data)"
        )
    work_dir = Path(args.output_dir).resolve() / task.replace("/", "-")
    work_dir.mkdir(parents=True, exist_ok=True)
    link = work_dir / "data"
    if link.is_symlink():
        link.unlink()
    if not link.exists():
        link.symlink_to(data_dir, target_is_directory=True)
    config = REPO_ROOT / "configs" / f"{task}.yaml"
    command = [
        sys.executable,
        "-m",
        "perceiver.scripts." + task.replace("/", "."),
        "fit",
        f"--config={config}",
    ]
    print("training:", " ".join([*command, *training_args]), flush=True)
    subprocess.run([*command, *training_args], cwd=work_dir, check=True)
    checkpoints = sorted(work_dir.glob("**/checkpoints/*.ckpt"), key=os.path.getmtime)
    if not checkpoints:
        raise SystemExit(f"training wrote no checkpoint under {work_dir}")
    last = [path for path in checkpoints if path.name == "last.ckpt"]
    return (last or checkpoints)[-1]  # the weights of the last step
