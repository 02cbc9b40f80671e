"""Install a service's pinned Python requirements into its build context (no ``RUN`` step).

The build stage copies the service's build context to a work directory and installs every
``name==version`` line of its requirements file there with ``pip install --target
site-packages --no-deps --only-binary=:all:``; the Dockerfile ``COPY``s ``site-packages/`` into
the image, so the image carries each package's ``*.dist-info/METADATA`` (what ``trivy image``
reads). Wheels are cached in ``wheel_cache``: an install is tried from the cache alone first
(``--no-index --find-links``), and only when that fails are the wheels fetched
(``pip download``) into the cache. Requirements must be pinned with ``==`` (PEP 440 exact):
the image must contain exactly what was scanned and reviewed.
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.process import Completed, run

SITE_PACKAGES = "site-packages"
_PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)$")
_COPY_IGNORE = shutil.ignore_patterns("__pycache__", ".pytest_cache", SITE_PACKAGES, "*.pyc")


@dataclass(frozen=True)
class Pin:
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


def read_pins(requirements: Path) -> list[Pin]:
    """``name==version`` lines of ``requirements`` (comments and blank lines skipped).

    Raises GantryError for a missing file or any line that is not an exact pin.
    """
    try:
        text = Path(requirements).read_text(encoding="utf-8")
    except OSError as exc:
        raise GantryError(str(requirements), f"cannot read: {exc.strerror or exc}") from None
    pins = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _PIN_RE.match(line)
        if not m:
            raise GantryError(f"{requirements}:{number}", f"{line!r} is not pinned as name==version")
        pins.append(Pin(m.group(1), m.group(2)))
    return pins


def _pip(args: list[str], timeout: float) -> Completed:
    """``python -m pip …`` through the process runner (TimeoutExceeded after ``timeout``)."""
    return run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], timeout=timeout,
               what=f"pip {args[0]}")


def _last_line(proc: Completed) -> str:
    return proc.last_line() or f"exit code {proc.returncode}"


def vendor_requirements(requirements: Path, target: Path, *, wheel_cache: Path,
                        timeout: float = 600) -> list[Pin]:
    """Install the pins of ``requirements`` into ``target`` (replaced) → the pins installed.

    Raises GantryError when a pin is malformed or a wheel is neither cached nor downloadable.
    """
    pins = read_pins(requirements)
    target = Path(target)
    shutil.rmtree(target, ignore_errors=True)
    if not pins:
        target.mkdir(parents=True)
        return pins
    wheel_cache = Path(wheel_cache).resolve()
    wheel_cache.mkdir(parents=True, exist_ok=True)
    common = ["--no-deps", "--only-binary=:all:", "-r", str(requirements)]
    install = ["install", "--no-index", "--find-links", str(wheel_cache), "--target", str(target),
               "--no-compile", *common]
    proc = _pip(install, timeout)
    if proc.returncode != 0:
        fetch = _pip(["download", "-d", str(wheel_cache), *common], timeout)
        if fetch.returncode != 0:
            raise GantryError(str(requirements), f"cannot download the pinned wheels: {_last_line(fetch)}")
        shutil.rmtree(target, ignore_errors=True)
        proc = _pip(install, timeout)
        if proc.returncode != 0:
            raise GantryError(str(requirements), f"pip install --target failed: {_last_line(proc)}")
    return pins


def prepare_build_context(context: Path, dest: Path, *, wheel_cache: Path,
                          requirements: str = "requirements.txt", timeout: float = 600) -> list[Pin]:
    """Copy ``context`` to ``dest`` (replaced) and vendor its requirements into ``dest/site-packages``.

    A context without ``requirements`` gets an empty ``site-packages/`` (the Dockerfile's COPY
    still works). Returns the pins installed.
    """
    context, dest = Path(context), Path(dest)
    if not context.is_dir():
        raise GantryError(str(context), "build context is not a directory")
    shutil.rmtree(dest, ignore_errors=True)
    inner = dest.resolve()

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set(_COPY_IGNORE(directory, names))
        return skipped | {n for n in names if (Path(directory) / n).resolve() == inner}   # dest inside context

    shutil.copytree(context, dest, ignore=ignore, symlinks=True)
    req = dest / requirements
    if not req.is_file():
        (dest / SITE_PACKAGES).mkdir()
        return []
    return vendor_requirements(req, dest / SITE_PACKAGES, wheel_cache=wheel_cache, timeout=timeout)
