"""Crash-safe on-disk cache of preprocessed datasets.

A cache entry is a directory `<cache_dir>/<key>` whose name is a hash of everything the content
depends on (tokenizer, max_seq_len, task, source files ...). It is built in a temporary sibling
directory, a completion marker is written last and the directory is then renamed into place, so
an interrupted run never leaves an entry that a later run loads as complete.

A run that is killed leaves its temporary directory behind (`.tmp-<key>-<pid>-<random>`, holding an
`_OWNER.json` with the host name and process id). The next run that builds into the same cache
directory removes such leftovers when their process is gone: only directories whose names and
owner files have exactly this form, written on the same host by a process that no longer runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "MARKER",
    "cache_key",
    "default_cache_dir",
    "files_fingerprint",
    "hf_datasets_cache",
    "load_or_build",
    "remove_orphaned_temp_dirs",
]

MARKER = "_COMPLETE.json"
OWNER = "_OWNER.json"
# 2: classification labels are validated (version 1 truncated float labels to int)
# 3: a test split is kept next to the validation split; column names are part of the key
CACHE_VERSION = 3
_TMP_NAME = re.compile(r"\.tmp-([0-9a-f]{20})-(\d+)-([0-9a-f]{8})")


def hf_datasets_cache() -> Path:
    """The 🤗 datasets cache directory, resolved as `datasets` resolves it: `$HF_DATASETS_CACHE`, else
    `$HF_HOME/datasets`, else `$XDG_CACHE_HOME/huggingface/datasets`, else `~/.cache/huggingface/datasets`."""
    if os.environ.get("HF_DATASETS_CACHE"):
        return Path(os.environ["HF_DATASETS_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "datasets"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(xdg).expanduser() / "huggingface" / "datasets"


def default_cache_dir(name: str) -> Path:
    """Where data module `name` caches its preprocessed data unless given a `dataset_dir`:
    `$PERCEIVER_DATA_CACHE/<name>`, by default `perceiver-data/<name>` in the 🤗 datasets cache
    (`hf_datasets_cache()`), an absolute path that does not depend on the working directory."""
    root = os.environ.get("PERCEIVER_DATA_CACHE")
    base = Path(root).expanduser() if root else hf_datasets_cache() / "perceiver-data"
    return base.absolute() / name


def cache_key(spec: dict[str, Any]) -> str:
    payload = json.dumps({"version": CACHE_VERSION, **spec}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def files_fingerprint(paths: Iterable[str | os.PathLike]) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every file, walking directories, so that edited sources invalidate."""
    result = []
    for path in paths:
        path = Path(path).resolve()
        if not path.exists():
            raise ValueError(f"{path}: no such file or directory")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            stat = file.stat()
            result.append((str(file), stat.st_size, stat.st_mtime_ns))
    return result


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (owned by another user), or cannot tell: keep its directory
    return True


def remove_orphaned_temp_dirs(cache_dir: str | os.PathLike) -> list[Path]:
    """Removes the temporary build directories in `cache_dir` that runs killed on this host left behind;
    returns them. A directory is removed only if its name has the form this module gives it, its
    owner file names this host and a process id that matches its name, and that process is gone."""
    cache_dir = Path(cache_dir)
    removed: list[Path] = []
    if not cache_dir.is_dir():
        return removed
    host = socket.gethostname()
    for path in cache_dir.iterdir():
        match = _TMP_NAME.fullmatch(path.name)
        if match is None or not path.is_dir() or path.is_symlink():
            continue
        pid = int(match.group(2))
        try:
            owner = json.loads((path / OWNER).read_text())
        except (OSError, ValueError):
            continue  # not (yet) ours to judge: a run that was just starting, or someone else's
        if not isinstance(owner, dict) or owner.get("host") != host or owner.get("pid") != pid:
            continue
        if pid == os.getpid() or _process_alive(pid):
            continue
        logger.warning("removing %s, left behind by an interrupted run (process %d)", path, pid)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def load_or_build(cache_dir: str | os.PathLike, spec: dict[str, Any], build: Callable[[], Any]) -> Path:
    """Returns the directory of the complete cache entry for `spec`, building it with `build()` first if
    needed. `build()` returns an object with `save_to_disk(path)` (a `datasets.DatasetDict`); it is saved
    under `<entry>/data`."""
    cache_dir = Path(cache_dir)
    key = cache_key(spec)
    final = cache_dir / key
    if (final / MARKER).is_file():
        logger.info("using preprocessed data in %s", final)
        return final
    if final.exists():
        logger.warning("removing incomplete cache entry %s", final)
        shutil.rmtree(final)

    cache_dir.mkdir(parents=True, exist_ok=True)
    remove_orphaned_temp_dirs(cache_dir)
    tmp = cache_dir / f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        (tmp / OWNER).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
        dataset = build()
        dataset.save_to_disk(str(tmp / "data"))
        (tmp / "spec.json").write_text(json.dumps(spec, indent=2, sort_keys=True, default=str))
        (tmp / MARKER).write_text(json.dumps({"key": key}))  # written last
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / MARKER).is_file():  # not a concurrent writer that finished first
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("preprocessed data written to %s", final)
    return final
