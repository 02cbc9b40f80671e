"""What a PR fixed: baseline findings gone from this run, only for scanners that ran."""

from __future__ import annotations

from scanners.base import ScanOutcome
from scanners.baseline import annotate, read_baseline, read_findings
from scanners.formats import write_all
from scanners.gate import evaluate as evaluate_parsed
from scanners.inputs import load_baseline
from scanners.registry import parse_report
from tests.support.gate import evaluate_files as evaluate
from scanners.policy import load_policy
from tests.support.paths import FIXTURES

TRIVY = FIXTURES / "trivy" / "pip-fs.json"
DC = sorted((FIXTURES / "dependency-check").glob("*.json"))[0]


def test_fixed_only_counts_tools_that_ran(tmp_path):
    base = write_all(evaluate([TRIVY, DC], policy=load_policy(None)), tmp_path / "main")["findings.json"]
    rows = read_findings(base)
    assert rows and {f.tool for f in rows} == {"trivy", "dependency-check"}
    # this run: trivy clean, dependency-check skipped (not run) — its findings are unseen, not fixed
    clean = FIXTURES / "trivy" / "alpine-image-no-vulns.json"
    v = evaluate([clean], policy=load_policy(None), baseline=base,
                 outcomes=[ScanOutcome("trivy", "ok", [clean]), ScanOutcome("dependency-check", "skipped", [], "no CLI")])
    annotate(v, base)
    assert v.fixed and {f.tool for f in v.fixed} == {"trivy"}
    assert {f.fingerprint for f in v.fixed} == {f.fingerprint for f in rows if f.tool == "trivy"}


def test_no_baseline_note_is_kept(tmp_path):
    v = evaluate([TRIVY], policy=load_policy(None))
    annotate(v, None, "jenkins dev/web: unreachable (ConnectionError)")
    assert v.fixed == [] and v.baseline_note.endswith("unreachable (ConnectionError)")


def test_findings_json_is_read_once_by_read_baseline(tmp_path):
    """One reader: the fingerprints the gate matches and the rows "fixed by this PR" lists come
    from the same read_baseline; annotate needs no second read (the file may be gone)."""
    base = write_all(evaluate([TRIVY, DC], policy=load_policy(None)), tmp_path / "main")["findings.json"]
    loaded = read_baseline(base)
    assert load_baseline(base) == loaded and [f for f, _ in loaded.rows] == read_findings(base)
    assert {f.fingerprint for f, _ in loaded.rows} == set(loaded)
    base.unlink()
    clean = FIXTURES / "trivy" / "alpine-image-no-vulns.json"
    outcomes = [ScanOutcome("trivy", "ok", [clean]), ScanOutcome("dependency-check", "ok", [DC])]
    v = evaluate_parsed([parse_report(clean), parse_report(DC)], outcomes, load_policy(None), loaded)
    annotate(v, loaded)
    assert v.fixed and {f.tool for f in v.fixed} == {"trivy"}
