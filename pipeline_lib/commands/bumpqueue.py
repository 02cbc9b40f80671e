"""``gantry gitops bump`` queued for a GitOps batch before the CLI loads (issue 21).

50 bumps started at once on 2 cores spent most of their CPU starting Python: argparse, the
parser of every ``gitops`` action, the modules behind them. A bump whose arguments can be read
without argparse is queued as it was typed: :func:`read` accepts every option of
``gitops bump`` spelled in full (``--opt VALUE`` or ``--opt=VALUE``, each at most once, no value
starting with ``-``); :func:`queue` then needs ``--repo`` (the spool is per repository) and
neither ``--mode pr`` nor batching switched off. Anything else (an abbreviation, ``--help``,
``--workdir``, ``--break-glass``, a repeated option) goes through the full CLI, which parses,
reports and runs as always. The waiting process loads :mod:`gitops.spool` and the settings.

The batch's leader parses each queued command line with gantry's own parser in the waiting
process's environment (:func:`pipeline_lib.core.settings.process_environ`) and runs the lone
bump's checks on it (:func:`pipeline_lib.commands.gitops.prepare_requests`). When it cannot (the
environment is not readable, the arguments do not parse, the bump would not queue) it answers
*defer*, and the waiting process runs the command through the full CLI. Output and exit codes
are the lone bump's (tests/gitops/test_queued_bump.py).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence


TYPE_CHECKING = False   # typing.TYPE_CHECKING without importing typing (~5 ms of start-up)
if TYPE_CHECKING:
    from typing import Any

    from pipeline_lib.core.settingsmodel import Settings

# the options of `gantry gitops bump` (tests/gitops/test_queued_bump.py compares them with its parser)
VALUE_OPTIONS = frozenset({"--catalog", "--repo", "--env", "--service", "--digest", "--tag", "--image", "--build-url",
                           "--mode", "--github-api", "--github-repo", "--format", "--by", "--reason"})
FLAG_OPTIONS = frozenset({"--json"})
UNQUEUED_OPTIONS = frozenset({"-h", "--help", "--workdir", "--break-glass"})   # read by the full CLI only


def read(argv: Sequence[str]) -> dict[str, Any] | None:
    """``{option: value}`` (``True`` for a flag) of a ``gitops bump`` command line (what follows
    ``gitops bump``), or None when it is not one :func:`queue` may read without argparse."""
    opts: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        name, eq, value = argv[i].partition("=")
        i += 1
        if name in FLAG_OPTIONS and not eq:
            found: Any = True
        elif name in VALUE_OPTIONS:
            if not eq:
                if i >= len(argv):
                    return None
                value, i = argv[i], i + 1
            if value.startswith("-"):
                return None
            found = value
        else:
            return None
        if name in opts:
            return None
        opts[name] = found
    return opts


def queue(argv: Sequence[str], read_settings: Callable[[], Settings],
          lead: Callable[[str, str, Settings], None]) -> int | None:
    """Queue the bump ``argv`` (what follows ``gitops bump``) raw and print its answer as the
    lone bump would: its exit code, or None when the full CLI must run it (not readable here,
    or the leader deferred it). The waiting process reads three settings
    (:func:`pipeline_lib.core.settings.value`: the lock directory, no lock, no batching). When it
    gets the writer lock first, it reads them all (``read_settings()``, the CLI's) and
    ``lead(url, spool, settings)`` runs the batches (:func:`pipeline_lib.commands.gitops.lead_requests`).

    Raises the bump's own :class:`GantryError` when it was refused or its batch failed.
    """
    opts = read(argv)
    if opts is None or not opts.get("--repo") or opts.get("--mode") == "pr":
        return None
    from pipeline_lib.core.settings import process_environ, value

    if value("gitops_no_lock") == "1" or value("gitops_no_batch") == "1" or process_environ(os.getpid()) is None:
        return None
    from gitops.spool import submit

    url = opts["--repo"]
    request = {"argv": list(argv), "cwd": os.getcwd(), "service": opts.get("--service"), "env": opts.get("--env")}

    def leader(spool: str) -> None:   # this process got the writer lock first: it runs the batches
        from pipeline_lib.core.process import terminate_on_sigterm
        with terminate_on_sigterm():
            lead(url, spool, read_settings())

    answer = submit(url, value("lock_dir"), {"request": request}, leader,
                    f"bump of {opts.get('--service')} {opts.get('--env')}")
    if answer.get("defer"):
        return None
    print_answer(answer, opts.get("--json") is True or opts.get("--format") == "json",
                 f"{opts.get('--service')} {opts.get('--env')}")
    return 0


def print_answer(answer: dict, as_json: bool, what: str) -> None:
    """Print a queued bump's answer (:func:`gitops.batch.submit_request`) as the lone bump prints
    its result: ``notes`` on stderr, then the result; raises the answer's error."""
    for line in answer.get("notes") or []:
        print(line, file=sys.stderr)
    if "error" in answer:
        from gitops.writeback import error_from_json
        raise error_from_json(answer["error"])
    print_bump(answer["result"], as_json, what)


def print_bump(result: Any, as_json: bool, what: str) -> None:
    """``result``: a :class:`gitops.writeback.BumpResult`, or its fields as a dict (a queued bump's
    answer, :func:`gitops.writeback.result_to_json`): the same output either way."""
    if not isinstance(result, dict):
        from dataclasses import asdict
        result = asdict(result)
    for line in result["warnings"]:
        print(f"gantry: warning: {line}", file=sys.stderr)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    r = result
    if not r["changed"]:
        print(f"{what}: {r['manifest']} already pins {r['new_digest']}; no commit")
    else:
        print(f"{what}: {r['manifest']}: {r['old_tag'] or 'none'} -> {r['new_tag'] or 'none'}, "
              f"{r['old_digest'] or 'none'} -> {r['new_digest']}; commit {r['commit']} on {r['branch']}"
              + (f" ({r['commit_edits']} of a batch of {r['batch']} bumps)" if r["batch"] > 1 else "")
              + (f"; pull request {r['pull_request']}" if r["pull_request"] else ""))
    if r["freight"]:
        print(f"freight {r['freight']} recorded: gantry gitops promote --freight {r['freight']}")
