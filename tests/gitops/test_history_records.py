"""Records read back from commit trailers (pure parsing) and the rollback's freight reader."""

from __future__ import annotations

import pytest

from gitops.history import parse_commit
from pipeline_lib.core.errors import GantryError


def test_history_groups_trailers_per_service_and_reads_commit_level_keys() -> None:
    batch = parse_commit("c" * 40, "2026-12-06T00:00:00+00:00", "deploy: 2 services in prod", "\n".join([
        "Service: a", "Environment: prod", "Digest: none -> sha256:1", "Gantry-Action: bump", "By: ci",
        "Service: b", "Environment: prod", "Digest: sha256:0 -> sha256:2", "Gantry-Action: bump", "By: ci"]), "")
    assert [(r.service, r.old_digest, r.digest) for r in batch] == [("a", None, "sha256:1"), ("b", "sha256:0", "sha256:2")]
    # a promote commit whose trailer paragraph is commit-level: services come from the body's blocks
    promote = parse_commit("d" * 40, "2026-12-06T00:00:00+00:00", "promote(a): prod",
                           "Gantry-Action: promote\nFreight: 0123456789ab\nBy: ci",
                           "Service: a\nEnvironment: prod\nDigest: sha256:1 -> sha256:3\n\nGantry-Action: promote")
    assert [(r.action, r.service, r.digest, r.trailers["Freight"]) for r in promote] == [
        ("promote", "a", "sha256:3", ["0123456789ab"])]
    legacy = parse_commit("e" * 40, "d", "deploy(a): dev x -> y", "Service: a\nEnvironment: dev\nDigest: none -> sha256:9", "")
    assert legacy[0].action == "bump"
    assert parse_commit("f" * 40, "d", "scaffold prod", "", "") == []


def test_rollback_freight_id_is_a_file_name_not_a_path(tmp_path) -> None:
    from gitops.rollback import freight_pin
    with pytest.raises(GantryError, match="is not a freight ID"):
        freight_pin(tmp_path, "../../etc/passwd", "storefront")


def test_promotion_guards_refuse_held_and_frozen_freight(tmp_path) -> None:
    """The guards offered to a freight promotion (gitops.promotion's GUARDS/guards=), on its plan's shape."""
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from gitops import freeze, holds
    from pipeline_lib.core.freeze import parse_spec, to_json
    holds.write_hold(tmp_path, holds.Hold("prod", "storefront", "alice", "bad v2", "2026-12-06T00:00:00+00:00"))
    freight = SimpleNamespace(items=[SimpleNamespace(service="storefront"), SimpleNamespace(service="order-api")],
                              services=["storefront", "order-api"])
    at = datetime(2026, 12, 25, tzinfo=timezone.utc)
    plan = SimpleNamespace(freight=freight, target="prod", checkout=tmp_path, now=at)
    (line,) = holds.promotion_guard(plan)
    assert "storefront" in line and "held by alice" in line and "bad v2" in line
    windows = to_json([parse_spec({"name": "xmas", "start": "2026-12-24T00:00:00+09:00",
                                   "end": "2026-12-26T00:00:00+09:00"})])
    (frozen,) = freeze.promotion_guard_for(windows)(plan)
    assert "xmas" in frozen and "--break-glass" in frozen
    assert freeze.promotion_guard_for(windows, break_glass="outage")(plan) == []
    assert freeze.promotion_guard_for(windows)(SimpleNamespace(**{**plan.__dict__, "now": at.replace(month=11)})) == []


def test_hold_and_release_records_name_their_action_after_service() -> None:
    """Trial item 6: hold/release commits put ``Gantry-Action`` inside the service's group, pin no digest."""
    (hold,) = parse_commit("a" * 40, "d", "hold(x): dev: r", "Service: x\nEnvironment: dev\nGantry-Action: hold\n"
                           "By: alice\nReason: r\n", "")
    assert (hold.action, hold.service, hold.environment, hold.by, hold.digest) == ("hold", "x", "dev", "alice", None)
    assert parse_commit("b" * 40, "d", "chore: x", "Service: x\nEnvironment: dev\n", "") == []
