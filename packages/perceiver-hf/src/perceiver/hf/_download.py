"""Checkpoints from URLs: a download cache keyed by the full URL, validated on every use.

Each URL gets its own cache folder (named by the SHA-256 of the URL), so two URLs that end in
the same file name never share an entry. Next to the file, ``meta.json`` records the URL, the
size, the server's ETag and Last-Modified (when it sends them) and the SHA-256 of the content.
A cached file is used only when its size and hash still match the record and, where the server
can be asked (a HEAD request), its ETag / size have not changed; otherwise it is downloaded
again. Downloads go to a temporary file in the same folder and are moved into place only when
complete (a download shorter than the announced Content-Length is an error naming the URL), so
an interrupted download never leaves a partial file where a checkpoint is expected.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["cached_download", "is_url"]

_CHUNK = 1 << 20


def is_url(value: str | os.PathLike) -> bool:
    return urllib.parse.urlparse(str(value)).scheme in ("http", "https")


def _default_cache_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "perceiver-checkpoints"


def cached_download(url: str, cache_dir: str | os.PathLike | None = None, timeout: float = 60.0) -> Path:
    """The local path of ``url``'s content, downloaded into (or validated in) the cache."""
    root = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    folder = root / hashlib.sha256(url.encode()).hexdigest()[:32]
    name = Path(urllib.parse.urlparse(url).path).name or "checkpoint"
    path, meta_path = folder / name, folder / "meta.json"
    meta = _read_meta(meta_path, url)
    if meta is not None and path.is_file() and _intact(path, meta):
        remote = _head(url, timeout)
        if remote is None or _same_remote(meta, remote):
            return path
        logger.info("%s changed on the server; downloading it again", url)
    folder.mkdir(parents=True, exist_ok=True)
    meta = _download(url, folder, path, timeout)
    _write_atomically(meta_path, json.dumps(meta).encode())
    return path


def _read_meta(meta_path: Path, url: str) -> dict | None:
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("url") == url else None


def _intact(path: Path, meta: dict) -> bool:
    if path.stat().st_size != meta.get("size"):
        return False
    return _sha256(path) == meta.get("sha256")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _head(url: str, timeout: float) -> dict | None:
    """The server's ETag, Last-Modified and Content-Length for ``url``; None when it cannot be asked."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout) as response:
            return _validators(response.headers)
    except (urllib.error.URLError, OSError, ValueError) as error:
        logger.info("cannot revalidate %s (%s); using the cached copy", url, error)
        return None


def _validators(headers) -> dict:
    length = headers.get("Content-Length")
    return {
        "etag": headers.get("ETag"),
        "last_modified": headers.get("Last-Modified"),
        "content_length": int(length) if length and length.isdigit() else None,
    }


def _same_remote(meta: dict, remote: dict) -> bool:
    for key in ("etag", "last_modified"):
        if remote[key] is not None and meta.get(key) is not None and remote[key] != meta[key]:
            return False
    return remote["content_length"] is None or remote["content_length"] == meta["size"]


def _download(url: str, folder: Path, path: Path, timeout: float) -> dict:
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".download-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as response:
            validators = _validators(response.headers)
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            expected = validators["content_length"]
            if expected is not None and size != expected:
                raise OSError(f"download of {url} is incomplete: {size} of {expected} bytes")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (http.client.HTTPException, urllib.error.URLError) as error:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(f"download of {url} failed: {error!r}") from error
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {
        "url": url,
        "size": size,
        "sha256": digest.hexdigest(),
        "etag": validators["etag"],
        "last_modified": validators["last_modified"],
    }


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".meta-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
