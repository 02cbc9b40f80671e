"""Atomic file writes (a reader never sees a half-written file), and the directories they go in."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from .errors import GantryError


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to a temp file beside ``path``, fsync it, then rename over ``path``
    (missing parent directories are created).

    Raises :class:`GantryError` naming ``path`` (exit 2) when it cannot be written: a parent that
    is a file, no permission, a read-only or full file system.
    """
    target = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except (FileExistsError, NotADirectoryError):
        raise GantryError(str(target), "cannot write: a parent path is a file, not a directory") from None
    except OSError as exc:
        raise GantryError(str(target), f"cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise GantryError(str(target), f"cannot write: {exc.strerror or exc}") from None
        raise
    return target


def ensure_dir(path: str | os.PathLike[str], where: str | None = None) -> Path:
    """Create directory ``path`` (and its parents) if missing; return it.

    Raises :class:`GantryError` (exit 2) naming ``where`` (default: the path) and the path when it
    cannot be a directory: it or a parent is a file, no permission, a read-only file system.
    """
    target = Path(path)
    label = f"{where}: {target}" if where else str(target)
    if str(path) == "":
        raise GantryError(where or "directory", "is empty: give a directory path")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise GantryError(label, "cannot create the directory: it or a parent is a file") from None
    except OSError as exc:
        raise GantryError(label, f"cannot create the directory: {exc.strerror or exc}") from None
    return target


def check_dir_creatable(path: str | os.PathLike[str], where: str | None = None) -> Path:
    """Raise :class:`GantryError` (the message :func:`ensure_dir` gives) unless ``path`` is a
    directory or could be created (its nearest existing ancestor is a writable directory);
    create nothing — for ``--dry-run``."""
    target = Path(path)
    label = f"{where}: {target}" if where else str(target)
    if str(path) == "":
        raise GantryError(where or "directory", "is empty: give a directory path")
    probe = target.absolute()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise GantryError(label, "cannot create the directory: it or a parent is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise GantryError(label, f"cannot create the directory: {os.strerror(errno.EACCES)}")
    return target
