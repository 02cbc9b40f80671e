"""Acceptance: 200 promotions dev -> prod with random verification failures, re-verifications,
revocations and back-to-back queued promotions (the world changes while a promotion waits for
its write) end with 0 prod pins of freight that was not verified and soaked in dev, and 100 % of
revoked freight refused.

Real parts: a bare GitOps repo (every promotion, freight record and revocation a real commit),
the Argo CD API on pytest-httpserver (bodies validated against Argo CD's swagger), real signed
evidence verified with the prod key (exported bundles), an injected clock. The promotion core
runs in-process (the stage's ``run``, as ``gantry gitops promote`` calls it).

The oracle is this test's own model of the world: a freight may be pinned in prod only if, at
the moment of the write, it is the build dev runs, Healthy there for the soak (30 min) since its
deployment and its last health transition, its evidence verifies for prod, and it is not revoked.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from gitops import trailers
from gitops.freight import Freight, revoke
from gitops.git import git
from gitops.hostlock import Writers
from pipeline_lib.core.errors import CheckFailed
from pipeline_lib.stages.promote import run
from tests.attest.helpers import new_key

from .promotion_world import World

PROMOTIONS = 200
SOAK_MINUTES = 30


@dataclass
class Truth:
    """The oracle: what each freight really is."""

    deployed: dict[str, datetime] = field(default_factory=dict)      # freight -> dev deployment time
    current: str | None = None                                        # the freight dev runs
    healthy_since: datetime | None = None
    healthy: bool = True
    broken: set[str] = field(default_factory=set)                    # evidence no longer verifies
    revoked: set[str] = field(default_factory=set)

    def promotable(self, fid: str, now: datetime) -> bool:
        if fid in self.revoked or fid in self.broken or fid != self.current or not self.healthy:
            return False
        since = max(self.deployed[fid], self.healthy_since or self.deployed[fid])
        return (now - since).total_seconds() >= SOAK_MINUTES * 60


def test_200_promotions_never_pin_unverified_or_revoked_freight(tmp_path: Path, httpserver) -> None:
    rng = random.Random(24)
    started = time.monotonic()
    world = World(tmp_path, httpserver)
    stranger = new_key(tmp_path / "stranger")
    truth = Truth()
    freights: list[Freight] = []
    wd_promote, wd_other = tmp_path / "wd-promote", tmp_path / "wd-other"
    side = Writers(lock_dir=str(tmp_path / "locks"), lock=False, batch=False)   # a second writer during a wait

    def build() -> None:
        f = world.build()
        freights.append(f)
        truth.deployed[f.id], truth.current = world.now, f.id
        truth.healthy, truth.healthy_since = True, world.now

    def break_evidence(f: Freight) -> None:
        digest = f.items[0].digest
        how = rng.choice(("dev-verdict", "failing-gate", "stranger-key", "missing"))
        if how == "missing":
            world.bundles[digest] = world.bundles[digest][:2]            # no verdict
        elif how == "stranger-key":
            world.sign(digest, key=stranger)
        else:
            world.sign(digest, environment="dev" if how == "dev-verdict" else "prod", passing=how == "dev-verdict")
        truth.broken.add(f.id)

    def set_health(healthy: bool) -> None:
        app = "storefront-dev"
        world.argocd.set_health(app, "Healthy" if healthy else "Degraded", world.now)
        if healthy != truth.healthy:
            truth.healthy_since = world.now
        truth.healthy = healthy

    def manual_revoke(f: Freight, wd: Path, writers: Writers) -> None:
        revoke(world.url, "main", f.id, by="sre", reason="manual", writers=writers, workdir=wd)
        truth.revoked.add(f.id)

    stats = {"promoted": 0, "refused": 0, "revoked_attempts": 0, "revoked_refused": 0, "queued": 0,
             "auto_revoked": 0, "evidence_broken": 0, "degraded": 0, "manual_revokes": 0, "builds": 0}
    promoted: list[tuple[str, datetime]] = []
    in_prod = None
    build()
    stats["builds"] += 1
    attempts = 0
    while attempts < PROMOTIONS:
        world.advance(rng.uniform(0, 8))
        roll = rng.random()
        if roll < 0.06 and len(freights) < 7:
            build()
            stats["builds"] += 1
        elif roll < 0.09:
            break_evidence(rng.choice(freights))
            stats["evidence_broken"] += 1
        elif roll < 0.11 and truth.healthy:
            set_health(False)
            stats["degraded"] += 1
        elif roll < 0.125:
            manual_revoke(rng.choice(freights), wd_other, world.writers)
            stats["manual_revokes"] += 1
        elif roll < 0.4 and not truth.healthy:
            set_health(True)
        # a promotion of a random freight (the current one more often); a quarter of them wait in
        # a queue while the world changes (a guard run at write time changes it, as the writer ahead would)
        # (not the freight prod already runs: promoting it again is a no-op)
        others = [f for f in freights if f.id != in_prod] or freights
        target = others[-1] if rng.random() < 0.6 else rng.choice(others)
        guards = []
        if rng.random() < 0.2:
            stats["queued"] += 1
            change = rng.choice(("revoke", "break", "degrade", "advance", "advance", "advance"))

            def during_wait(plan, change=change, target=target) -> list[str]:
                if change == "revoke" and target.id not in truth.revoked:
                    manual_revoke(target, wd_other, side)        # lands on the remote: our push is rejected, re-checked
                elif change == "break" and target.id not in truth.broken:
                    break_evidence(target)
                elif change == "degrade" and truth.healthy:
                    set_health(False)
                elif change == "advance":
                    world.advance(rng.uniform(0, 20))
                return []
            guards.append(during_wait)
        attempts += 1
        was_revoked = target.id in truth.revoked
        try:
            result = run(world.options(freight=target.id, guards=guards, workdir=wd_promote)).value
        except CheckFailed as exc:
            stats["refused"] += 1
            if target.id in truth.revoked:
                stats["revoked_refused"] += 1
                stats["revoked_attempts"] += 1
            if "freight revoked" in exc.what:
                truth.revoked.add(target.id)
                stats["auto_revoked"] += 1
            continue
        stats["revoked_attempts"] += target.id in truth.revoked or was_revoked
        assert truth.promotable(target.id, world.now), (target.id, result.commit, stats)
        stats["promoted"] += 1
        if result.commit:
            promoted.append((target.id, world.now))
            in_prod = target.id

    # the record in git agrees: every promote commit names freight that was not revoked in that commit
    log = git(world.bare, "log", "--format=%H%x00%B%x01", "main").stdout
    promote_commits = 0
    for entry in filter(str.strip, log.split("\x01")):
        sha, _, message = entry.strip().partition("\x00")
        found = dict(trailers.parse(message))
        if found.get(trailers.ACTION) != "promote":
            continue
        promote_commits += 1
        record = git(world.bare, "show", f"{sha}:.gantry/freight/{found[trailers.FREIGHT]}.json").stdout
        assert '"revoked": null' in record
    assert promote_commits == len(promoted)
    elapsed = time.monotonic() - started
    print(f"\n{attempts} promotions in {elapsed:.1f}s: {stats}; promote commits {promote_commits}")
    assert stats["revoked_refused"] == stats["revoked_attempts"] > 0      # 100 % of revoked freight refused
    assert stats["promoted"] >= 4 and stats["refused"] > 50 and stats["queued"] > 20 and stats["auto_revoked"] > 0
