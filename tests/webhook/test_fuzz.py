"""Fuzz the receiver in-process (ASGI, no network): 10 000+ hostile deliveries, never a 5xx or a build.

Each test counts the cases it really ran; together they run at least 10 000.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_lib.webhook.app import create_app

from .conftest import SECRET, asgi_request, fixture_files, make_receiver, sign
from tests.support.paths import FIXTURES

SHARED = FIXTURES
FIXTURES = {p.name: json.loads(p.read_bytes()) for p in fixture_files(SHARED)}
EVENTS = st.sampled_from(["push", "pull_request", "ping", "issues", "create", ""]) | st.text(max_size=20)
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80)
def fuzz(n: int) -> settings:
    return settings(max_examples=n, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])
SEEDS = st.integers(min_value=0, max_value=2**64 - 1)
_ALPHABET = "abcdefghijklmnopqrstuvwxyz_-/.:0123456789 \u00e9\u4e2d\U0001f600\x00\"\\"


def random_text(rng: random.Random, n: int = 12) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, n)))


def random_json(rng: random.Random, depth: int = 0):
    """A random JSON value; cheaper than a recursive hypothesis strategy, driven by its seed."""
    kind = rng.randint(0, 7 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, -2**63, 2**70, rng.randint(-10**6, 10**6)])
    if kind == 3:
        return rng.choice([0.5, -1e308, 1e-300, rng.random()])
    if kind in (4, 5):
        return rng.choice(["", "0" * 40, "refs/heads/main", "refs/tags/v1", "Codertocat/Hello-World",
                           "opened", random_text(rng, 30)])
    if kind == 6:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["ref", "after", "action", "number", "repository", "full_name", "pull_request", "head", "base",
            "sha", "repo", "commits", "deleted", "modified"]
    return {rng.choice(keys) if rng.random() < 0.7 else random_text(rng): random_json(rng, depth + 1)
            for _ in range(rng.randint(0, 5))}


@pytest.fixture()
def harness(test_catalog, jenkins, tmp_path):
    receiver = make_receiver(test_catalog, jenkins, tmp_path / "fuzz.sqlite3")
    app = create_app(receiver)
    loop = asyncio.new_event_loop()
    yield receiver, app, loop, jenkins
    loop.run_until_complete(receiver.shutdown())
    loop.close()
    receiver.store.close()


def _send(loop, app, headers, body) -> int:
    status, _ = loop.run_until_complete(asgi_request(app, "POST", "/github-webhook/", headers, body))
    return status


def _assert_no_build(receiver, loop, jenkins) -> None:
    if receiver._dispatcher is not None:
        loop.run_until_complete(receiver.drain(10))
    assert receiver.store.pending() == []
    assert jenkins.state.builds == []


def test_random_bodies_headers_and_signatures(harness) -> None:
    receiver, app, loop, jenkins = harness
    runs = []

    @fuzz(4000)
    @given(seed=SEEDS, event=EVENTS, signature=HEADER_TEXT,
           ctype=st.sampled_from(["application/json", "text/plain", "", "application/json; charset=utf-8"]))
    def run(seed, event, signature, ctype):
        rng = random.Random(seed)
        body = rng.randbytes(rng.randint(0, 2048)) if rng.random() < 0.5 else \
            json.dumps(random_json(rng)).encode()
        delivery = random_text(rng, 40).encode("utf-8").decode("latin-1")
        if rng.random() < 0.3:  # well-formed but wrong signatures
            signature = "sha256=" + rng.randbytes(32).hex()
        extra = [(random_text(rng, 10).encode("utf-8") or b"x", rng.randbytes(rng.randint(0, 30)))
                 for _ in range(rng.randint(0, 3))]
        headers = [(b"x-github-event", event.encode("utf-8", "replace")),
                   (b"x-github-delivery", delivery.encode("latin-1")),
                   (b"x-hub-signature-256", signature.encode("latin-1")),
                   (b"content-type", ctype.encode("latin-1"))] + [(k.lower(), v) for k, v in extra]
        status = _send(loop, app, headers, body)
        runs.append(status)
        assert status in (400, 401), status

    run()
    assert len(runs) >= 4000
    _assert_no_build(receiver, loop, jenkins)


def test_signed_random_json(harness) -> None:
    """Correctly signed (the secret leaked, or a buggy sender) but random JSON: 2xx/4xx, no build."""
    receiver, app, loop, jenkins = harness
    runs = []

    @fuzz(3500)
    @given(seed=SEEDS, event=EVENTS, delivery=st.uuids())
    def run(seed, event, delivery):
        body = json.dumps(random_json(random.Random(seed))).encode()
        headers = {"X-GitHub-Event": event.encode("utf-8", "replace").decode("latin-1"),
                   "X-GitHub-Delivery": str(delivery), "X-Hub-Signature-256": sign(body),
                   "Content-Type": "application/json"}
        status = _send(loop, app, headers, body)
        runs.append(status)
        assert status in (200, 400), status

    run()
    assert len(runs) >= 3500
    _assert_no_build(receiver, loop, jenkins)


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))


def test_signed_mutated_fixture_payloads(harness) -> None:
    """Real payloads with one field replaced by junk: never a 5xx (some may still start a build)."""
    receiver, app, loop, jenkins = harness
    runs = []
    names = sorted(n for n in FIXTURES if n.startswith(("push", "pull_request")))
    all_paths = {n: [p for p in _paths(FIXTURES[n]) if len(p) <= 4] for n in names}

    @fuzz(2500)
    @given(seed=SEEDS, name=st.sampled_from(names), delivery=st.uuids())
    def run(seed, name, delivery):
        rng = random.Random(seed)
        junk = random_json(rng)
        payload = json.loads(json.dumps(FIXTURES[name]))
        path = rng.choice(all_paths[name])
        target = payload
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = junk
        body = json.dumps(payload).encode()
        headers = {"X-GitHub-Event": name.split("-")[0].split(".")[0], "X-GitHub-Delivery": str(delivery),
                   "X-Hub-Signature-256": sign(body), "Content-Type": "application/json"}
        status = _send(loop, app, headers, body)
        runs.append(status)
        assert status in (200, 202, 400), status

    run()
    assert len(runs) >= 2500
    if receiver._dispatcher is not None:
        loop.run_until_complete(receiver.drain(30))
    assert receiver.store.pending() == []
    assert SECRET  # the same secret signs every case
