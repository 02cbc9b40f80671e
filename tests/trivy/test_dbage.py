"""The policy's vulnerability_db section and the DB-age check (pure, no Trivy)."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline_lib.core.errors import GantryError
from scanners.base import ScanOutcome
from scanners.dbage import check_db_age, format_age, format_limit, parse_age
from scanners.policy import load_policy, policy_from_data

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)


def test_default_policy_limits_per_environment() -> None:
    p = load_policy(None)
    assert p.vulnerability_db_for("prod").max_age == dt.timedelta(hours=24)
    assert p.vulnerability_db_for("dev").max_age == p.vulnerability_db_for("event").max_age == dt.timedelta(days=7)
    assert p.vulnerability_db_for("dev").repository is None


def test_environment_overrides_the_mirror() -> None:
    p = policy_from_data({"vulnerability_db": {"repository": "a.example/trivy-db:2", "max_age": "12h"},
                          "environments": {"prod": {"vulnerability_db": {"java_repository": "a.example/trivy-java-db:1"}},
                                           "dev": {}}}, "p.yaml")
    prod = p.vulnerability_db_for("prod")
    assert prod.trivy_options() == {"db_repository": "a.example/trivy-db:2",
                                    "java_db_repository": "a.example/trivy-java-db:1"}
    assert prod.max_age == dt.timedelta(hours=12)
    assert p.vulnerability_db_for("dev").java_repository is None


@pytest.mark.parametrize("section, message", [
    ({"max_age": "7 weeks"}, "positive duration"), ({"max_age": "0h"}, "positive duration"),
    ({"max_age": 24}, "positive duration"), ({"repository": "https://x/trivy-db"}, "OCI repository"),
    ({"mirror": "x"}, "unknown key"), ("7d", "expected a mapping")])
def test_bad_sections_are_one_line_errors(section, message) -> None:
    with pytest.raises(GantryError, match=message):
        policy_from_data({"vulnerability_db": section}, "p.yaml")
    with pytest.raises(GantryError, match=message):
        policy_from_data({"environments": {"prod": {"vulnerability_db": section}}}, "p.yaml")


def test_age_check_reports_how_old() -> None:
    p = load_policy(None)
    stale = ScanOutcome("trivy", "ok", db_updated_at="2026-11-28T09:30:00Z")
    (check,) = check_db_age([stale], p.vulnerability_db_for("prod"), "prod", NOW)
    assert not check.ok and "is 2 days 2 h old" in check.message and "at most 24 h:" in check.message
    (check,) = check_db_age([stale], p.vulnerability_db_for("dev"), "dev", NOW)
    assert check.ok
    # skipped/error outcomes and outcomes without a DB are not checked; a bad stamp is an error
    assert check_db_age([ScanOutcome("trivy", "error", reason="x", db_updated_at="2020-01-01T00:00:00Z"),
                         ScanOutcome("trivy", "ok")], p.vulnerability_db_for("dev"), "dev", NOW) == []
    (bad,) = check_db_age([ScanOutcome("trivy", "ok", db_updated_at="yesterday")], p.vulnerability_db_for("dev"), "dev", NOW)
    assert not bad.ok


def test_outcome_round_trip_keeps_the_db_times(tmp_path) -> None:
    o = ScanOutcome("trivy", "ok", [tmp_path / "trivy.json"], db_updated_at="2026-11-30T04:00:00Z",
                    java_db_updated_at="2026-11-29T04:00:00Z")
    back = ScanOutcome.read(o.write(tmp_path))
    assert (back.db_updated_at, back.java_db_updated_at) == (o.db_updated_at, o.java_db_updated_at)
    assert "db_updated_at" not in ScanOutcome("sonarqube", "skipped").to_json()


def test_parse_and_format_age() -> None:
    assert parse_age("90m", "x") == dt.timedelta(minutes=90) and parse_age(None, "x") is None
    assert format_age(dt.timedelta(days=9, hours=3, minutes=4)) == "9 days 3 h"
    assert format_age(dt.timedelta(hours=26, minutes=5)) == "1 day 2 h"
    assert format_age(dt.timedelta(minutes=42)) == "42 min"
    assert [format_limit(parse_age(v, "x")) for v in ("7d", "24h", "1d", "90m")] == ["7 days", "24 h", "24 h", "90 min"]


def test_the_gate_takes_the_clock_as_an_input() -> None:
    from scanners.gate import evaluate

    o = ScanOutcome("trivy", "ok", db_updated_at="2026-11-29T12:00:00Z")   # exactly 24 h before NOW
    policy = load_policy(None)

    def age_rule(now):
        v = evaluate([], [o], policy, environment="prod", now=now)
        (rule,) = [r for r in v.rules if r.name == "vulnerability DB age"]
        return v, rule

    _, at_limit = age_rule(NOW)
    assert at_limit.status == "pass"
    late, over = age_rule(NOW + dt.timedelta(minutes=1))
    assert over.status == "error" and late.exit_code == 2
    assert "vulnerability DB is 1 day 0 h old" in late.summary
