"""The event stack's load gate: Locust, headless, with the catalog's ``event.load`` profile,
judged against its thresholds.

Locust runs as a child process (``python -m locust``, the interpreter gantry runs in, through
:func:`pipeline_lib.core.process.run`): it monkey-patches the standard library with gevent at
import, which must not happen inside gantry. The child gets a generated locustfile
(:mod:`pipeline_lib.event.locustfile`) and writes into ``out``:

- ``locustfile.py`` — what was run;
- ``locust_stats.csv``, ``locust_stats_history.csv``, ``locust_failures.csv``,
  ``locust_exceptions.csv`` — Locust's CSV reports (``--csv locust``);
- ``locust.html`` — Locust's HTML report;
- ``locust_progress.json`` — users, requests, failures and current p95, replaced every second;
- ``locust.log`` — Locust's output (its summary tables, warnings; the tail when it is long);
- ``loadtest.json`` — the verdict (below), written atomically, last.

The verdict is read from the ``Aggregated`` row of ``locust_stats.csv`` (Locust 2.x columns:
``Type, Name, Request Count, Failure Count, Median Response Time, Average Response Time, Min
Response Time, Max Response Time, Average Content Size, Requests/s, Failures/s, 50%, 66%, 75%,
80%, 90%, 95%, 98%, 99%, 99.9%, 99.99%, 100%``; response times in ms, percentiles rounded as
Locust rounds them; https://docs.locust.io/en/stable/retrieving-stats.html). Thresholds, each
passed when:

- ``p95_ms``: the ``95%`` column <= limit (ms);
- ``p99_ms``: the ``99%`` column <= limit (ms);
- ``error_rate_pct``: 100 * Failure Count / Request Count <= limit (%). Every HTTP status >= 400
  and every connection error is a failure;
- ``min_rps``: ``Requests/s`` (requests over the time from the first to the last request) >= limit.

``loadtest.json`` (one JSON object)::

    {"target": "https://sale.example", "env": "event",
     "started_at": "2027-03-01T12:00:00Z", "finished_at": "2027-03-01T12:10:02Z",   # ISO 8601, UTC
     "passed": true,                          # every threshold passed
     "thresholds": [{"name": "p95_ms", "limit": 500.0, "measured": 212.0, "passed": true}, ...],
     "requests": 120345, "failures": 12,      # Aggregated row
     "profile": {"users": 500, "spawn_rate": 50.0, "duration_s": 600.0, "wait_ms": [500, 2000],
                 "mix": [{"name": "browse", "method": "GET", "path": "/products", "weight": 50}, ...]},
     "error": null}                           # why the run could not be judged, else null

A run that cannot be judged (target unreachable — checked before Locust starts —, Locust missing
or crashed, a task raising, no request made) writes the verdict with ``"passed": false``, empty
``thresholds`` and ``error`` set, then raises :class:`~pipeline_lib.core.errors.GantryError`
(exit 2): never a pass, and the reports of an earlier run are gone (removed when a run starts).
"""

from __future__ import annotations

import concurrent.futures
import csv
import importlib.util
import json
import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline_lib.core.catalog import LoadProfile, LoadThresholds
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import ensure_dir, write_atomic
from pipeline_lib.core.process import TAIL_OUTPUT, Completed, kill_running, run
from pipeline_lib.core.settings import child_env

from . import locustfile

VERDICT_NAME = "loadtest.json"
CSV_PREFIX = "locust"
HTML_NAME = "locust.html"
STATS_CSV = f"{CSV_PREFIX}_stats.csv"
HISTORY_CSV = f"{CSV_PREFIX}_stats_history.csv"
EXCEPTIONS_CSV = f"{CSV_PREFIX}_exceptions.csv"
PROGRESS_JSON = f"{CSV_PREFIX}_progress.json"
LOG_NAME = f"{CSV_PREFIX}.log"
#: every file a run writes (removed first, so a stale report is never read as this run's)
OUTPUTS = (locustfile.FILENAME, STATS_CSV, HISTORY_CSV, f"{CSV_PREFIX}_failures.csv", EXCEPTIONS_CSV,
           HTML_NAME, PROGRESS_JSON, LOG_NAME, VERDICT_NAME)
START_GRACE = 60.0   # seconds Locust gets on top of the run time (start, stop, reports)
WHERE = "event loadtest"


@dataclass(frozen=True)
class Check:
    """One threshold judged: ``limit`` and ``measured`` in the threshold's unit (ms, %, req/s)."""

    name: str
    limit: float
    measured: float
    passed: bool

    def describe(self) -> str:
        """``p95_ms: 212 ms, limit 150 ms`` — the one line naming a missed threshold."""
        unit, word = {"p95_ms": ("ms", "at most"), "p99_ms": ("ms", "at most"),
                      "error_rate_pct": ("%", "at most"), "min_rps": ("req/s", "at least")}[self.name]
        return f"{self.name}: measured {self.measured:g} {unit}, required {word} {self.limit:g} {unit}"


@dataclass(frozen=True)
class Measured:
    """The ``Aggregated`` row of ``locust_stats.csv``: counts, ms, req/s."""

    requests: int
    failures: int
    p95_ms: float
    p99_ms: float
    rps: float

    @property
    def error_rate_pct(self) -> float:
        return 100.0 * self.failures / self.requests if self.requests else 100.0


@dataclass(frozen=True)
class Plan:
    """What one load test does: ``profile`` against ``target`` (base URL), reports into ``out``."""

    target: str
    env: str
    profile: LoadProfile
    out: Path

    def profile_json(self) -> dict:
        p = self.profile
        return {"users": p.users, "spawn_rate": p.spawn_rate, "duration_s": p.duration_s,
                "wait_ms": list(p.wait_ms),
                "mix": [{k: v for k, v in asdict(s).items() if v is not None} for s in p.mix]}

    def to_json(self) -> dict:
        """The dry-run plan: target, env, out, profile, thresholds."""
        return {"target": self.target, "env": self.env, "out": str(self.out), "profile": self.profile_json(),
                "thresholds": asdict(self.profile.thresholds)}


@dataclass(frozen=True)
class Verdict:
    """The outcome written to ``loadtest.json`` (schema: module docstring)."""

    plan: Plan
    started_at: datetime
    finished_at: datetime
    checks: tuple[Check, ...]
    requests: int
    failures: int
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def missed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_json(self) -> dict:
        return {"target": self.plan.target, "env": self.plan.env,
                "started_at": _iso(self.started_at), "finished_at": _iso(self.finished_at),
                "passed": self.passed, "thresholds": [asdict(c) for c in self.checks],
                "requests": self.requests, "failures": self.failures,
                "profile": self.plan.profile_json(), "error": self.error}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def judge(measured: Measured, limits: LoadThresholds) -> tuple[Check, ...]:
    """Each threshold of ``limits`` against ``measured`` (the rules of the module docstring)."""
    err = round(measured.error_rate_pct, 3)
    rps = round(measured.rps, 3)
    return (Check("p95_ms", limits.p95_ms, measured.p95_ms, measured.p95_ms <= limits.p95_ms),
            Check("p99_ms", limits.p99_ms, measured.p99_ms, measured.p99_ms <= limits.p99_ms),
            Check("error_rate_pct", limits.error_rate_pct, err, err <= limits.error_rate_pct),
            Check("min_rps", limits.min_rps, rps, rps >= limits.min_rps))


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        raise GantryError(str(path), "missing: Locust wrote no statistics") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GantryError(str(path), f"unreadable ({type(exc).__name__})") from None


def parse_stats(path: Path) -> Measured:
    """The ``Aggregated`` row of Locust's ``*_stats.csv`` → :class:`Measured`.

    Raises GantryError (exit 2) when the file, the row or a column is missing or not a number,
    and when the row counts no request (nothing was measured: never a pass)."""
    row = next((r for r in _rows(path) if r.get("Name") == "Aggregated"), None)
    if row is None:
        raise GantryError(str(path), "no Aggregated row: not Locust's stats CSV")

    def num(column: str) -> float:
        raw = row.get(column)
        try:
            return float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise GantryError(str(path), f"Aggregated row: column {column!r} is {raw!r}, not a number") from None

    requests = int(num("Request Count"))
    if requests == 0:
        raise GantryError(WHERE, "Locust made no request: nothing was measured")
    return Measured(requests, int(num("Failure Count")), num("95%"), num("99%"), num("Requests/s"))


def progress_line(progress: Path, elapsed: float, duration: float) -> str | None:
    """One progress line (users, requests, failures, the current p95) from the generated
    locustfile's progress file, or None before it wrote one."""
    try:
        data = json.loads(progress.read_text(encoding="utf-8"))
        users, reqs, fails = int(data["users"]), int(data["requests"]), int(data["failures"])
        p95 = data.get("p95_ms")
    except (OSError, ValueError, TypeError, KeyError):
        return None
    rate = f"{100.0 * fails / reqs:.2f}%" if reqs else "n/a"
    p95_text = "n/a" if p95 is None else f"{p95:g} ms"
    return (f"loadtest: {elapsed:.0f}s/{duration:.0f}s users {users} requests {reqs} "
            f"failures {fails} ({rate}) p95 {p95_text}")


def check_target(target: str, timeout: float = 5.0) -> None:
    """Raise Unavailable/TimeoutExceeded (exit 2) unless ``target`` answers HTTP at all (any
    status: a 500 is the load test's business, no connection is not)."""
    from pipeline_lib.core.http import retry_policy, send, session

    with session(retry=retry_policy(total=1, backoff=0.2), timeout=(timeout, timeout)) as s:
        send(s, "GET", target, where=f"{WHERE}: --target {target}", ok=range(100, 600), allow_redirects=False)


def locust_argv(plan: Plan, python: str = sys.executable) -> list[str]:
    """Locust's command line for ``plan`` (headless, CSV + HTML reports, summary only)."""
    p = plan.profile
    return [python, "-m", "locust", "-f", str(plan.out / locustfile.FILENAME), "--headless",
            "--users", str(p.users), "--spawn-rate", f"{p.spawn_rate:g}",
            "--run-time", f"{max(1, math.ceil(p.duration_s))}s", "--host", plan.target,
            "--csv", str(plan.out / CSV_PREFIX), "--html", str(plan.out / HTML_NAME),
            "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "1"]


def _exceptions(out: Path) -> str | None:
    """The first exception a Locust task raised (``*_exceptions.csv``), or None."""
    try:
        rows = _rows(out / EXCEPTIONS_CSV)
    except GantryError:
        return None
    return f"{rows[0].get('Message', '?')} ({rows[0].get('Count', '?')} times)" if rows else None


def run_loadtest(plan: Plan, *, progress: Callable[[str], None] | None = None,
                 progress_interval: float = 5.0, python: str = sys.executable) -> Verdict:
    """Run ``plan`` (see the module docstring) and write its reports and ``loadtest.json``.

    ``progress`` gets a line every ``progress_interval`` seconds while Locust runs. Returns the
    verdict (passed or not). Raises GantryError (exit 2; Unavailable/TimeoutExceeded when the
    target does not answer) when the run cannot be judged: the verdict is written first, failed,
    with its ``error``."""
    out = ensure_dir(plan.out, f"{WHERE}: --out").resolve()
    plan = Plan(plan.target, plan.env, plan.profile, out)
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)
    started = datetime.now(UTC)
    try:
        if importlib.util.find_spec("locust") is None:
            raise GantryError(WHERE, "Locust is not installed in gantry's environment: "
                                     "pip install 'gantry[load]' (or pip install locust)")
        check_target(plan.target)
        write_atomic(out / locustfile.FILENAME, locustfile.render(plan.profile, out / STATS_CSV, out / PROGRESS_JSON))
        done = _run_with_progress(locust_argv(plan, python), out, plan.profile.duration_s + START_GRACE, progress,
                                  progress_interval, plan.profile.duration_s)
        write_atomic(out / LOG_NAME, done.stdout + done.stderr)
        if done.returncode not in (0, 1):
            raise GantryError(WHERE, f"Locust exited {done.returncode}: {done.last_line() or 'no output'}")
        if not (out / STATS_CSV).is_file():
            raise GantryError(WHERE, f"Locust exited {done.returncode} without statistics: "
                                     f"{done.last_line() or 'no output'}")
        crashed = _exceptions(out)
        if crashed:
            raise GantryError(WHERE, f"a Locust task raised: {crashed}")
        measured = parse_stats(out / STATS_CSV)
    except GantryError as exc:
        verdict = Verdict(plan, started, datetime.now(UTC), (), 0, 0, error=str(exc))
        write_atomic(out / VERDICT_NAME, json.dumps(verdict.to_json(), indent=2) + "\n")
        raise
    verdict = Verdict(plan, started, datetime.now(UTC), judge(measured, plan.profile.thresholds),
                      measured.requests, measured.failures)
    write_atomic(out / VERDICT_NAME, json.dumps(verdict.to_json(), indent=2) + "\n")
    return verdict


def _run_with_progress(argv: list[str], out: Path, timeout: float, progress: Callable[[str], None] | None,
                       interval: float, duration: float) -> Completed:
    """:func:`run` in a worker thread while this one prints progress; an interrupt here (Ctrl-C,
    SIGTERM) kills Locust's process group before it propagates."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="locust")
    start = datetime.now(UTC)
    try:
        future = pool.submit(run, argv, timeout=timeout, cwd=out, env=child_env(), max_output=TAIL_OUTPUT,
                             what="locust")
        while True:
            try:
                return future.result(timeout=interval)
            except concurrent.futures.TimeoutError:
                if progress is not None:
                    elapsed = (datetime.now(UTC) - start).total_seconds()
                    line = progress_line(out / PROGRESS_JSON, elapsed, duration)
                    progress(line or f"loadtest: {elapsed:.0f}s/{duration:.0f}s starting Locust")
    except BaseException:
        kill_running()
        raise
    finally:
        pool.shutdown(wait=True)
