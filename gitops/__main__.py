"""``python -m gitops …``: the same as ``gantry gitops …`` (same options, output and exit codes)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from pipeline_lib.cli import main as gantry

    return gantry(["gitops", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
