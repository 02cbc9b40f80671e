"""A baseline whose fingerprints cannot match is said, not silent (issue 20, item 6).

``baseline/alpine-3.9-image.scheme1.findings.json`` is the real findings.json the previous gantry
(fingerprint scheme 1, no ``fingerprint_scheme`` field) wrote for ``trivy/alpine-3.9-image.json``.
"""

from __future__ import annotations

import json

from scanners.base import FINGERPRINT_SCHEME
from scanners.formats import write_all
from scanners.policy import load_policy
from tests.support.gate import evaluate_files
from tests.support.paths import FIXTURES

REPORT = FIXTURES / "trivy" / "alpine-3.9-image.json"
OLD = FIXTURES / "baseline" / "alpine-3.9-image.scheme1.findings.json"


def test_findings_json_records_the_fingerprint_scheme(tmp_path) -> None:
    rows = json.loads(write_all(evaluate_files([REPORT], policy=load_policy(None)), tmp_path)["findings.json"].read_text())
    assert rows and {r["fingerprint_scheme"] for r in rows} == {FINGERPRINT_SCHEME}
    assert not any("fingerprint_scheme" in r for r in json.loads(OLD.read_text()))


def test_a_baseline_of_an_older_gantry_is_said(tmp_path, gantry) -> None:
    old_rows = json.loads(OLD.read_text())
    out = tmp_path / "gate"
    r = gantry("gate", REPORT, "--baseline", OLD, "--report-dir", out)
    assert r.code == 1                                   # the findings decide, as without a baseline
    warning = [line for line in r.err.splitlines() if line.startswith("gantry: warning: ")]
    assert len(warning) == 1 and "trivy" in warning[0] and "older gantry" in warning[0]
    verdict = json.loads((out / "verdict.json").read_text())
    assert len(verdict["warnings"]) == 1 and "fingerprint scheme 1" in verdict["warnings"][0]
    assert str(OLD) in verdict["warnings"][0]
    # nothing is claimed from fingerprints that cannot match: all new, none fixed
    assert verdict["counts"]["new"] == verdict["counts"]["total"] == len(old_rows)
    assert verdict["counts"]["fixed"] == 0 and verdict["fixed"] == []
    md = (out / "report.md").read_text()
    assert "⚠️ **Warning**" in md and "older gantry" in md
    assert "older gantry" in (out / "report.html").read_text()


def test_a_baseline_of_this_gantry_is_silent_and_matches(tmp_path, gantry) -> None:
    assert gantry("gate", REPORT, "--report-dir", tmp_path / "main").code == 1
    out = tmp_path / "pr"
    r = gantry("gate", REPORT, "--baseline", tmp_path / "main" / "findings.json", "--report-dir", out)
    assert "warning" not in r.err
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["warnings"] == [] and verdict["counts"]["new"] == 0 and verdict["counts"]["fixed"] == 0


def test_a_baseline_that_matches_nothing_is_said(tmp_path, gantry) -> None:
    """Same scheme, but the baseline of another image: none of its findings matches any now."""
    other = FIXTURES / "trivy" / "many-vulns-image.json"
    assert gantry("gate", other, "--report-dir", tmp_path / "main").code == 1
    out = tmp_path / "pr"
    r = gantry("gate", REPORT, "--baseline", tmp_path / "main" / "findings.json", "--report-dir", out)
    verdict = json.loads((out / "verdict.json").read_text())
    assert len(verdict["warnings"]) == 1 and "none of its" in verdict["warnings"][0]
    assert "gantry: warning: " in r.err
