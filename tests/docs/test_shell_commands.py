"""Every shell command of README.md and docs/*.md runs, offline, as written.

The commands are read from the pages' ```shell blocks, so a new command is tested without an edit
here. A long training run is shortened by flags appended to it (a few steps, tiny batches: later
flags override earlier ones), a command that would download a dataset from the 🤗 Hub gets the same
data from local files ($PERCEIVER_DATA_DIR), and a command for a GPU runs on the CPU when there is
no GPU; the command itself is never changed. Commands that cannot run here are listed in EXEMPT with
the reason. The commands of one block run one after another in one folder (a later command may use
an earlier one's checkpoint); that folder holds ``config.yaml`` (configs/text/clm.yaml), ``data/``
(the example data, the layout the configs in configs/ expect) and links to examples/ and configs/.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from markdown_blocks import DOCS, REPO_ROOT, code_blocks, shell_commands

PAGES = [REPO_ROOT / "README.md", *sorted(DOCS.glob("**/*.md"))]

_NOX = 'python3 -m pip install -q "nox>=2024.4" "uv>=0.4" && '
EXEMPT = {
    "pip install perceiver-core": "installs a package into the running environment",
    'pip install "perceiver-lightning[data]"': "installs a package into the running environment",
    "pip install perceiver-hf": "installs a package into the running environment",
    'pip install "perceiver-data[all]"': "installs a package into the running environment",
    "pip uninstall perceiver-io": "changes the running environment",
    "pip install --force-reinstall perceiver-core perceiver-lightning perceiver-hf perceiver-data": (
        "installs packages into the running environment"
    ),
    'pip install "perceiver-hf[vision]"': "installs a package into the running environment",
    'pip install "perceiver-hf[audio]"': "installs a package into the running environment",
    'pip install "perceiver-hf[data]"': "installs a package into the running environment",
    'pip install "perceiver-hf[onnx]"': "installs a package into the running environment",
    _NOX + "nox -s main": "creates a virtual environment, then runs examples/train_clm.py (tested here too)",
    "nox -s main": "creates a virtual environment, then runs examples/train_clm.py (tested here too)",
    _NOX + "nox -t tests": "runs this test suite",
    (
        "curl -L -o data/tinyshakespeare/input.txt "
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    ): "downloads a file (the example data holds it)",
    "nox -s bench": "the benchmark suite runs for about 15 minutes (its smoke test runs a few points)",
    "nox -s bench -- --quick": "the benchmark suite runs for minutes (its smoke test runs a few points)",
    "nox -s bench -- --only mlm generation": "the benchmark suite runs for minutes",
    "nox -s bench -- --only quantized --merge --quantized-checkpoint CKPT --quantized-valid-text VALID.txt": (
        "needs a trained checkpoint and its held-out text (CKPT, VALID.txt); the smoke test runs the workload"
    ),
    "nox -s bench -- --render --no-plots": "rewrites docs/performance.md",
    (
        "PYTHONPATH=benchmarks:packages/perceiver-core/src:packages/perceiver-hf/src "
        "python -m perceiver_bench.run --device cuda --keep-going"
    ): "needs a CUDA GPU",
}

# a few steps of a training run, with tiny batches and no worker processes
SHORT_FIT = [
    "--trainer.max_steps=2",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
    "--trainer.num_sanity_val_steps=0",
    "--trainer.enable_progress_bar=false",
    "--data.batch_size=2",
    "--data.num_workers=0",
]
WIKITEXT_FILES = ["wikitext-2/valid.txt", "wikitext-2/test.txt"]


def extra_flags(command: str, data_dir: Path) -> list[str]:
    """The flags appended to ``command`` so that it runs here, offline and in seconds."""
    wikitext = [str(data_dir / name) for name in WIKITEXT_FILES]
    if re.match(r"python -m perceiver\.scripts\.\S+ fit\b", command):
        flags = list(SHORT_FIT)
        if "--data=WikiTextDataModule" in command and "--data.train_files" not in command:
            flags += [f"--data.train_files={wikitext[0]}", f"--data.valid_files={wikitext[1]}"]
        if "--config=" in command:  # a config of configs/: its data is under ./data
            flags += ["--trainer.val_check_interval=1"]
        if "--trainer.accelerator=gpu" in command and not torch.cuda.is_available():
            flags += ["--trainer.accelerator=cpu", "--trainer.devices=1"]
        return flags
    if re.match(r"python -m perceiver\.(data|scripts\.text)\.preproc wikitext\b", command):
        return ["--train_files", wikitext[0], "--valid_files", wikitext[1]]
    if re.match(r"python -m perceiver\.data\.preproc giantmidi\b", command):
        return [f"--data_dir={data_dir / 'midi' / 'piano-midi-de'}", "--max_seq_len=512"]
    if re.match(r"python examples/(?!train_clm)\w+\.py\b", command):  # the task examples of examples/
        trainer_flags = [flag for flag in SHORT_FIT if flag.startswith("--trainer.")]
        return [f"--data_dir={data_dir}", *trainer_flags, "--trainer.val_check_interval=1"]
    if command.startswith("python examples/train_clm.py"):
        return ["--max_steps", "4", "--batch_size", "4", "--num_tokens", "20", "--output_dir", "out"]
    return []


def _blocks() -> list:
    params = []
    for page in PAGES:
        for index, commands in enumerate(shell_commands(page)):
            params.append(pytest.param(page, commands, id=f"{page.name}-{index}"))
    return params


def prepare_folder(folder: Path, data_dir: Path) -> None:
    """The folder a block runs in: config.yaml, data/ (the example data), examples/, configs/,
    input.txt (a text file of the page's preprocessing example) and multimodal clips."""
    from configs_support import make_data_folder, write_clips

    make_data_folder(folder / "data", data_dir)
    shutil.copy(REPO_ROOT / "configs" / "text" / "clm.yaml", folder / "config.yaml")
    for name in ("examples", "configs"):
        (folder / name).symlink_to(REPO_ROOT / name, target_is_directory=True)
    text = (data_dir / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    (folder / "input.txt").write_text(text[:100_000], encoding="utf-8")
    write_clips(
        folder / "clips", num_frames=16, height=24, width=32, audio_samples=16 * 1920, num_classes=700
    )


def test_every_code_block_names_its_language():
    """A command in a block without a language would escape this test."""
    unnamed = [
        f"{page.relative_to(REPO_ROOT)}: {code[:60]!r}" for page in PAGES for code in code_blocks(page, "")
    ]
    assert not unnamed, unnamed


def test_every_page_with_commands_is_read():
    commands = [command for page in PAGES for block in shell_commands(page) for command in block]
    assert len(commands) > 20
    stale = sorted(set(EXEMPT) - set(commands))
    assert not stale, f"EXEMPT lists commands the pages no longer have: {stale}"


@pytest.mark.slow
@pytest.mark.parametrize(("page", "commands"), _blocks())
def test_shell_block_runs(page, commands, data_dir, tmp_path):
    unlisted = [c for c in commands if c.startswith(("pip install", "pip uninstall")) and c not in EXEMPT]
    assert not unlisted, f"{page}: list these in EXEMPT with a reason: {unlisted}"
    runnable = [command for command in commands if command not in EXEMPT]
    if not runnable:
        pytest.skip("; ".join(sorted({EXEMPT[command] for command in commands})))
    prepare_folder(tmp_path, data_dir)
    env = dict(
        os.environ,
        PERCEIVER_DATA_DIR=str(data_dir),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONWARNINGS="ignore",
    )
    for command in runnable:
        extra = extra_flags(command, data_dir)
        line = command + "".join(f" {shlex.quote(flag)}" for flag in extra)
        result = subprocess.run(
            ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, (
            f"{page.name}: {command}\n(run as: {line})\n{result.stdout[-2000:]}\n{result.stderr[-5000:]}"
        )
