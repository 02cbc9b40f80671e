"""What a scanner module declares about itself: its command-line options and what it can scan.

A declaration, not argparse (the model is Trivy's flag groups, ``pkg/flag/db_flags.go``: each
group lists ``Flag{Name, Default, Usage}``, and ``ToOptions`` turns the values into a typed
struct). A scanner module (see :class:`scanners.base.Scanner`) sets

- ``OPTIONS``: a tuple of :class:`Option`, its own flags (``gantry scan`` shows them as one
  argument group titled with the tool's name; a flag is unique across all scanners);
- ``SUBJECTS``: what it scans, among :data:`SUBJECT_KINDS` (default: a source tree only);
- ``IMAGE_ARCHIVES``: with ``image-archive``, the archive forms it reads itself, among
  :data:`ARCHIVE_FORMATS` (an OCI archive tar is unpacked into an OCI layout directory for a
  scanner that reads layouts but not archives);
- ``to_options(values) -> dict`` (optional): the declared values by ``Option.dest`` → the
  keywords of its ``run``/``run_image`` (default: the values as they are).

This module imports nothing but the standard library: ``gantry scan --help`` builds the groups
of every registered scanner, and start-up must stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
TYPE_CHECKING = False   # typing's, without importing typing (~3 ms of a `gantry scan`'s start-up)
if TYPE_CHECKING:
    from typing import Any

#: a source tree (``--src``): every scanner's default subject
SOURCE = "source"
#: an image archive on disk (``--input``)
IMAGE_ARCHIVE = "image-archive"
#: an image reference in a registry (``--image``)
IMAGE_REFERENCE = "image-reference"
SUBJECT_KINDS = (SOURCE, IMAGE_ARCHIVE, IMAGE_REFERENCE)
#: how a subject is named in messages and help
SUBJECT_LABELS = {SOURCE: "a source tree", IMAGE_ARCHIVE: "an image archive", IMAGE_REFERENCE: "an image reference"}
#: image archive forms: an OCI image layout directory, an OCI archive (tar of a layout), ``docker save`` output
ARCHIVE_FORMATS = ("oci-layout", "oci-archive", "docker-archive")

#: the flags of ``gantry scan`` itself, which no scanner may declare
RESERVED_FLAGS = ("--help", "--src", "--out", "--timeout", "--image", "--input")

#: how an option's command-line text becomes its value:
#: ``text`` as given; ``path`` a :class:`~pathlib.Path`; ``number`` a float; ``list`` comma-separated
#: → tuple of the non-empty, stripped items; ``switch`` no argument, True when given (else
#: ``default``); ``off`` no argument, False when given (else True)
KINDS = ("text", "path", "number", "list", "switch", "off")


def comma_list(text: str) -> tuple[str, ...]:
    """``"vuln, secret,"`` → ``("vuln", "secret")``."""
    return tuple(x.strip() for x in text.split(",") if x.strip())


@dataclass(frozen=True)
class Option:
    """One flag of one scanner.

    ``flag``: ``--name`` as typed; ``dest``: the key of its value (a keyword of the scanner's
    ``run`` unless ``to_options`` maps it); ``help``: one line (None: no help text);
    ``kind``: one of :data:`KINDS`; ``default``: the value when the flag is not given (for
    ``off``, always True); ``choices``: the accepted texts (empty: any); ``metavar``: the
    placeholder in the usage line (default: the flag's name in upper case, as argparse's).
    """

    flag: str
    dest: str
    help: str | None = None
    kind: str = "text"
    default: Any = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None

    def __post_init__(self) -> None:
        if not self.flag.startswith("--") or len(self.flag) < 3:
            raise ValueError(f"option {self.flag!r}: a flag is --name")
        if self.kind not in KINDS:
            raise ValueError(f"option {self.flag}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if not self.dest.isidentifier():
            raise ValueError(f"option {self.flag}: dest {self.dest!r} is not an identifier")

    @property
    def takes_value(self) -> bool:
        """Whether the flag is followed by a value (``switch`` and ``off`` are not)."""
        return self.kind not in ("switch", "off")

    @property
    def placeholder(self) -> str:
        """The usage line's name of the value: ``--db-repository`` → ``DB_REPOSITORY``."""
        return self.metavar or self.flag[2:].upper().replace("-", "_")

    def convert(self, text: str) -> Any:
        """The value of the command-line ``text`` (ValueError when it is not one)."""
        if self.kind == "path":
            return Path(text)
        if self.kind == "number":
            return float(text)
        if self.kind == "list":
            return comma_list(text)
        return text
