"""``gantry config show``: every setting gantry reads from the environment, secrets masked."""

from __future__ import annotations

import argparse
import json

from .options import add_format


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show the settings gantry reads from the environment (secrets masked)")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = csub.add_parser("show", help="each variable with its value or default, and what it is for; "
                                        "a secret is shown as *** when set")
    add_format(show, human="table")
    show.set_defaults(func=_show)


def _show(args: argparse.Namespace) -> int:
    from pipeline_lib.core.settings import GROUPS
    from pipeline_lib.core.settingsmodel import settings_table

    rows = settings_table()
    if args.format == "json":
        print(json.dumps({"settings": rows}, indent=2))
        return 0
    width = min(40, max(len(" | ".join(r["variables"])) for r in rows))   # a longer list overflows its line
    for group in GROUPS:
        print(f"# {group}")
        for r in (r for r in rows if r["group"] == group):
            if r["source"] is None:
                shown = "(unset)"
            elif r["source"] == "default":
                shown = f"{r['value']} (default)"
            else:
                shown = str(r["value"]) + (f" (from {r['source']})" if len(r["variables"]) > 1 else "")
            print(f"{' | '.join(r['variables']):<{width}}  {shown}")
            print(f"{'':<{width}}    {r['help']}{' [secret]' if r['secret'] else ''}")
    return 0
