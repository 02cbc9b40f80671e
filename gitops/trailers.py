"""Git trailers on gantry's GitOps records: promote and revoke (and rollback, hold, break-glass).

Format: git-interpret-trailers(1) — ``Key: value`` lines in the last paragraph of the commit
message, one key per line (a key may repeat, e.g. one ``Evidence:`` per bundle). The keys gantry
writes are :data:`KEYS`; :func:`parse` reads them back from one message (``gantry gitops history``
lets git do it: ``%(trailers)``, :mod:`gitops.history`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

ACTION = "Gantry-Action"     # promote | revoke (| rollback | hold | break-glass)
FREIGHT = "Freight"          # the freight ID (gitops.freight.freight_id)
EVIDENCE = "Evidence"        # one per verified bundle: "<service> <kind> <registry>/<repo>@<digest>"
CHECKS = "Checks"            # the names of the checks that passed, comma-separated
BY = "By"                    # who (GANTRY_USER / git author)
REASON = "Reason"            # why (revoke, break-glass)
KEYS = (ACTION, FREIGHT, EVIDENCE, CHECKS, BY, REASON)

_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): (.*)$")


def block(pairs: Iterable[tuple[str, str]]) -> str:
    """The trailer paragraph for ``pairs`` (values on one line each: newlines become spaces)."""
    return "\n".join(f"{key}: {' '.join(str(value).split())}" for key, value in pairs)


def message(subject: str, body: Sequence[str], pairs: Iterable[tuple[str, str]]) -> str:
    """A commit message: subject, blank line, ``body`` lines (may be empty), blank line, trailers."""
    parts = [subject, ""]
    if body:
        parts += [*body, ""]
    return "\n".join([*parts, block(pairs)]) + "\n"


def parse(text: str) -> list[tuple[str, str]]:
    """The trailers of a commit message (its last paragraph, when every line of it is ``Key: value``)."""
    paragraphs = [p for p in text.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return []
    lines = paragraphs[-1].strip().splitlines()
    found = [_LINE.match(line) for line in lines]
    if not all(found):
        return []
    return [(m.group(1), m.group(2)) for m in found if m]
