"""Exceptions that expire and go stale: the policy's rules and what every gate report says."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pipeline_lib.core.errors import GantryError
from scanners.base import Finding, ParsedReport, fingerprint
from scanners.formats import render_all
from scanners.gate import evaluate
from scanners.policy import policy_from_data, stale_exceptions, utc_today

TODAY = dt.date(2026, 12, 2)


def finding(tool: str, vid: str, severity: str = "HIGH") -> Finding:
    return Finding(tool, "vulnerability", vid, severity, f"{vid} title", fingerprint(tool, vid))


def entry(**kw) -> dict:
    return {"reason": "not reachable", "owner": "team-shop", "expires": "2026-12-31", **kw}


POLICY = policy_from_data({"version": 1, "allowlist": [
    entry(id="CVE-2024-0001"),                                   # matches: used
    entry(id="CVE-2024-0002", reason="fixed upstream soon"),     # matches nothing: stale
    entry(id="CVE-2024-0003", expires="2026-12-01"),             # expired (not stale)
    entry(id="CVE-2024-0004", tool="dependency-check"),          # its tool did not run: not called stale
    entry(fingerprint=fingerprint("trivy", "CVE-2024-0005")),    # matches by fingerprint: used
]}, "policy.yaml")


def test_stale_exceptions_function() -> None:
    findings = [finding("trivy", "CVE-2024-0001"), finding("trivy", "CVE-2024-0005")]
    assert [a.id for a in stale_exceptions(POLICY, findings, TODAY)] == ["CVE-2024-0002"]
    # once dependency-check ran and found nothing, its entry is stale too
    assert [a.id for a in stale_exceptions(POLICY, findings, TODAY, tools={"trivy", "dependency-check"})] == [
        "CVE-2024-0002", "CVE-2024-0004"]
    assert utc_today(dt.datetime(2026, 12, 2, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))) == dt.date(2026, 12, 3)


def test_every_report_names_stale_and_expired_entries() -> None:
    parsed = [ParsedReport(Path("trivy.json"), "trivy", "test",
                           [finding("trivy", "CVE-2024-0001"), finding("trivy", "CVE-2024-0003", "LOW"),
                            finding("trivy", "CVE-2024-0005")])]
    v = evaluate(parsed, [], POLICY, today=TODAY)
    assert v.exit_code == 0 and [a.id for a in v.stale] == ["CVE-2024-0002"] and [a.id for a in v.expired] == ["CVE-2024-0003"]
    files = render_all(v)
    verdict = json.loads(files["verdict.json"])
    assert [(a["id"], a["reason"], a["expires"]) for a in verdict["stale_allowlist"]] == [
        ("CVE-2024-0002", "fixed upstream soon", "2026-12-31")]
    assert [a["id"] for a in verdict["expired_allowlist"]] == ["CVE-2024-0003"]
    md = files["report.md"]
    assert "### Stale allowlist entries (1: match no finding, remove them)" in md
    assert "CVE-2024-0002 — owner team-shop, expires 2026-12-31: fixed upstream soon" in md
    html = files["report.html"]
    assert '<h2 id="stale-allowlist">' in html and "CVE-2024-0002 — owner team-shop, expires 2026-12-31" in html
    rule = next(r for r in v.rules if r.name == "allowlist")
    assert "1 stale entry match nothing" in rule.message


@pytest.mark.parametrize("bad, needle", [
    ({"id": "CVE-1", "reason": "r", "owner": "o"}, "allowlist[0]: needs an 'expires' date"),
    ({"id": "CVE-1", "reason": "r", "owner": "o", "expires": None}, "allowlist[0]: expires must be a date"),
    ({"id": "CVE-1", "reason": "  ", "owner": "o", "expires": "2026-12-31"}, "allowlist[0]: needs a non-empty 'reason'"),
    ({"id": "CVE-1", "reason": "r", "owner": "o", "expires": "someday"}, "allowlist[0]: expires must be a date"),
])
def test_an_entry_without_expiry_or_reason_is_a_policy_error(bad, needle) -> None:
    with pytest.raises(GantryError) as info:
        policy_from_data({"version": 1, "allowlist": [bad]}, "policies/prod.yaml")
    assert info.value.exit_code == 2 and str(info.value).startswith("policies/prod.yaml: ") and needle in str(info.value)


@pytest.mark.parametrize("rules, needle", [
    ({"epss": 1.5}, "defaults.epss: must be an EPSS probability between 0 and 1"),
    ({"epss": True}, "defaults.epss: must be an EPSS probability"),
    ({"kev": "yes"}, "defaults.kev: must be true or false"),
])
def test_exploit_rules_are_checked(rules, needle) -> None:
    with pytest.raises(GantryError) as info:
        policy_from_data({"version": 1, "defaults": rules}, "p.yaml")
    assert needle in str(info.value)


def test_feeds_section_is_checked_and_layered() -> None:
    with pytest.raises(GantryError, match=r"feeds: unknown key\(s\): nvd"):
        policy_from_data({"version": 1, "feeds": {"nvd": "x"}}, "p.yaml")
    with pytest.raises(GantryError, match="feeds.kev: must be an OCI reference"):
        policy_from_data({"version": 1, "feeds": {"kev": "https://www.cisa.gov/x.json"}}, "p.yaml")
    p = policy_from_data({"version": 1, "feeds": {"max_age": "3d", "kev": "r.example/f/kev"},
                          "environments": {"prod": {"kev": True, "feeds": {"max_age": "1d"}}, "dev": {}}}, "p.yaml")
    s = p.feed_settings_for("prod")
    assert (s.max_age, s.kev, s.epss) == (dt.timedelta(days=1), "r.example/f/kev", None)
    assert p.feeds_used("prod") == {"kev"} and p.feeds_used("dev") == set()
