"""``python -m gitops …``: the ``gantry gitops`` commands alone, without loading every other
gantry command (a fast entry point for agents that only bump; same options, output and exit codes).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from pipeline_lib.cli import _Parser
    from pipeline_lib.commands import gitops as commands
    from pipeline_lib.errors import EXIT_INTERRUPTED, GantryError

    parser = _Parser(prog="gantry", description="gantry gitops commands")
    commands.register(parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser))
    args = parser.parse_args(["gitops", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except GantryError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gantry: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
