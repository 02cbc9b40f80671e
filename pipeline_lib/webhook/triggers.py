"""Starting Jenkins builds for accepted deliveries, away from the HTTP path.

:func:`fire` calls ``buildWithParameters`` (python-jenkins, crumbs included) and retries
connection errors and 5xx with exponential backoff. :class:`TriggerProcess` runs it in a child
process at lower CPU priority, so answering GitHub never waits for the GIL behind Jenkins
calls; results come back over a pipe for logs and ``/metrics``. Triggers are rows in the
delivery database: the child marks them done or given up, and picks up leftovers on start.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.retry import retrying
from ..jenkins import JenkinsClient, JenkinsSettings
from .store import DeliveryStore, PendingTrigger

log = logging.getLogger("gantry.webhook")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    backoff: float = 1.0
    max_backoff: float = 60.0


@dataclass(frozen=True)
class Outcome:
    """What happened to one trigger; sent from the trigger process to the server."""

    trigger_id: int
    job: str
    delivery: str
    accepted_at: float
    started: bool
    detail: str  # queue item number, or the last error
    retries: int


def fire(client: JenkinsClient, trigger: PendingTrigger, policy: RetryPolicy,
         sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Start the build; retry transient failures (:func:`pipeline_lib.core.retry.retrying`, waits
    growing from ``policy.backoff`` to ``policy.max_backoff``); never raises for Jenkins errors."""
    retries = 0

    def note(state) -> None:  # type: ignore[no-untyped-def]
        nonlocal retries
        retries += 1
        log.warning("webhook: %s for delivery %s failed (%s); retry in %.1fs", trigger.job, trigger.delivery,
                    state.outcome.exception(), state.next_action.sleep)

    try:
        for attempt in retrying(GantryError, when=lambda err: getattr(err, "retryable", False),
                                attempts=policy.attempts, first=policy.backoff, max_wait=policy.max_backoff,
                                sleep=sleep, before_sleep=note):
            with attempt:
                queue_id = client.build(trigger.job, trigger.params)
    except GantryError as err:
        return Outcome(trigger.id, trigger.job, trigger.delivery, trigger.accepted_at, False, str(err), retries)
    return Outcome(trigger.id, trigger.job, trigger.delivery, trigger.accepted_at, True, str(queue_id), retries)


def settle(store: DeliveryStore, trigger: PendingTrigger, outcome: Outcome) -> None:
    """Record the outcome: done, or given up (so a redelivery of that delivery may try again)."""
    if outcome.started:
        store.done(trigger)
    else:
        store.give_up(trigger)


def _child_main(db_path: str, settings: JenkinsSettings, policy: RetryPolicy, workers: int,
                inbox, outbox) -> None:
    """The trigger process: receive triggers, fire them from a thread pool, report outcomes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops us by closing the pipe
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        os.nice(10)
    except OSError:
        pass
    store = DeliveryStore(db_path)
    client = JenkinsClient(settings, retries=0)
    seen: set[int] = set()
    send_lock = threading.Lock()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trigger")

    def run(trigger: PendingTrigger) -> None:
        try:
            outcome = fire(client, trigger, policy)
            settle(store, trigger, outcome)
        except Exception as exc:  # noqa: BLE001 - report, never die
            outcome = Outcome(trigger.id, trigger.job, trigger.delivery, trigger.accepted_at, False,
                              f"{exc.__class__.__name__}: {exc}", 0)
        with send_lock:
            try:
                outbox.send(outcome)
            except (OSError, EOFError):
                pass

    def submit(triggers: list[PendingTrigger]) -> None:
        for t in triggers:
            if t.id not in seen:  # leftovers read at start may also arrive through the pipe
                seen.add(t.id)
                pool.submit(run, t)

    submit(store.pending())
    while True:
        try:
            msg = inbox.recv()
        except (EOFError, OSError):
            break
        if msg is None:
            break
        submit(msg)
    pool.shutdown(wait=True, cancel_futures=True)
    store.close()


class TriggerProcess:
    """Parent side: start the child, send it triggers, hand outcomes to ``on_outcome``."""

    def __init__(self, db_path: str, settings: JenkinsSettings, policy: RetryPolicy, workers: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._to_child_r, self._to_child_w = ctx.Pipe(duplex=False)
        self._from_child_r, self._from_child_w = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child_main, name="gantry-webhook-triggers", daemon=True,
                                 args=(db_path, settings, policy, workers, self._to_child_r, self._from_child_w))
        self._send_lock = threading.Lock()
        self.outstanding = 0

    def start(self) -> None:
        self._proc.start()
        self._to_child_r.close()
        self._from_child_w.close()

    @property
    def results(self):
        return self._from_child_r

    def send(self, triggers: list[PendingTrigger]) -> None:
        with self._send_lock:
            self.outstanding += len(triggers)
            self._to_child_w.send(triggers)

    def stop(self, timeout: float = 10.0) -> None:
        try:
            with self._send_lock:
                self._to_child_w.send(None)
            self._to_child_w.close()
        except OSError:
            pass
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)

    def alive(self) -> bool:
        return self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid
