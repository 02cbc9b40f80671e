"""The findings ledger: one entry per (repository, package, vulnerability) across builds, tags and
re-imports; state changes only when the running digests say so."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pipeline_lib.cli import main
from pipeline_lib.core.errors import BadInput
from pipeline_lib.watch import ledger as lg
from tests.support.paths import FIXTURES, PROJECT_ROOT

T0 = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.timezone.utc)
REPORT = FIXTURES / "trivy" / "alpine-3.9-image.json"   # a real Trivy JSON report: 6 vulnerabilities


def obs(vid: str = "CVE-2026-0001", pkg: str = "openssl", repo: str = "shop/storefront", *, blocking: bool = True,
        excepted: bool = False, service: str = "storefront", severity: str = "HIGH") -> lg.Observation:
    return lg.Observation(repo, pkg, vid, severity, service, blocking, excepted, "1.0", "1.1", "title")


def test_new_then_seen_again_then_fixed_then_reopened() -> None:
    led = lg.Ledger("prod")
    r1 = lg.record(led, [obs()], seen=T0, scope={"shop/storefront"})
    assert [c.kind for c in r1.changes] == ["new"] and [e.vulnerability for e in r1.new_blocking] == ["CVE-2026-0001"]
    r2 = lg.record(r1.ledger, [obs()], seen=T0 + dt.timedelta(days=1), scope={"shop/storefront"})
    assert r2.changes == [] and r2.new_blocking == []
    entry = next(iter(r2.ledger.entries.values()))
    assert entry.first_seen == "2026-12-01T06:00:00Z" and entry.last_seen == "2026-12-02T06:00:00Z"
    r3 = lg.record(r2.ledger, [], seen=T0 + dt.timedelta(days=2), scope={"shop/storefront"})
    assert [(c.kind, c.entry.state, c.entry.fixed_at) for c in r3.changes] == [("fixed", "fixed", "2026-12-03T06:00:00Z")]
    # a report from before the fix does not reopen it ...
    old = lg.record(r3.ledger, [obs()], seen=T0 + dt.timedelta(days=1))
    assert old.changes == [] and lg.dumps(old.ledger) == lg.dumps(r3.ledger)
    # ... a newer sighting does, and it is blocking news again
    r4 = lg.record(r3.ledger, [obs()], seen=T0 + dt.timedelta(days=3), scope={"shop/storefront"})
    assert [c.kind for c in r4.changes] == ["reopened"] and len(r4.new_blocking) == 1


def test_unscanned_repositories_are_not_fixed_and_exceptions_are_states() -> None:
    led = lg.record(lg.Ledger("prod"), [obs(), obs(repo="shop/order-api", service="order-api")], seen=T0).ledger
    r = lg.record(led, [obs()], seen=T0 + dt.timedelta(hours=1), scope={"shop/storefront"})
    assert r.changes == []   # order-api's scan did not complete: its finding stays open
    r = lg.record(led, [obs(excepted=True)], seen=T0 + dt.timedelta(hours=1), scope={"shop/storefront"})
    assert [(c.kind, c.entry.state) for c in r.changes] == [("excepted", "excepted")] and r.new_blocking == []
    r = lg.record(r.ledger, [obs()], seen=T0 + dt.timedelta(hours=2), scope={"shop/storefront"})
    assert [c.kind for c in r.changes] == ["unexcepted"] and len(r.new_blocking) == 1
    # a finding already open that the policy now blocks is news too
    quiet = lg.record(lg.Ledger("prod"), [obs(blocking=False)], seen=T0).ledger
    r = lg.record(quiet, [obs()], seen=T0 + dt.timedelta(hours=1))
    assert [c.kind for c in r.changes] == ["blocking"] and len(r.new_blocking) == 1


def test_services_sharing_a_repository_are_one_finding() -> None:
    r = lg.record(lg.Ledger("prod"), [obs(service="storefront"), obs(service="storefront-canary")], seen=T0)
    (entry,) = r.ledger.entries.values()
    assert entry.services == ("storefront", "storefront-canary")


def test_the_file_round_trips_and_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    led = lg.record(lg.Ledger("prod"), [obs(), obs("CVE-2026-0002", "zlib")], seen=T0).ledger
    text = lg.dumps(led)
    assert lg.dumps(lg.loads(text, "prod")) == text
    assert lg.loads("", "prod").entries == {}
    doc = json.loads(text)
    for bad, what in [("[]", "not a version 1"), (text.replace('"prod"', '"dev"', 1), "ledger of 'dev'"),
                      ("{", "not JSON"),
                      (json.dumps({**doc, "findings": [{**doc["findings"][0], "state": "gone"}]}), "state must be"),
                      (json.dumps({**doc, "findings": [{**doc["findings"][0], "first_seen": "yesterday"}]}), "RFC 3339"),
                      (json.dumps({**doc, "findings": doc["findings"] * 2}), "duplicate finding")]:
        with pytest.raises(BadInput, match=what):
            lg.loads(bad, "prod", "ledger.json")


def _build_report(tmp: Path, n: int) -> Path:
    """Build ``n``'s report: the same findings, a new tag and a new scan time."""
    doc = json.loads(REPORT.read_text())
    doc["ArtifactName"] = f"127.0.0.1:5000/shop/storefront:build-{n}"
    doc["CreatedAt"] = (T0 + dt.timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    path = tmp / f"build-{n}.json"
    path.write_text(json.dumps(doc))
    return path


def _import(report: Path, ledger: Path, capsys) -> list[dict]:
    code = main(["watch", "ledger-import", str(report), "--env", "dev", "--service", "storefront",
                 "--catalog", str(PROJECT_ROOT / "jobs" / "catalog.yaml"), "--ledger", str(ledger), "--format", "json"])
    assert code == 0
    return json.loads(capsys.readouterr().out)["changes"]


def test_thirty_builds_with_new_tags_add_no_entry_after_the_first(tmp_path: Path, capsys) -> None:
    ledger = tmp_path / "dev.json"
    first = _import(_build_report(tmp_path, 0), ledger, capsys)
    entries = json.loads(ledger.read_text())["findings"]
    assert len(first) == len(entries) == 6 and {c["kind"] for c in first} == {"new"}
    assert {e["repository"] for e in entries} == {"shop/storefront"}
    later = [_import(_build_report(tmp_path, n), ledger, capsys) for n in range(1, 30)]
    assert sum(len(c) for c in later) == 0
    after = json.loads(ledger.read_text())["findings"]
    assert [(e["package"], e["vulnerability"], e["first_seen"]) for e in after] == \
        [(e["package"], e["vulnerability"], e["first_seen"]) for e in entries]
    assert {e["last_seen"] for e in after} == {"2026-12-02T11:00:00Z"}   # build 29's scan time


def test_ten_imports_of_one_report_change_nothing(tmp_path: Path, capsys) -> None:
    ledger = tmp_path / "dev.json"
    report = _build_report(tmp_path, 7)
    _import(report, ledger, capsys)
    first = ledger.read_bytes()
    assert sum(len(_import(report, ledger, capsys)) for _ in range(10)) == 0
    assert ledger.read_bytes() == first


def test_a_later_sighting_alone_is_written_at_most_daily() -> None:
    led = lg.record(lg.Ledger("prod"), [obs()], seen=T0).ledger
    hour = lg.record(led, [obs()], seen=T0 + dt.timedelta(hours=1)).ledger
    day = lg.record(led, [obs()], seen=T0 + dt.timedelta(days=1)).ledger
    assert not lg.worth_writing(led, hour) and lg.worth_writing(led, day)
    assert lg.worth_writing(led, lg.record(led, [obs(severity="CRITICAL")], seen=T0).ledger)
    assert lg.worth_writing(lg.Ledger("prod"), led) and not lg.worth_writing(lg.Ledger("prod"), lg.Ledger("prod"))


def test_the_policy_decides_blocking_and_excepted(tmp_path: Path, capsys) -> None:
    """The environment's gate policy: CRITICAL blocks (fail_on HIGH), an unexpired allowlist entry
    makes its finding ``excepted``, an expired one does not."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\ndefaults: {fail_on: HIGH}\nenvironments: {dev: {}}\nallowlist:\n"
        "  - {id: CVE-2019-1549, reason: not reachable, owner: team-web, expires: 2999-01-01}\n"
        "  - {id: CVE-2019-1551, reason: was not reachable, owner: team-web, expires: 2020-01-01}\n")
    ledger = tmp_path / "dev.json"
    code = main(["watch", "ledger-import", str(REPORT), "--env", "dev", "--service", "storefront", "--policy",
                 str(policy), "--catalog", str(PROJECT_ROOT / "jobs" / "catalog.yaml"), "--ledger", str(ledger)])
    assert code == 0
    capsys.readouterr()
    by = {(f["package"], f["vulnerability"]): f for f in json.loads(ledger.read_text())["findings"]}
    assert by[("libssl1.1", "CVE-2019-1549")]["state"] == "excepted"
    assert by[("libssl1.1", "CVE-2019-1551")]["state"] == "open" and not by[("libssl1.1", "CVE-2019-1551")]["blocking"]
    assert by[("musl", "CVE-2019-14697")]["state"] == "open" and by[("musl", "CVE-2019-14697")]["blocking"]
