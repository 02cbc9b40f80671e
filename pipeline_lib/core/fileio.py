"""Atomic file writes: a reader never sees a half-written file."""

from __future__ import annotations

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
