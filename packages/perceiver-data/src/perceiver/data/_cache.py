"""Crash-safe on-disk cache of preprocessed datasets.

A cache entry is a directory `<cache_dir>/<key>` whose name is a hash of everything the content
depends on (tokenizer, max_seq_len, task, source files ...). It is built in a temporary sibling
directory, a completion marker is written last and the directory is then renamed into place, so
an interrupted run never leaves an entry that a later run loads as complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["MARKER", "cache_key", "default_cache_dir", "files_fingerprint", "load_or_build"]

MARKER = "_COMPLETE.json"
CACHE_VERSION = 1


def default_cache_dir(name: str) -> Path:
    """`$PERCEIVER_DATA_CACHE/<name>`, by default `.cache/perceiver-data/<name>` in the working directory."""
    return Path(os.environ.get("PERCEIVER_DATA_CACHE", ".cache/perceiver-data")) / name


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
    tmp = cache_dir / f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
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
