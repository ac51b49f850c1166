"""The example configs of configs/: one per task, plus recipes; each task's config trains a few
steps with ``fit --config`` (a recipe's test_*_recipe.py trains the recipe) and ``--print_config``
of each gives back the file.

A config that an example of examples/ trains as it stands (``fit --config=<file>`` plus the
example's own flags: a few steps in examples/test_task_examples.py) is not trained a second time
here; the others (an example that points the config at other data) train a few steps here.

The files are what ``--print_config`` writes (every option, defaults included), with a comment
on top. They are compared with the printed config as parsed YAML, not as text, so that the
comments and YAML's formatting choices stay free; every value and every key must match. After
an upgrade that adds options (a new Lightning release adds trainer arguments), regenerate a file
with ``python -m perceiver.scripts.<task> fit --config=<file> --print_config`` and keep its comment.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from configs_support import make_data_folder
from markdown_blocks import REPO_ROOT

CONFIGS = REPO_ROOT / "configs"
TASKS = [
    "text/mlm",
    "text/classifier",
    "text/clm",
    "audio/symbolic",
    "vision/image_classifier",
    "vision/optical_flow",
    "multimodal/autoencoder",
]
# recipes: a config tuned for one data set, run by its task's script (and trained by a test of its own)
RECIPES = {"text/shakespeare": "text/clm"}
# config -> the example of examples/ that trains it as it stands (test_task_examples.py runs it)
TRAINED_BY_EXAMPLE = {
    "text/mlm": "text_mlm.py",
    "text/classifier": "text_classifier.py",
    "text/clm": "text_clm.py",
    "audio/symbolic": "audio_symbolic.py",
    "vision/image_classifier": "image_classifier.py",
    "vision/optical_flow": "optical_flow.py",
}
SHORT_FIT = [
    "--trainer.max_steps=2",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
    "--trainer.val_check_interval=1",
    "--trainer.num_sanity_val_steps=0",
    "--trainer.enable_progress_bar=false",
]


def script(task: str) -> str:
    return "perceiver.scripts." + RECIPES.get(task, task).replace("/", ".")


def test_every_task_has_a_config_and_nothing_else_is_there():
    assert sorted(
        p.relative_to(CONFIGS).with_suffix("").as_posix() for p in CONFIGS.rglob("*.yaml")
    ) == sorted([*TASKS, *RECIPES])


@pytest.mark.parametrize("task", [*TASKS, *RECIPES])
def test_print_config_equals_the_file(task, tmp_path, monkeypatch, capsys):
    path = CONFIGS / f"{task}.yaml"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [script(task)])
    with pytest.raises(SystemExit) as info:
        importlib.import_module(script(task)).main(["fit", f"--config={path}", "--print_config"])
    assert info.value.code in (None, 0)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed == yaml.safe_load(path.read_text(encoding="utf-8")), (
        f"{path.relative_to(REPO_ROOT)} differs from its --print_config output"
    )


@pytest.mark.parametrize(("task", "example"), sorted(TRAINED_BY_EXAMPLE.items()))
def test_example_trains_the_config_as_it_stands(task, example):
    """The example passes nothing to the training but the command line's own options, so its test
    trains the config as it is in the file."""
    source = (REPO_ROOT / "examples" / example).read_text(encoding="utf-8")
    calls = re.findall(r"\btrain\((.*?)\)", source)
    assert calls == [f'"{task}", args, training_args'], f"examples/{example} trains {calls}"


@pytest.mark.slow
@pytest.mark.parametrize("task", [task for task in TASKS if task not in TRAINED_BY_EXAMPLE])
def test_config_trains_a_few_steps(task, data_dir, tmp_path):
    make_data_folder(tmp_path / "data", data_dir)
    path = CONFIGS / f"{task}.yaml"
    env = dict(os.environ, PYTHONWARNINGS="ignore", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", script(task), "fit", f"--config={path}", *SHORT_FIT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"{path}:\n{result.stdout[-2000:]}\n{result.stderr[-5000:]}"
    checkpoints = list(Path(tmp_path).rglob("*.ckpt"))
    assert checkpoints, f"{path}: no checkpoint written"
