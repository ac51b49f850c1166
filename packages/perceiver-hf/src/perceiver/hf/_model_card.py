"""The model card (``README.md``) that ``save_pretrained`` writes next to a saved model, and the
upload of a saved directory to the Hub that keeps it.

transformers alone does not know our ``model_type`` strings: the card says how to install and
import the library that registers them, and what happens without it.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["model_card_text", "upload_folder"]

_REPOSITORY = "https://github.com/krasserm/perceiver-io"


def _library_version() -> str:
    try:
        return version("perceiver-hf")
    except PackageNotFoundError:  # pragma: no cover - a source tree without installed metadata
        return "unknown"


def _yaml_list(values: list[str]) -> str:
    return "\n".join(f"- {value}" for value in values)


def model_card_text(model: Any, name: str) -> str:
    """The card of ``model`` (a ``PerceiverBackendModel``), loaded from ``name`` in its example."""
    config = model.config
    model_type = config.model_type
    auto_class = model.auto_class_name
    tags = ["perceiver", "perceiver-hf", model_type]
    header = [
        "---",
        "library_name: perceiver-hf",
        "tags:",
        _yaml_list(tags),
    ]
    if model.pipeline_tag is not None:
        header.append(f"pipeline_tag: {model.pipeline_tag}")
    header.append("---")

    usage = [
        "import perceiver.hf  # registers the perceiver model types with transformers' Auto classes",
        f"from transformers import {auto_class}",
        "",
        f'model = {auto_class}.from_pretrained("{name}")',
    ]
    if model.pipeline_tag is not None:
        usage[1] = f"from transformers import {auto_class}, pipeline"
        usage += [
            "",
            "# or, with its preprocessor:",
            f'pipe = pipeline("{model.pipeline_tag}", model="{name}")',
        ]

    num_params = sum(p.numel() for p in model.parameters())
    details = [
        f"- model type: `{model_type}` ({type(model).__name__}, {type(model).__module__})",
        f"- backend config: `{type(config.backend_config).__name__}` (under `backend_config` in `config.json`)",
        f"- parameters: {num_params:,}",
    ]
    labels = getattr(config, "id2label", None) or {}
    if labels and any(str(v) != f"LABEL_{k}" for k, v in labels.items()):
        shown = ", ".join(str(labels[k]) for k in sorted(labels)[:10])
        details.append(f"- labels ({len(labels)}): {shown}{', ...' if len(labels) > 10 else ''}")
    details.append(f"- saved with perceiver-hf {_library_version()}")

    body = [
        "",
        f"# {Path(name).name or name}",
        "",
        f"A Perceiver model of the [perceiver]({_REPOSITORY}) library, saved in 🤗 transformers' format.",
        "",
        "## Usage",
        "",
        "```bash",
        "pip install perceiver-hf",
        "```",
        "",
        "```python",
        *usage,
        "```",
        "",
        "## Loading without `import perceiver.hf`",
        "",
        f"transformers alone does not know the model type `{model_type}`: without `import perceiver.hf`,",
        f"`{auto_class}.from_pretrained` and `pipeline(...)` fail with an error saying that transformers does",
        "not recognize this model type (upgrading transformers does not help). The repository holds no model",
        "code, so `trust_remote_code=True` does not help either: install `perceiver-hf` and run",
        "`import perceiver.hf` before loading.",
        "",
        "## Model",
        "",
        *details,
        "",
    ]
    return "\n".join(header + body)


def upload_folder(
    save_directory: str | os.PathLike,
    repo_id: str,
    *,
    commit_message: str | None = None,
    create_pr: bool = False,
    private: bool | None = None,
    token: bool | str | None = None,
    revision: str | None = None,
    keep_remote_card: bool = True,
) -> Any:
    """Upload ``save_directory`` to the Hub model repository ``repo_id`` (created if needed).

    With ``keep_remote_card`` a ``README.md`` that the repository already holds is kept.
    """
    from huggingface_hub import HfApi

    api = HfApi()
    repo_id = api.create_repo(repo_id, private=private, token=token, exist_ok=True).repo_id
    ignore = None
    if keep_remote_card and api.file_exists(repo_id, "README.md", revision=revision, token=token):
        ignore = ["README.md"]
    return api.upload_folder(
        repo_id=repo_id,
        folder_path=str(save_directory),
        commit_message=commit_message or "Upload model",
        create_pr=create_pr,
        revision=revision,
        token=token,
        ignore_patterns=ignore,
    )
