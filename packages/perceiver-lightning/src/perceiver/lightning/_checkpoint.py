"""Checkpoint writing that never leaves a half-written file under a checkpoint's name.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file
lives in the system temp dir; when that is another filesystem than the checkpoint folder, the
final move is a copy, and a process killed during the copy leaves a truncated ``last.ckpt``.
:class:`AtomicCheckpointIO` writes to a temp file in the target folder, fsyncs it and renames
it over the target with ``os.replace`` (atomic on POSIX and Windows).

It also reads krasserm/perceiver-io 0.11's checkpoints (``ckpt_path`` of one of its runs), whose
pickled config classes torch's ``weights_only`` reader refuses.

Reading a checkpoint that is empty, truncated or not a torch checkpoint at all raises an error
that names the file (:func:`naming_checkpoint`), in ``load_from_checkpoint``, ``params=`` and
when resuming (``ckpt_path``), instead of torch's ``EOFError`` or zip-reader ``RuntimeError``.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from perceiver.model.core.checkpoint import is_legacy_checkpoint, load_checkpoint

__all__ = ["AtomicCheckpointIO", "atomic_torch_save", "naming_checkpoint"]

# what torch.load raises for files that are not (complete) torch checkpoints: EOFError for an
# empty file, RuntimeError from the zip reader for a truncated one, KeyError / UnicodeDecodeError /
# ValueError from the legacy unpickler for other bytes
_UNREADABLE = (
    EOFError,
    RuntimeError,
    KeyError,
    ValueError,
    IndexError,
    zipfile.BadZipFile,
    UnicodeDecodeError,
)


@contextmanager
def naming_checkpoint(path: Any) -> Iterator[None]:
    """Turn the errors of reading a corrupt checkpoint file into ones that name the file."""
    try:
        yield
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise  # these name the file already
    except pickle.UnpicklingError as e:
        if not _looks_like_torch_file(path):  # torch's advice (weights_only=False) would not help
            raise ValueError(f"checkpoint {os.fspath(path)!r} {_describe(path)}: {type(e).__name__}") from e
        # a checkpoint that weights_only refuses: keep the type (and torch's advice)
        raise pickle.UnpicklingError(f"checkpoint {os.fspath(path)!r}: {e}") from e
    except (*_UNREADABLE, OSError) as e:
        raise ValueError(f"checkpoint {os.fspath(path)!r} {_describe(path)}: {type(e).__name__}: {e}") from e


def _looks_like_torch_file(path: Any) -> bool:
    """A zip archive (torch.save's format) or a pickle stream of protocol 2+ (its legacy format)."""
    try:
        with open(path, "rb") as f:
            return zipfile.is_zipfile(f) or (f.seek(0) == 0 and f.read(1) == b"\x80")
    except (OSError, TypeError):
        return False


def _describe(path: Any) -> str:
    try:
        size = os.path.getsize(path)
    except (OSError, TypeError):
        return "cannot be read"
    if size == 0:
        return "is empty (0 bytes)"
    if not zipfile.is_zipfile(path):
        return f"({size} bytes) is truncated, corrupt or not a torch checkpoint (no complete zip archive)"
    return f"({size} bytes) could not be loaded"


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local writes are atomic (remote URLs go to Lightning's writer)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(
                f"{type(self).__name__}.save_checkpoint got storage_options={storage_options!r}, "
                "which it does not support"
            )
        if "://" in str(path):
            super().save_checkpoint(checkpoint, path)
            return
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Lightning's reader (resume, ``ckpt_path``) with errors that name a corrupt file.

        A local file is always read with ``torch.load(weights_only=True)``, whatever Lightning's
        default (pytorch-lightning 2.5 unpickles arbitrary objects when resuming).
        """
        if "://" in str(path):
            return super().load_checkpoint(path, *args, **kwargs)
        map_location = kwargs.get("map_location", args[0] if args else None)
        if not os.path.exists(path):
            raise FileNotFoundError(f"Checkpoint file not found: {os.fspath(path)}")
        try:
            with naming_checkpoint(path):
                return torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError:
            # krasserm/perceiver-io 0.11's checkpoints pickle its config classes, which torch's
            # weights_only reader refuses: core's reader maps exactly those to plain data (the
            # wrapper's on_load_checkpoint converts the checkpoint)
            checkpoint = load_checkpoint(path)
            if not is_legacy_checkpoint(checkpoint):
                raise
            return checkpoint
