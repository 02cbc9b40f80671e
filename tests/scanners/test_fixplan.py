"""The fix plan: smallest upgrade per package, release lines, and what cannot be compared."""

from __future__ import annotations

from scanners.base import Finding
from scanners.fixplan import CANNOT_COMPARE, NO_FIX, PARTIAL, UPGRADE, clears, fix_plan, parse_version
from scanners.registry import parse_report
from tests.support.paths import FIXTURES


def vuln(vid: str, sev: str, pkg: str, inst: str, fixed: str | None, target: str = "requirements.txt") -> Finding:
    return Finding("trivy", "vulnerability", vid, sev, vid, f"fp-{vid}-{pkg}", pkg, inst, fixed, target)


def test_jinja2_smallest_upgrade_across_release_lines():
    fs = [vuln("CVE-1", "HIGH", "jinja2", "2.10", "2.10.1, 3.0.0"),   # 2.10.1 is on the installed line
          vuln("CVE-2", "MEDIUM", "jinja2", "2.10", "2.11.3, 3.1.3"),
          vuln("CVE-3", "MEDIUM", "jinja2", "2.10", "3.1.4")]         # only fixed on 3.x
    [e] = fix_plan(fs, {"fp-CVE-1-jinja2"})
    assert e.status == UPGRADE and e.to_version == "3.1.4"   # 3.0.0 would leave CVE-2 open (3.x fix is 3.1.3)
    assert e.fixes == 3 and e.fixes_by_severity["HIGH"] == 1 and e.fixes_by_severity["MEDIUM"] == 2
    assert e.blocking_fixed == e.blocking_total == 1
    text = e.summary()
    assert text.startswith("upgrade jinja2 2.10 → 3.1.4: fixes 3 finding(s) (1 HIGH, 2 MEDIUM)")
    assert "major upgrade 2 → 3" in text


def test_release_line_rule():
    v = [parse_version(x, "npm") for x in ("3.0.1", "4.1.1", "5.0.1", "6.0.1")]
    assert clears(parse_version("5.0.3", "npm"), v)
    assert not clears(parse_version("4.0.0", "npm"), v)
    assert clears(parse_version("7.0.0", "npm"), v)
    assert not clears(parse_version("3.0.0", "npm"), v)


def test_stays_on_line_when_possible():
    fs = [vuln("CVE-1", "HIGH", "ansi-regex", "3.0.0", "6.0.1, 5.0.1, 4.1.1, 3.0.1", "Node.js")]
    [e] = fix_plan(fs)
    assert e.to_version == "3.0.1" and not e.note


def test_partial_and_no_fix_are_said():
    fs = [vuln("CVE-1", "CRITICAL", "vm2", "3.9.3", "3.9.18", "Node.js"),
          vuln("CVE-2", "CRITICAL", "vm2", "3.9.3", None, "Node.js"),
          vuln("CVE-3", "LOW", "left-pad", "1.0.0", None, "Node.js")]
    plan = fix_plan(fs, {"fp-CVE-1-vm2", "fp-CVE-2-vm2"})
    assert [e.package for e in plan] == ["vm2", "left-pad"]
    assert plan[0].status == PARTIAL and plan[0].remaining == ("CVE-2",)
    assert plan[0].blocking_text() == "1 of 2 blocking"
    assert plan[1].status == NO_FIX and "no fixed version known" in plan[1].summary()


def test_debian_versions_cannot_be_compared_but_a_single_fix_is_named():
    one = [vuln("CVE-1", "HIGH", "libidn2-0", "2.0.5-1", "2.0.5-1+deb10u1", "img (debian 10.2)")]
    [e] = fix_plan(one)
    assert e.status == UPGRADE and e.to_version == "2.0.5-1+deb10u1" and "not compared" in e.note
    two = one + [vuln("CVE-2", "HIGH", "libidn2-0", "2.0.5-1", "2.0.5-1+deb10u2", "img (debian 10.2)")]
    [e] = fix_plan(two)
    assert e.status == CANNOT_COMPARE and e.to_version is None
    assert "cannot compare" in e.summary() and "2.0.5-1+deb10u2" in e.summary()


def test_alpine_letter_and_release_suffix_order():
    fs = [vuln("CVE-1", "HIGH", "libssl1.1", "1.1.1b-r1", "1.1.1d-r0", "img (alpine 3.9.4)"),
          vuln("CVE-2", "HIGH", "libssl1.1", "1.1.1b-r1", "1.1.1d-r2", "img (alpine 3.9.4)")]
    [e] = fix_plan(fs)
    assert e.status == UPGRADE and e.to_version == "1.1.1d-r2" and e.fixes == 2


def test_order_by_blocking_removed_on_real_report():
    r = parse_report(FIXTURES / "trivy" / "juice-shop-v12.10.2-image.json")
    blocking = {f.fingerprint for f in r.findings if f.severity in ("HIGH", "CRITICAL")}
    plan = fix_plan(r.findings, blocking)
    vulns = [f for f in r.findings if f.kind == "vulnerability" and f.package]
    assert sum(e.findings for e in plan) == len(vulns)
    removed = [e.blocking_fixed for e in plan]
    assert removed == sorted(removed, reverse=True) and removed[0] > 0
    for e in plan:
        assert e.fixes + len([i for i in e.finding_ids if i in e.remaining]) >= e.fixes
        assert e.to_json()["summary"] == e.summary()
