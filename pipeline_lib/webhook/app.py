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

from ..catalog import Catalog
from ..errors import GantryError
from ..jenkins import JenkinsClient
from .routing import BadPayload, route
from .store import DeliveryStore, PendingTrigger

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
    """State of one running receiver: config, Jenkins client, store, queue and metrics."""

    def __init__(self, config: WebhookConfig, client: JenkinsClient, store: DeliveryStore,
                 registry: CollectorRegistry | None = None) -> None:
        self.config = config
        self.client = client
        self.store = store
        self.metrics = Metrics(registry or CollectorRegistry())
        self._queue: asyncio.Queue[PendingTrigger] | None = None
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- queue ----------------------------------------------------------------------------------
    def _ensure_workers(self) -> asyncio.Queue[PendingTrigger]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:
            self._loop = loop
            self._queue = asyncio.Queue()
            self._tasks = [loop.create_task(self._worker(i)) for i in range(max(1, self.config.workers))]
            for trigger in self.store.pending():  # left over from a previous run
                self._queue.put_nowait(trigger)
            self.metrics.queue.set(self._queue.qsize())
        return self._queue

    async def startup(self) -> None:
        self._ensure_workers()

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._queue = None

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until every queued trigger reached Jenkins or was given up (tests, benchmarks)."""
        if self._queue is not None:
            await asyncio.wait_for(self._queue.join(), timeout)

    async def _worker(self, index: int) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            trigger = await queue.get()
            try:
                await self._fire(trigger)
            except Exception:  # noqa: BLE001 - a worker must survive anything
                log.exception("webhook: trigger %s for delivery %s crashed", trigger.job, trigger.delivery)
            finally:
                queue.task_done()
                self.metrics.queue.set(queue.qsize())

    async def _fire(self, trigger: PendingTrigger) -> None:
        cfg = self.config
        last = ""
        for attempt in range(cfg.attempts):
            try:
                queue_id = await asyncio.to_thread(self.client.build, trigger.job, trigger.params)
            except GantryError as err:
                last = str(err)
                if not getattr(err, "retryable", False) or attempt + 1 >= cfg.attempts:
                    break
                delay = min(cfg.max_backoff, cfg.backoff * (2 ** attempt))
                self.metrics.retries.inc()
                log.warning("webhook: %s for delivery %s failed (%s); retry in %.1fs",
                            trigger.job, trigger.delivery, last, delay)
                await asyncio.sleep(delay)
                continue
            await asyncio.to_thread(self.store.done, trigger)
            self.metrics.latency.observe(max(0.0, time.time() - trigger.accepted_at))
            self.metrics.triggers.labels("started").inc()
            log.info("webhook: delivery %s started %s (queue item %s)", trigger.delivery, trigger.job, queue_id)
            return
        self.metrics.triggers.labels("failed").inc()
        log.error("webhook: delivery %s could not start %s: %s", trigger.delivery, trigger.job, last)
        await asyncio.to_thread(self.store.give_up, trigger)

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

        claimed = await asyncio.to_thread(self.store.claim, delivery,
                                          [(t.job, t.params) for t in decision.triggers])
        if claimed is None:
            self._count(event, "duplicate")
            return _answer(200, {"ignored": f"delivery {delivery} was already handled"})
        queue = self._ensure_workers()
        for trigger in claimed:
            queue.put_nowait(trigger)
        self.metrics.queue.set(queue.qsize())
        self._count(event, "queued")
        return _answer(202, {"queued": [t.job for t in claimed], "delivery": delivery})

    async def healthz(self, request: Request) -> Response:
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
