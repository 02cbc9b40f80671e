"""Starting Jenkins builds for pending triggers, away from the HTTP path.

A :class:`Dispatcher` takes due triggers from the store (any replica's), calls
``buildWithParameters`` (python-jenkins, crumbs included) from a thread pool and records what
happened: *started*; *pending again* after a transient failure (connection error, timeout,
5xx), due after the :class:`~.retry.RetryPolicy` backoff; or *failed* — a final answer (404:
the job does not exist yet; 401/403) or the retry horizon passed — with an ERROR log line and a
Slack message naming the delivery, repository, job and reason. A trigger *in doubt* is first
looked up in Jenkins (queue + recent builds), so it is not started twice: one taken over from a
dead replica, or one whose POST got an ambiguous answer — a timeout after the request was sent,
a connection dropped mid-answer, a 2xx without ``Location``, a 500/502/504 — since Jenkins may
have queued it anyway (see :func:`post_in_doubt`). Due times and the retry horizon follow the
store's clock (:mod:`.store`), never this process's.

:class:`TriggerProcess` runs the dispatcher in a child process at lower CPU priority, so
answering GitHub never waits for the GIL behind Jenkins calls; outcomes come back over a pipe
for logs and ``/metrics``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jenkins
import requests
import urllib3.exceptions

from pipeline_lib.core.errors import GantryError
from ..jenkins.client import JenkinsClient, JenkinsSettings
from ..notify.slack import post_slack
from .backends import open_store
from .retry import RetryPolicy
from .store import TriggerRow, TriggerStore

log = logging.getLogger("gantry.webhook")

POLL_INTERVAL = 0.25  # seconds between looks for due rows when nothing wakes the dispatcher
EXPIRE_EVERY = 600.0


@dataclass(frozen=True)
class Outcome:
    """What happened to one trigger attempt; sent from the trigger process to the server.

    ``result``: ``started``, ``retry`` (pending again) or ``failed``; ``detail``: the queue item,
    or the error; ``accepted_at``: epoch seconds the delivery was accepted (store's clock);
    ``latency``: seconds from acceptance to this outcome (store's clock, then this process's
    monotonic clock), None when unknown."""

    delivery: str
    job: str
    repo: str
    accepted_at: float
    result: str
    detail: str
    latency: float | None = None

    @property
    def started(self) -> bool:
        return self.result == "started"


_STATUS_IN_MESSAGE = re.compile(r"\[(\d{3})\]")
# Answers after which Jenkins may still have queued the build: an internal error (it can come after
# Queue.schedule), and a proxy's 502/504 (Jenkins behind it may have taken the request). 503 is
# "getting ready" (nothing queued) and a 4xx is a refusal.
_STATUS_IN_DOUBT = frozenset({500, 502, 504})


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(out) < 8:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def post_in_doubt(exc: BaseException) -> bool:
    """Could Jenkins have queued the build although ``buildWithParameters`` raised ``exc``?

    Yes for a 2xx without a usable ``Location`` (python-jenkins' ``EmptyResponseException``), a
    read timeout, a connection dropped after the request was sent, and 500/502/504; no when the
    connection was never made (refused, connect timeout) or Jenkins refused (503, 4xx)."""
    if isinstance(exc, jenkins.EmptyResponseException) or type(exc) in (ValueError, IndexError):
        return True  # a 2xx came, without a queue item (no or a malformed Location): probably queued
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, (requests.ConnectTimeout, urllib3.exceptions.NewConnectionError,
                          ConnectionRefusedError)):
            return False
        if isinstance(e, requests.ConnectionError):
            reason = getattr(e.args[0], "reason", None) if e.args else None
            if isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)):
                return False
    for e in chain:
        response = getattr(e, "response", None)
        status = getattr(response, "status_code", None) if response is not None else None
        if status is None:
            m = _STATUS_IN_MESSAGE.search(str(e))
            status = int(m.group(1)) if m else None
        if status is not None:
            return status in _STATUS_IN_DOUBT
    return any(isinstance(e, (requests.Timeout, jenkins.TimeoutException, TimeoutError, requests.ConnectionError,
                              ConnectionError)) for e in chain)


def failure_message(row: TriggerRow, reason: str) -> str:
    """The Slack / log text of a trigger given up: names delivery, repository, job and reason."""
    return (f":x: gantry webhook: delivery {row.delivery} from {row.repo} could not start Jenkins job "
            f"{row.job}: {reason}")


class Dispatcher:
    """Fire due triggers from ``store``; ``run`` loops until ``stop`` is set.

    ``slack_url``: a Slack incoming-webhook URL (a secret) for failures, or None (log only).
    ``on_outcome`` is called from worker threads with each :class:`Outcome`.
    """

    def __init__(self, store: TriggerStore, client: JenkinsClient, policy: RetryPolicy, workers: int,
                 on_outcome: Callable[[Outcome], None] = lambda o: None, slack_url: str | None = None) -> None:
        self.store = store
        self.client = client
        self.policy = policy
        self.workers = max(1, workers)
        self.on_outcome = on_outcome
        self.slack_url = slack_url
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.wake = threading.Event()
        self.stop = threading.Event()
        self._busy = 0
        self._lock = threading.Lock()

    @property
    def busy(self) -> int:
        return self._busy

    def run(self) -> None:
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="trigger")
        next_expire = time.monotonic() + EXPIRE_EVERY
        store_down = False
        try:
            while not self.stop.is_set():
                with self._lock:
                    free = self.workers - self._busy
                rows: list[TriggerRow] = []
                if free > 0:
                    try:
                        rows = self.store.acquire(self.owner, free, self.policy.lease)
                        if store_down:
                            log.info("webhook: the trigger store answers again")
                        store_down = False
                    except GantryError as err:
                        if not store_down:  # once per outage, not every poll
                            log.error("webhook: cannot read pending triggers: %s", err)
                        store_down = True
                for row in rows:
                    with self._lock:
                        self._busy += 1
                    pool.submit(self._handle, row)
                if time.monotonic() > next_expire:
                    next_expire = time.monotonic() + EXPIRE_EVERY
                    try:
                        self.store.expire()
                    except GantryError as err:
                        log.warning("webhook: cannot expire old triggers: %s", err)
                if rows and len(rows) == free:
                    self.wake.wait(POLL_INTERVAL)  # every worker busy: wait for one to finish
                elif not rows:
                    self.wake.wait(POLL_INTERVAL)
                self.wake.clear()
        finally:
            pool.shutdown(wait=True, cancel_futures=False)

    def _handle(self, row: TriggerRow) -> None:
        try:
            outcome = self.attempt(row)
        except Exception as exc:  # noqa: BLE001 - a worker must survive anything; the lease brings it back
            log.exception("webhook: trigger %s for delivery %s crashed", row.job, row.delivery)
            outcome = Outcome(row.delivery, row.job, row.repo, row.accepted_at, "retry",
                              f"{exc.__class__.__name__}: {exc}")
        finally:
            with self._lock:
                self._busy -= 1
            self.wake.set()
        try:
            self.on_outcome(outcome)
        except Exception:  # noqa: BLE001
            log.exception("webhook: reporting an outcome failed")

    def attempt(self, row: TriggerRow) -> Outcome:
        """One try at ``row`` (acquired by this dispatcher), recorded in the store."""
        acquired = time.monotonic()

        def outcome(result: str, detail: str) -> Outcome:
            return Outcome(row.delivery, row.job, row.repo, row.accepted_at, result, detail,
                           row.age + (time.monotonic() - acquired))

        if row.in_doubt:
            try:
                found = self.client.find_build(row.job, row.params)
            except GantryError as err:
                if getattr(err, "retryable", False):  # still in doubt: look again next time
                    return self._transient(row, f"cannot tell whether an earlier attempt started it: {err}",
                                           outcome, in_doubt=True)
                # A final answer (the job is gone: 404; no right to read it: 403): start it, say so.
                log.warning("webhook: delivery %s: cannot look %s up in Jenkins (%s); starting it",
                            row.delivery, row.job, err)
                found = None
            if found:
                log.warning("webhook: delivery %s: %s was already started (%s) by a replica that stopped",
                            row.delivery, row.job, found)
                self.store.mark_started(row, found)
                return outcome("started", found)
        doubt: list[BaseException] = []

        def post(srv: jenkins.Jenkins) -> int:
            # The client may call this again (a refused crumb; retries): never after an answer
            # that leaves the build in doubt, so one attempt posts at most one build.
            if doubt:
                raise doubt[0]
            try:
                return srv.build_job(row.job, dict(row.params))
            except Exception as exc:
                if post_in_doubt(exc):
                    doubt.append(exc)
                raise

        try:
            queue_id = self.client.call(f"build {row.job}", post)
        except GantryError as err:
            if doubt:
                return self._transient(row, f"{err} (Jenkins may have queued it: it is looked up before "
                                            f"posting again)", outcome, in_doubt=True)
            if getattr(err, "retryable", False):
                return self._transient(row, str(err), outcome)
            return self._fail(row, str(err), outcome)
        if not self.store.mark_started(row, f"queue item {queue_id}"):
            log.warning("webhook: delivery %s: %s started, but the lease had passed to another replica",
                        row.delivery, row.job)
        return outcome("started", f"queue item {queue_id}")

    def _transient(self, row: TriggerRow, reason: str, outcome, in_doubt: bool = False) -> Outcome:
        # The horizon is measured by the store's clock (the row's acceptance time is the store's).
        if self.policy.expired(row.accepted_at, self.store.now()):
            return self._fail(row, f"{reason} (still failing after the retry horizon of "
                                   f"{self.policy.horizon:g}s)", outcome)
        delay = self.policy.delay(row.attempts)
        log.warning("webhook: delivery %s: %s failed (%s); attempt %d, next in %.1fs",
                    row.delivery, row.job, reason, row.attempts, delay)
        self.store.retry_later(row, delay, reason, in_doubt=in_doubt)
        return outcome("retry", reason)

    def _fail(self, row: TriggerRow, reason: str, outcome) -> Outcome:
        if not self.store.mark_failed(row, reason):
            return outcome("retry", "lease lost")
        text = failure_message(row, reason)
        log.error("webhook: %s", text)
        if self.slack_url:
            try:
                post_slack(self.slack_url, text)
            except GantryError as err:
                log.error("webhook: the Slack message for delivery %s failed: %s", row.delivery, err)
        return outcome("failed", reason)


def slack_url(env_name: str | None) -> str | None:
    """The Slack webhook URL from the environment variable ``env_name`` (unset: None)."""
    if not env_name:
        return None
    return (os.environ.get(env_name) or "").strip() or None


def _child_main(store_url: str, settings: JenkinsSettings, policy: RetryPolicy, workers: int,
                slack_env: str | None, inbox, outbox) -> None:
    """The trigger process: run a dispatcher; a message on ``inbox`` wakes it, None stops it."""
    # The server stops us through the pipe (after its own SIGTERM/SIGINT), so in-flight calls are
    # recorded; if the server dies, the pipe closes and we stop the same way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.nice(10)
    except OSError:
        pass
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = open_store(store_url)
    send_lock = threading.Lock()

    def report(outcome: Outcome) -> None:
        with send_lock:
            try:
                outbox.send(outcome)
            except (OSError, EOFError):
                pass

    dispatcher = Dispatcher(store, JenkinsClient(settings, retries=0), policy, workers, report, slack_url(slack_env))
    thread = threading.Thread(target=dispatcher.run, name="dispatcher", daemon=True)
    thread.start()
    while True:
        try:
            msg = inbox.recv()
        except (EOFError, OSError):
            break
        if msg is None:
            break
        dispatcher.wake.set()
    dispatcher.stop.set()
    dispatcher.wake.set()
    thread.join(30)
    store.close()


class TriggerProcess:
    """Parent side: start the child, wake it when triggers were claimed, read its outcomes."""

    def __init__(self, store_url: str, settings: JenkinsSettings, policy: RetryPolicy, workers: int,
                 slack_env: str | None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._to_child_r, self._to_child_w = ctx.Pipe(duplex=False)
        self._from_child_r, self._from_child_w = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child_main, name="gantry-webhook-triggers", daemon=True,
                                 args=(store_url, settings, policy, workers, slack_env,
                                       self._to_child_r, self._from_child_w))
        self._send_lock = threading.Lock()

    def start(self) -> None:
        self._proc.start()
        self._to_child_r.close()
        self._from_child_w.close()

    @property
    def results(self):
        return self._from_child_r

    def wake(self) -> None:
        with self._send_lock:
            self._to_child_w.send(1)

    def stop(self, timeout: float = 10.0) -> None:
        try:
            with self._send_lock:
                self._to_child_w.send(None)
            self._to_child_w.close()
        except OSError:
            pass
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.kill()  # it ignores SIGTERM; its triggers come back when their lease ends
            self._proc.join(5)

    def alive(self) -> bool:
        return self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid
