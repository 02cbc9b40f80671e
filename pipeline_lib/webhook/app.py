"""The ASGI app behind ``gantry webhook serve``: ``POST /github-webhook/``, ``/healthz``, ``/readyz``,
``/metrics``.

Every request is answered from the delivery alone, well within GitHub's 10 s: the delivery's
triggers are claimed in the store, one row per (delivery, job), in one transaction, and a
dispatcher (:mod:`.triggers`; in a child process under ``gantry webhook serve``) starts them.
A redelivery (same ``X-GitHub-Delivery``) starts exactly the jobs that never started. Bodies
are ``application/json`` or ``application/x-www-form-urlencoded`` (``payload=<JSON>``), the two
content types GitHub's hook settings offer; the signature is over the raw body either way.
Client garbage gets a 4xx, never a 5xx, and never starts a build; a store that cannot be
reached gets a 503, so GitHub records the delivery as failed and it can be redelivered.
``/readyz`` (and ``/healthz``) answer 503 while the store cannot take a write (a probe, at most
one per :data:`PROBE_EVERY` seconds however often they are asked) or the trigger process stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError
from ..jenkins.client import JenkinsClient
from .retry import RetryPolicy
from .routing import BadPayload, route
from .store import PendingStats, TriggerStore
from .triggers import Dispatcher, Outcome, TriggerProcess, slack_url

log = logging.getLogger("gantry.webhook")

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
KNOWN_EVENTS = frozenset({"ping", "push", "pull_request", "create", "delete", "issues", "issue_comment",
                          "pull_request_review", "pull_request_review_comment", "release", "status",
                          "check_run", "check_suite", "workflow_run", "workflow_job", "repository"})
_DELIVERY = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_EVENT = re.compile(r"^[a-z_]{1,64}$")
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")
PROBE_EVERY = 1.0  # seconds a store write probe's answer is reused (health checks cost no write each)
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


class BadBody(ValueError):
    """The (signed) body cannot be read as the content type says."""


def decode_body(content_type: str, body: bytes) -> Any:
    """The payload of a delivery: JSON, or the ``payload`` field of a form (GitHub's two types)."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == FORM_TYPE:
        try:
            form = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True, max_num_fields=16)
        except (UnicodeDecodeError, ValueError):
            raise BadBody("form body is not application/x-www-form-urlencoded") from None
        values = form.get("payload", [])
        if len(values) != 1:
            raise BadBody("form body must carry exactly one payload field")
        text = values[0]
    elif ctype == JSON_TYPE:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadBody("body is not valid JSON") from None
    else:
        raise BadBody(f"Content-Type must be {JSON_TYPE} or {FORM_TYPE} (set it in the webhook settings)")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise BadBody("payload is not valid JSON" if ctype == FORM_TYPE else "body is not valid JSON") from None


@dataclass
class WebhookConfig:
    secret: bytes
    catalog: Catalog
    max_body: int = MAX_BODY
    workers: int = 4
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    trigger_process: bool = False  # fire triggers from a child process (gantry webhook serve)
    slack_env: str | None = "SLACK_WEBHOOK_URL"  # environment variable with the Slack webhook URL


class Metrics:
    def __init__(self, registry: CollectorRegistry, stats) -> None:
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
        # From the store at scrape time: with PostgreSQL, the same numbers on every replica.
        pending = Gauge("gantry_webhook_pending_triggers",
                        "Triggers not yet accepted by Jenkins (pending or being fired), all replicas",
                        registry=registry)
        pending.set_function(lambda: stats().count)
        oldest = Gauge("gantry_webhook_oldest_pending_seconds",
                       "Age of the oldest trigger not yet accepted by Jenkins (0: none)", registry=registry)
        oldest.set_function(lambda: stats().oldest_seconds)


def _answer(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status)


class Receiver:
    """State of one running receiver: config, Jenkins client, store, dispatcher and metrics.

    Triggers are fired either by a child process (``config.trigger_process``, what ``gantry
    webhook serve`` uses) or by a dispatcher thread in this process (tests).
    """

    def __init__(self, config: WebhookConfig, client: JenkinsClient, store: TriggerStore,
                 registry: CollectorRegistry | None = None) -> None:
        self.config = config
        self.client = client
        self.store = store
        self.policy = config.policy
        self.metrics = Metrics(registry or CollectorRegistry(), self._stats)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: TriggerProcess | None = None
        self._dispatcher: Dispatcher | None = None
        self._thread: threading.Thread | None = None
        self._probe: tuple[float, str | None] | None = None  # (monotonic time, why not writable)
        self._probe_lock: asyncio.Lock | None = None

    def _stats(self) -> PendingStats:
        """For the gauges: NaN (Prometheus' "unknown") while the store cannot be read."""
        try:
            return self.store.stats()
        except GantryError:
            return PendingStats(math.nan, math.nan)  # type: ignore[arg-type]

    # -- dispatcher -------------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        if self.config.trigger_process:
            if self._process is not None and not self._process.alive():
                log.error("webhook: the trigger process exited; restarting it")
                self._restart_process()
                return
            if self._process is None:
                self._loop = asyncio.get_running_loop()
                self._process = TriggerProcess(self.store.location, self.client.settings, self.policy,
                                               self.config.workers, self.config.slack_env)
                self._process.start()
                self.store.leave_upkeep_to_others()
                self._loop.add_reader(self._process.results.fileno(), self._on_results)
            return
        if self._thread is None or not self._thread.is_alive():
            self._dispatcher = Dispatcher(self.store, self.client, self.policy, self.config.workers,
                                          self._record, slack_url(self.config.slack_env))
            self._thread = threading.Thread(target=self._dispatcher.run, name="dispatcher", daemon=True)
            self._thread.start()

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

    def _wake(self) -> None:
        if self._process is not None:
            try:
                self._process.wake()
            except (OSError, ValueError) as exc:
                # The rows are in the store; a new process reads every due row when it starts.
                log.error("webhook: trigger process unreachable (%s); restarting it", exc)
                self._restart_process()
        elif self._dispatcher is not None:
            self._dispatcher.wake.set()

    async def startup(self) -> None:
        self._ensure_started()

    async def shutdown(self) -> None:
        if self._process is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._process.results.fileno())
            await asyncio.to_thread(self._process.stop)
            self._process = None
        if self._dispatcher is not None and self._thread is not None:
            self._dispatcher.stop.set()
            self._dispatcher.wake.set()
            await asyncio.to_thread(self._thread.join, 30)
            self._dispatcher = None
            self._thread = None

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until no trigger is pending (all started or failed) and no attempt is under way
        (tests, benchmarks); TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            stats = await asyncio.to_thread(self.store.stats)
            busy = self._dispatcher.busy if self._dispatcher is not None else 0
            if stats.count == 0 and busy == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{stats.count} triggers still pending")
            await asyncio.sleep(0.02)

    def _on_results(self) -> None:
        assert self._process is not None
        conn = self._process.results
        try:
            while conn.poll():
                self._record(conn.recv())
        except (EOFError, OSError):
            if self._loop is not None:
                self._loop.remove_reader(conn.fileno())
            log.error("webhook: the trigger process stopped; pending triggers stay in %s", self.store.url)

    def _record(self, outcome: Outcome) -> None:
        if outcome.result == "started":
            latency = outcome.latency if outcome.latency is not None else time.time() - outcome.accepted_at
            self.metrics.latency.observe(max(0.0, latency))
            self.metrics.triggers.labels("started").inc()
            log.info("webhook: delivery %s started %s (%s)", outcome.delivery, outcome.job, outcome.detail)
        elif outcome.result == "retry":
            self.metrics.retries.inc()
        else:
            self.metrics.triggers.labels("failed").inc()

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
        try:
            payload = decode_body(request.headers.get("content-type", ""), bytes(body))
        except BadBody as exc:
            self._count(event, "bad_request")
            return _answer(400, {"error": str(exc)})
        enterprise = request.headers.get("x-github-enterprise-host")
        if enterprise is not None and not _HOST.match(enterprise.strip()):
            self._count(event, "bad_request")
            return _answer(400, {"error": "invalid X-GitHub-Enterprise-Host"})

        if event == "ping":
            self._count(event, "pong")
            hook = payload.get("hook_id") if isinstance(payload, dict) else None
            return _answer(200, {"pong": True, "hook_id": hook if isinstance(hook, int) else None})
        try:
            decision = route(self.config.catalog, event, payload, enterprise)
        except BadPayload as exc:
            self._count(event, "bad_request")
            return _answer(400, {"error": str(exc)})
        if not decision.triggers:
            self._count(event, "ignored")
            return _answer(200, {"ignored": decision.ignored or "nothing to build"})

        self._ensure_started()
        repo = payload["repository"]["full_name"]
        triggers = [(t.job, t.params) for t in decision.triggers]
        try:
            if self.store.inline:  # SQLite, WAL, no fsync per commit: ~0.1 ms, cheaper than a thread hop
                claimed = self.store.claim(delivery, repo, triggers)
            else:
                claimed = await asyncio.to_thread(self.store.claim, delivery, repo, triggers)
        except GantryError as err:
            log.error("webhook: delivery %s not recorded: %s", delivery, err)
            self._count(event, "store_unavailable")
            return _answer(503, {"error": "the trigger store is unavailable; redeliver later"})
        if not claimed.queued:
            self._count(event, "duplicate")
            return _answer(200, {"ignored": f"delivery {delivery} was already handled",
                                 "jobs": claimed.already})
        self._wake()
        self._count(event, "queued")
        body_out: dict[str, Any] = {"queued": claimed.queued, "delivery": delivery}
        if claimed.already:
            body_out["already"] = claimed.already
        return _answer(202, body_out)

    async def _unwritable(self) -> str | None:
        """Why the store cannot take a write now, or None; probed at most once per PROBE_EVERY
        seconds (concurrent checks share one probe), in a thread: a probe may wait for a lock."""
        cached = self._probe
        if cached is not None and time.monotonic() - cached[0] < PROBE_EVERY:
            return cached[1]
        if self._probe_lock is None:
            self._probe_lock = asyncio.Lock()
        async with self._probe_lock:
            cached = self._probe
            if cached is not None and time.monotonic() - cached[0] < PROBE_EVERY:
                return cached[1]
            try:
                await asyncio.to_thread(self.store.check_writable)
                why = None
            except GantryError as err:
                why = err.what
            before = cached[1] if cached is not None else None
            if why != before:  # log changes, not every probe of an outage
                if why is None:
                    log.info("webhook: the trigger store takes writes again: ready")
                else:
                    log.error("webhook: not ready: %s: %s", self.store.url, why)
            self._probe = (time.monotonic(), why)
            return why

    def _trigger_process_stopped(self) -> bool:
        return self._process is not None and not self._process.alive()

    async def readyz(self, request: Request) -> Response:
        """For the load balancer: 200 ``{"status": "ready"}`` while this replica can record
        deliveries and start them; 503 with the reason when the store cannot take a write or the
        trigger process stopped (a delivery sent here would get a 503 or wait)."""
        why = await self._unwritable()
        if why is not None:
            return _answer(503, {"status": f"store not writable: {why}"})
        if self._trigger_process_stopped():
            return _answer(503, {"status": "trigger process stopped"})
        return _answer(200, {"status": "ready"})

    async def healthz(self, request: Request) -> Response:
        """200 with the pending triggers (all replicas) and the oldest one's age in seconds;
        503 when the store cannot be read or written, or the trigger process stopped."""
        try:
            stats = self.store.stats() if self.store.inline else await asyncio.to_thread(self.store.stats)
        except GantryError as err:
            return _answer(503, {"status": f"store unavailable: {err.what}"})
        body = {"pending_triggers": stats.count, "oldest_pending_seconds": round(stats.oldest_seconds, 3)}
        why = await self._unwritable()
        if why is not None:
            return _answer(503, {"status": f"store not writable: {why}", **body})
        if self._trigger_process_stopped():
            return _answer(503, {"status": "trigger process stopped", **body})
        return _answer(200, {"status": "ok", **body})

    async def metrics_endpoint(self, request: Request) -> Response:
        # The pending-trigger gauges query the store: off the event loop unless it is SQLite.
        text = (generate_latest(self.metrics.registry) if self.store.inline
                else await asyncio.to_thread(generate_latest, self.metrics.registry))
        return Response(text, media_type=CONTENT_TYPE_LATEST)


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
        Route("/readyz", receiver.readyz, methods=["GET"]),
        Route("/metrics", receiver.metrics_endpoint, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.receiver = receiver
    return app
