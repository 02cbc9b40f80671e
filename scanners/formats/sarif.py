"""``report.sarif``: SARIF 2.1.0, one run per tool, fingerprints and allowlist suppressions."""

from __future__ import annotations

import json
from functools import lru_cache
from urllib.parse import quote

from ..base import clip

FILENAME = "report.sarif"
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "UNKNOWN": "warning", "LOW": "note", "INFO": "note"}
_SCORE = {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "UNKNOWN": "5.0", "LOW": "2.0", "INFO": "0.0"}
_INFO_URI = {"trivy": "https://github.com/aquasecurity/trivy",
             "dependency-check": "https://github.com/jeremylong/DependencyCheck",
             "sonarqube": "https://www.sonarsource.com/products/sonarqube/"}


@lru_cache(maxsize=4096)
def _uri(target: str) -> str:
    return quote(target.replace("\\", "/"), safe="/:@-._~!$&'()*+,;=")


def _run(tool: str, items: list, status: str, reason: str, with_baseline: bool) -> dict:
    rules: list[dict] = []
    index: dict[str, int] = {}
    results = []
    for e in items:
        f = e.finding
        if f.id not in index:
            index[f.id] = len(rules)
            rule = {"id": f.id, "shortDescription": {"text": clip(f.title, 300) or f.id},
                    "properties": {"security-severity": f"{f.cvss:.1f}" if f.cvss else _SCORE[f.severity],
                                   "tags": ["security", f.kind, f.severity]}}
            if f.url and f.url.startswith(("http://", "https://")):
                rule["helpUri"] = _uri(f.url)
            rules.append(rule)
        msg = f.title
        if f.package:
            msg += f" — {f.package} {f.installed_version or ''}".rstrip()
            if f.fixed_version:
                msg += f" (fixed in {f.fixed_version})"
        res: dict = {"ruleId": f.id, "ruleIndex": index[f.id], "level": _LEVEL[f.severity],
                     "message": {"text": clip(msg, 1000) or f.id},
                     "partialFingerprints": {"gantryFingerprint/v1": f.fingerprint},
                     "properties": {"severity": f.severity, "kind": f.kind, "blocking": e.blocking}}
        if f.target:
            loc: dict = {"physicalLocation": {"artifactLocation": {"uri": _uri(f.target)}}}
            if f.line:
                loc["physicalLocation"]["region"] = {"startLine": f.line}
            res["locations"] = [loc]
        if e.allowed_by is not None:
            res["suppressions"] = [{"kind": "external", "status": "accepted",
                                    "justification": clip(f"{e.allowed_by.reason} (owner {e.allowed_by.owner}, "
                                                          f"expires {e.allowed_by.expires.isoformat()})", 500)}]
        if with_baseline:
            res["baselineState"] = "new" if e.new else "unchanged"
        results.append(res)
    driver = {"name": tool, "rules": rules}
    if tool in _INFO_URI:
        driver["informationUri"] = _INFO_URI[tool]
    invocation: dict = {"executionSuccessful": status != "error"}
    if status in ("skipped", "error"):
        invocation["toolExecutionNotifications"] = [
            {"level": "error" if status == "error" else "note",
             "message": {"text": clip(f"{status}: {reason or status}", 500)}}]
    return {"tool": {"driver": driver}, "invocations": [invocation], "results": results,
            "properties": {"gantryStatus": status}}


def render(verdict) -> str:
    by_tool: dict[str, list] = {}
    for e in verdict.findings:
        by_tool.setdefault(e.finding.tool, []).append(e)
    reasons = {o.tool: o.reason for o in verdict.outcomes}
    runs = [_run(t, by_tool.get(t, []), verdict.tools.get(t, "report"), reasons.get(t, ""), verdict.baseline is not None)
            for t in sorted(set(by_tool) | set(verdict.tools))]
    doc = {"$schema": SCHEMA, "version": "2.1.0", "runs": runs}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
