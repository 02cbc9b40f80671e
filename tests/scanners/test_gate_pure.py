"""The policy logic of the pure gate, without files or the CLI: typed inputs in, a Verdict out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline_lib.core.errors import GantryError
from scanners.base import Finding, ParsedReport, ScanOutcome, fingerprint
from scanners.gate import evaluate
from scanners.policy import load_policy, policy_from_data

TODAY = dt.date(2026, 11, 30)


def finding(tool: str, ident: str, severity: str) -> Finding:
    return Finding(tool, "vulnerability", ident, severity, f"{ident} title", fingerprint(tool, ident))


def report(tool: str, *findings: Finding, errors: tuple[str, ...] = ()) -> ParsedReport:
    return ParsedReport(Path(f"{tool}.json"), tool, "test", list(findings), errors=list(errors))


def policy(**data):
    return policy_from_data({"version": 1, "environments": {"dev": {}, "prod": {"required": ["trivy"]}}, **data},
                            "test-policy")


def test_threshold_blocks_at_and_above_fail_on() -> None:
    p = policy(defaults={"fail_on": "HIGH"})
    assert evaluate([report("trivy", finding("trivy", "CVE-1", "MEDIUM"))], [], p, today=TODAY).exit_code == 0
    v = evaluate([report("trivy", finding("trivy", "CVE-2", "HIGH"))], [], p, today=TODAY)
    assert (v.exit_code, v.status, len(v.blocking)) == (1, "fail", 1)


def test_required_scanner_skipped_cannot_evaluate_but_optional_skip_is_fine() -> None:
    p = policy()
    skipped = [ScanOutcome("trivy", "skipped", [], "no DB"), ScanOutcome("sonarqube", "skipped", [], "no server")]
    assert evaluate([report("dependency-check")], skipped, p, environment="dev", today=TODAY).exit_code == 0
    v = evaluate([report("dependency-check")], skipped, p, environment="prod", today=TODAY)
    assert v.exit_code == 2 and any("trivy: required scanner did not run" in e for e in v.errors)


def test_scanner_error_and_report_without_evidence_are_exit_2() -> None:
    p = policy()
    v = evaluate([report("trivy")], [ScanOutcome("trivy", "error", [], "crashed")], p, today=TODAY)
    assert v.exit_code == 2
    v = evaluate([report("trivy", errors=("report records no run",))], [], p, today=TODAY)
    assert v.exit_code == 2 and "report records no run" in v.errors[0]


def test_nothing_to_evaluate_is_exit_2() -> None:
    v = evaluate([], [ScanOutcome("sonarqube", "skipped", [], "no server")], policy(), today=TODAY)
    assert v.exit_code == 2 and "every scanner was skipped" in v.errors[0]


def test_allowlist_and_its_expiry() -> None:
    f = finding("trivy", "CVE-9", "CRITICAL")
    entry = {"id": "CVE-9", "reason": "not reachable", "owner": "team-a"}
    live = policy(allowlist=[{**entry, "expires": "2026-12-31"}])
    assert evaluate([report("trivy", f)], [], live, today=TODAY).exit_code == 0
    expired = policy(allowlist=[{**entry, "expires": "2026-11-01"}])
    v = evaluate([report("trivy", f)], [], expired, today=TODAY)
    assert v.exit_code == 1 and v.expired


def test_only_new_counts_findings_absent_from_the_baseline() -> None:
    old, new = finding("trivy", "CVE-OLD", "HIGH"), finding("trivy", "CVE-NEW", "LOW")
    p = policy(defaults={"only_new": True})
    v = evaluate([report("trivy", old, new)], [], p, {old.fingerprint}, today=TODAY)
    assert v.exit_code == 0 and [e.new for e in v.findings] == [False, True]
    assert evaluate([report("trivy", old, new)], [], p, None, today=TODAY).exit_code == 1


def test_input_errors_make_the_verdict_exit_2() -> None:
    v = evaluate([report("trivy")], [], policy(), input_errors=["x.json: empty file"], today=TODAY)
    assert v.exit_code == 2 and v.errors == ["x.json: empty file"]


def test_unknown_environment_raises() -> None:
    with pytest.raises(GantryError):
        evaluate([report("trivy")], [], policy(), environment="staging", today=TODAY)


def test_checkov_findings_go_through_the_same_policy() -> None:
    """The packaged policy fails checkov on any severity (offline checkov rates nothing)."""
    f = Finding("checkov", "misconfiguration", "CKV_AWS_18", "UNKNOWN", "CKV_AWS_18 failed", fingerprint("x"))
    v = evaluate([report("checkov", f)], [ScanOutcome("checkov", "ok")], load_policy(None), environment="infra",
                 today=TODAY)
    assert v.exit_code == 1
    allowed = policy_from_data({"version": 1, "tools": {"checkov": {"fail_on": "INFO"}}, "environments": {"infra": {}},
                                "allowlist": [{"id": "CKV_AWS_18", "tool": "checkov", "reason": "archive bucket",
                                               "owner": "sre", "expires": "2027-01-31"}]}, "p")
    assert evaluate([report("checkov", f)], [], allowed, environment="infra", today=TODAY).exit_code == 0
