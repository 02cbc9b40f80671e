"""``report.sarif``: SARIF 2.1.0, one run per tool, fingerprints and allowlist suppressions.

Code-scanning alerts that stay true (GitHub matches a result to an alert by tool, category, rule,
location and ``partialFingerprints``; a tag in any of them reopens every alert on every build,
aquasecurity/trivy #1840):

- a finding whose target is an image reference (``host/shop/web:1.4.2 (debian 12.5)``, ``…@sha256:…``)
  is located at the image **repository** (``host/shop/web``): no tag, no digest, no OS release;
- ``partialFingerprints`` carry gantry's fingerprint (tag-free, see the scanner modules) and,
  for a finding in an image, ``imageRepository/v1`` = that repository (the scanned image of the
  report when the finding's own target is a path inside the image);
- with a service (``gantry gate --service``), every run's ``automationDetails.id`` is
  ``gantry/<service>/<environment>/``: one analysis category per service and environment, the
  same on every build (GitHub tells the tools' analyses apart by the driver name).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from urllib.parse import quote

from pipeline_lib.core.reference import strip_reference

from ..base import clip

FILENAME = "report.sarif"
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "UNKNOWN": "warning", "LOW": "note", "INFO": "note"}
_SCORE = {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "UNKNOWN": "5.0", "LOW": "2.0", "INFO": "0.0"}
_INFO_URI = {"trivy": "https://github.com/aquasecurity/trivy",
             "dependency-check": "https://github.com/jeremylong/DependencyCheck",
             "sonarqube": "https://www.sonarsource.com/products/sonarqube/"}


_IMAGE_REF = re.compile(r"^[a-z0-9][a-z0-9._-]*(?::[0-9]+)?(?:/[a-z0-9][a-z0-9._-]*)*"
                        r"(?P<tag>:[\w][\w.-]{0,127})?(?P<digest>@sha256:[0-9a-f]{64})?$")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@lru_cache(maxsize=4096)
def image_repository(target: str | None) -> str | None:
    """The image repository of a target that is an image reference with a tag or digest
    (``host:5000/shop/web:1.2 (alpine 3.19.1)`` → ``host:5000/shop/web``); None for anything else
    (a file path, a reference without tag or digest)."""
    if not target:
        return None
    ref = target.strip()
    i = ref.find(" (")
    if i > 0 and ref.endswith(")"):
        ref = ref[:i]
    m = _IMAGE_REF.match(ref)
    if not m or not (m.group("tag") or m.group("digest")):
        return None
    return strip_reference(ref)


def automation_id(service: str, environment: str) -> str:
    """``gantry/<service>/<environment>/``: the run's category (a trailing ``/``: no run id)."""
    return f"gantry/{_SAFE.sub('-', service)}/{_SAFE.sub('-', environment)}/"


@lru_cache(maxsize=4096)
def _uri(target: str) -> str:
    return quote(target.replace("\\", "/"), safe="/:@-._~!$&'()*+,;=")


def _run(tool: str, items: list, status: str, reason: str, with_baseline: bool, image: str | None = None,
         automation: str | None = None) -> dict:
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
        repo = image_repository(f.target)
        if repo or image:
            res["partialFingerprints"]["imageRepository/v1"] = repo or image
        x = getattr(e, "exploit", None)
        if x is not None and (x.kev or x.epss is not None):
            res["properties"].update({"kev": x.kev, "epss": x.epss})
        if f.target:
            loc: dict = {"physicalLocation": {"artifactLocation": {"uri": _uri(repo or f.target)}}}
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
    run = {"tool": {"driver": driver}, "invocations": [invocation], "results": results,
           "properties": {"gantryStatus": status}}
    if automation:
        run["automationDetails"] = {"id": automation}
    return run


def render(verdict) -> str:
    by_tool: dict[str, list] = {}
    for e in verdict.findings:
        by_tool.setdefault(e.finding.tool, []).append(e)
    reasons = {o.tool: o.reason for o in verdict.outcomes}
    artifacts = getattr(verdict, "artifacts", {})   # tool → the image its report says it scanned
    service = getattr(verdict, "service", None)
    automation = automation_id(service, verdict.environment) if service else None
    runs = [_run(t, by_tool.get(t, []), verdict.tools.get(t, "report"), reasons.get(t, ""), verdict.baseline is not None,
                 image_repository(artifacts.get(t)), automation)
            for t in sorted(set(by_tool) | set(verdict.tools))]
    doc = {"$schema": SCHEMA, "version": "2.1.0", "runs": runs}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
