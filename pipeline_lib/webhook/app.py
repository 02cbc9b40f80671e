"""The ASGI app behind ``gantry webhook serve``: ``POST /github-webhook/``, ``/healthz``, ``/metrics``.

Every request is answered from the delivery alone, well within GitHub's 10 s: triggers are
written to the delivery database and queued; background workers call Jenkins
(``buildWithParameters`` through python-jenkins, crumbs included) and retry with backoff.
Client garbage gets a 4xx, never a 5xx, and never starts a build.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline_lib.core.catalog import Catalog
from ..jenkins import JenkinsClient
from .routing import BadPayload, route
from .store import DeliveryStore, PendingTrigger
from .triggers import Outcome, RetryPolicy, TriggerProcess, fire, settle

log = logging.getLogger("gantry.webhook")

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
KNOWN_EVENTS = frozenset({"ping", "push", "pull_request", "create", "delete", "issues", "issue_comment",
                          "pull_request_review", "pull_request_review_comment", "release", "status",
                          "check_run", "check_suite", "workflow_run", "workflow_job", "repository"})
_DELIVERY = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_EVENT = re.compile(r"^[a-z_]{1,64}$")
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")


@dataclass
class WebhookConfig:
    secret: bytes
    catalog: Catalog
    max_body: int = MAX_BODY
    workers: int = 4
    attempts: int = 6          # tries per trigger before giving up
    backoff: float = 1.0       # first retry delay, doubled each time
    max_backoff: float = 60.0
    trigger_process: bool = False  # fire triggers from a child process (gantry webhook serve)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.deliveries = Counter("gantry_webhook_deliveries", "GitHub deliveries by event and outcome",
                                  ["event", "outcome"], registry=registry)
        self.latency = Histogram("gantry_webhook_trigger_latency_seconds",
                                 "From delivery accepted to Jenkins queueing the build",
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
                                 registry=registry)
        self.triggers = Counter("gantry_webhook_triggers", "Build triggers by result", ["result"],
                                registry=registry)
        self.retries = Counter("gantry_webhook_trigger_retries", "Jenkins calls retried", registry=registry)
        self.queue = Gauge("gantry_webhook_queue_depth", "Triggers waiting for Jenkins", registry=registry)


def _answer(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status)


class Receiver:
    """State of one running receiver: config, Jenkins client, store, trigger queue and metrics.

    Triggers run either in a child process (``config.trigger_process``, what ``gantry webhook
    serve`` uses) or in worker tasks of the server's own event loop (tests).
    """

    def __init__(self, config: WebhookConfig, client: JenkinsClient, store: DeliveryStore,
                 registry: CollectorRegistry | None = None) -> None:
        self.config = config
        self.client = client
        self.store = store
        self.metrics = Metrics(registry or CollectorRegistry())
        self.policy = RetryPolicy(config.attempts, config.backoff, config.max_backoff)
        self._queue: asyncio.Queue[PendingTrigger] | None = None
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seen_triggers: set[int] = set()
        self._process: TriggerProcess | None = None

    # -- trigger queue ----------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if self.config.trigger_process:
            if self._process is not None and not self._process.alive():
                log.error("webhook: the trigger process exited; restarting it")
                self._restart_process()
                return
            if self._process is None:
                self._loop = loop
                self._process = TriggerProcess(self.store.path, self.client.settings, self.policy,
                                               self.config.workers)
                self._process.start()
                loop.add_reader(self._process.results.fileno(), self._on_results)
            return
        if self._queue is None or self._loop is not loop:
            self._loop = loop
            self._queue = asyncio.Queue()
            self._seen_triggers.clear()
            self._tasks = [loop.create_task(self._worker(i)) for i in range(max(1, self.config.workers))]
            self._enqueue(self.store.pending())  # left over from a previous run

    def _restart_process(self) -> None:
        old = self._process
        self._process = None
        if old is not None:
            if self._loop is not None:
                try:
                    self._loop.remove_reader(old.results.fileno())
                except (OSError, ValueError):
                    pass
            try:
                old.stop(timeout=1.0)
            except Exception:  # noqa: BLE001 - it is already broken
                pass
        self._ensure_started()

    def _enqueue(self, triggers: list[PendingTrigger]) -> None:
        if self._process is not None:
            try:
                self._process.send(triggers)
            except (OSError, ValueError) as exc:
                # The trigger process died: the rows are in the database, and a new process
                # reads every pending row when it starts.
                log.error("webhook: trigger process unreachable (%s); restarting it", exc)
                self._restart_process()
            self.metrics.queue.set(self._process.outstanding if self._process else 0)
            return
        assert self._queue is not None
        for trigger in triggers:
            if trigger.id not in self._seen_triggers:  # never fire one row twice
                self._seen_triggers.add(trigger.id)
                self._queue.put_nowait(trigger)
        self.metrics.queue.set(self._queue.qsize())

    async def startup(self) -> None:
        self._ensure_started()

    async def shutdown(self) -> None:
        if self._process is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._process.results.fileno())
            await asyncio.to_thread(self._process.stop)
            self._process = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._queue = None

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until every queued trigger reached Jenkins or was given up (tests, benchmarks)."""
        if self._process is not None:
            deadline = time.monotonic() + timeout
            while self._process.outstanding > 0:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self._process.outstanding} triggers still pending")
                await asyncio.sleep(0.01)
        elif self._queue is not None:
            await asyncio.wait_for(self._queue.join(), timeout)

    def _on_results(self) -> None:
        assert self._process is not None
        conn = self._process.results
        try:
            while conn.poll():
                outcome = conn.recv()
                self._process.outstanding = max(0, self._process.outstanding - 1)
                self._record(outcome)
        except (EOFError, OSError):
            if self._loop is not None:
                self._loop.remove_reader(conn.fileno())
            log.error("webhook: the trigger process stopped; pending triggers stay in %s", self.store.path)
        self.metrics.queue.set(self._process.outstanding)

    def _record(self, outcome: Outcome) -> None:
        if outcome.retries:
            self.metrics.retries.inc(outcome.retries)
        if outcome.started:
            self.metrics.latency.observe(max(0.0, time.time() - outcome.accepted_at))
            self.metrics.triggers.labels("started").inc()
            log.info("webhook: delivery %s started %s (queue item %s)", outcome.delivery, outcome.job, outcome.detail)
        else:
            self.metrics.triggers.labels("failed").inc()
            log.error("webhook: delivery %s could not start %s: %s", outcome.delivery, outcome.job, outcome.detail)

    async def _worker(self, index: int) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            trigger = await queue.get()
            try:
                outcome = await asyncio.to_thread(fire, self.client, trigger, self.policy)
                await asyncio.to_thread(settle, self.store, trigger, outcome)
                self._record(outcome)
            except Exception:  # noqa: BLE001 - a worker must survive anything
                log.exception("webhook: trigger %s for delivery %s crashed", trigger.job, trigger.delivery)
            finally:
                queue.task_done()
                self.metrics.queue.set(queue.qsize())

    # -- HTTP -----------------------------------------------------------------------------------
    def _count(self, event: str, outcome: str) -> None:
        self.metrics.deliveries.labels(event if event in KNOWN_EVENTS else "other", outcome).inc()

    async def github(self, request: Request) -> Response:
        event = request.headers.get("x-github-event", "")
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                self._count(event, "bad_request")
                return _answer(400, {"error": "invalid Content-Length"})
            if int(length) > self.config.max_body:
                self._count(event, "too_large")
                return _answer(413, {"error": f"payload over {self.config.max_body} bytes"})
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > self.config.max_body:
                    self._count(event, "too_large")
                    return _answer(413, {"error": f"payload over {self.config.max_body} bytes"})
        except ClientDisconnect:
            self._count(event, "bad_request")
            return _answer(400, {"error": "client disconnected"})

        m = _SIGNATURE.match(request.headers.get("x-hub-signature-256", ""))
        expected = hmac.new(self.config.secret, bytes(body), hashlib.sha256).hexdigest()
        if m is None or not hmac.compare_digest(m.group(1).lower().encode(), expected.encode()):
            self._count(event, "bad_signature")
            return _answer(401, {"error": "missing or invalid X-Hub-Signature-256"})

        if not _EVENT.match(event):
            self._count(event, "bad_request")
            return _answer(400, {"error": "missing or invalid X-GitHub-Event"})
        delivery = request.headers.get("x-github-delivery", "")
        if not _DELIVERY.match(delivery):
            self._count(event, "bad_request")
            return _answer(400, {"error": "missing or invalid X-GitHub-Delivery"})
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            self._count(event, "bad_request")
            return _answer(400, {"error": "Content-Type must be application/json (set it in the webhook settings)"})
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            self._count(event, "bad_request")
            return _answer(400, {"error": "body is not valid JSON"})

        if event == "ping":
            self._count(event, "pong")
            hook = payload.get("hook_id") if isinstance(payload, dict) else None
            return _answer(200, {"pong": True, "hook_id": hook if isinstance(hook, int) else None})
        try:
            decision = route(self.config.catalog, event, payload)
        except BadPayload as exc:
            self._count(event, "bad_request")
            return _answer(400, {"error": str(exc)})
        if not decision.triggers:
            self._count(event, "ignored")
            return _answer(200, {"ignored": decision.ignored or "nothing to build"})

        self._ensure_started()  # before the claim: leftovers are read once, new rows queued once
        # SQLite in WAL mode without fsync per commit: ~0.1 ms, cheaper inline than a thread hop.
        claimed = self.store.claim(delivery, [(t.job, t.params) for t in decision.triggers])
        if claimed is None:
            self._count(event, "duplicate")
            return _answer(200, {"ignored": f"delivery {delivery} was already handled"})
        self._enqueue(claimed)
        self._count(event, "queued")
        return _answer(202, {"queued": [t.job for t in claimed], "delivery": delivery})

    async def healthz(self, request: Request) -> Response:
        if self._process is not None:
            if not self._process.alive():
                return _answer(503, {"status": "trigger process stopped", "queue": self._process.outstanding})
            return _answer(200, {"status": "ok", "queue": self._process.outstanding})
        return _answer(200, {"status": "ok", "queue": self._queue.qsize() if self._queue else 0})

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def create_app(receiver: Receiver) -> Starlette:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette):
        await receiver.startup()
        try:
            yield
        finally:
            await receiver.shutdown()

    app = Starlette(routes=[
        Route("/github-webhook/", receiver.github, methods=["POST"]),
        Route("/github-webhook", receiver.github, methods=["POST"]),
        Route("/healthz", receiver.healthz, methods=["GET"]),
        Route("/metrics", receiver.metrics_endpoint, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.receiver = receiver
    return app
