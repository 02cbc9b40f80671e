"""Pipeline stages: one module per Jenkinsfile stage, one result type, one runner.

Each stage module (``test``, ``scan``, ``build``, ``gate``, ``code_scanning``, ``pr_report``,
``push``, ``replicate``, ``bump``, ``deploy``, ``notify``) exposes one frozen options dataclass
``XOptions`` and ``run(opts: XOptions) -> StageResult``. Jenkins runs each stage as its own
``gantry`` command (the command parses arguments into the options, calls ``run`` and prints,
nothing else); ``gantry demo`` calls the same ``run`` functions, in the Jenkinsfile's order, in
one process. Stages hand each other files, not stdout. ``tests/pipeline_lib/test_stage_contract.py``
checks the contract.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
TYPE_CHECKING = False   # typing's, without importing typing (~3 ms of a `gantry scan`'s start-up)
if TYPE_CHECKING:
    from typing import TextIO

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.settingsmodel import Settings

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"


@dataclass
class StageResult:
    """What one stage did: ``passed``, ``failed`` or ``skipped``, with a one-line detail."""

    name: str
    status: str
    detail: str = ""
    duration: float = 0.0
    data: dict[str, object] = field(default_factory=dict)
    #: the stage's typed product for in-process callers (e.g. the gate's Verdict); not serialised
    value: object = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Passed or honestly skipped: the pipeline may go on."""
        return self.status in (PASSED, SKIPPED)

    def line(self) -> str:
        detail = f"{self.status}: {self.detail}" if self.status == SKIPPED else self.status
        if self.status != SKIPPED and self.detail:
            detail += f" ({self.detail})"
        return f"[{self.name:<16}] {detail}  {self.duration:.2f}s"

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "status": self.status, "detail": self.detail,
                "duration": self.duration, "data": self.data}


def run_stage(name: str, func: Callable[[], StageResult], out: TextIO | None = None,
              settings: Settings | None = None) -> StageResult:
    """Run ``func``, time it, turn a :class:`GantryError` into a failed stage, print one line.

    With ``settings.pushgateway_url`` (``PUSHGATEWAY_URL``) set, the outcome and duration are
    pushed too; a failed push is a warning on stderr, never a failed stage.
    """
    start = time.monotonic()
    try:
        result = func()
    except GantryError as exc:
        result = StageResult(name, FAILED, str(exc))
    result.name = name
    result.duration = time.monotonic() - start
    print(result.line(), file=out or sys.stdout, flush=True)
    from pipeline_lib.metrics.pushgateway import push_stage_run  # prometheus_client: only when a stage ran
    try:
        push_stage_run(name, result.status, result.duration, settings)
    except GantryError as exc:
        print(f"gantry: warning: {exc}", file=sys.stderr, flush=True)
    return result


def summary(results: list[StageResult], total: float) -> str:
    """The final summary line: counts per status and the wall time."""
    counts = {s: sum(1 for r in results if r.status == s) for s in (PASSED, SKIPPED, FAILED)}
    verdict = "OK" if all(r.ok for r in results) else "FAILED"
    return (f"demo {verdict}: {counts[PASSED]} passed, {counts[SKIPPED]} skipped, "
            f"{counts[FAILED]} failed in {total:.1f}s")


def results_json(results: list[StageResult]) -> str:
    return json.dumps([r.to_json() for r in results], indent=2, default=str)
