"""SonarQube: run the scanner, wait for the Compute Engine task, collect gate, issues and hotspots.

Flow (Web API): the scanner writes ``report-task.txt`` (``ceTaskId``, ``serverUrl``, ...);
``api/ce/task?id=`` is polled until SUCCESS (FAILED/CANCELED/timeout is an error); then
``api/qualitygates/project_status?analysisId=``, ``api/issues/search`` (paged, type
VULNERABILITY, unresolved) and ``api/hotspots/search`` (paged, TO_REVIEW) are read with the
token (``Authorization: Bearer``). Everything lands in one ``sonarqube.json``.

Severity mapping (SonarQube): legacy issue severity BLOCKER→CRITICAL, CRITICAL→HIGH,
MAJOR→MEDIUM, MINOR→LOW, INFO→INFO; a SECURITY impact severity (10.x: BLOCKER, HIGH, MEDIUM,
LOW, INFO) wins when present (BLOCKER→CRITICAL, others by name); hotspots map
``vulnerabilityProbability`` HIGH/MEDIUM/LOW by name.

Findings: one per issue key, only security issues (type VULNERABILITY or a SECURITY impact)
that are unresolved; one per hotspot to review (REVIEWED ones only when ACKNOWLEDGED). Bugs
and code smells are the business of SonarQube's own quality gate, which becomes a gate rule.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
TYPE_CHECKING = False   # typing's, without importing typing (~3 ms of a `gantry scan`'s start-up)
if TYPE_CHECKING:
    from typing import Any

from pipeline_lib.core.errors import GantryError, TimeoutExceeded, Unauthorized, Unavailable, error_for_status
from pipeline_lib.core.settings import child_env
from pipeline_lib.core.settingsmodel import Settings
from pipeline_lib.core.fileio import write_atomic

from .base import Finding, FindingSet, ParsedReport, ScanOutcome, clip, fingerprint
from .options import Option
from .registry import ParseOptions, register, register_not_report

if TYPE_CHECKING:
    import requests

# requests (core.http) and tenacity (core.retry) are imported by the client that uses them, the
# process runner (subprocess) by run: every report parse imports this module (the registry's
# formats), a `gantry scan trivy` too.

TOOL = "sonarqube"
REPORT_NAME = "sonarqube.json"
REPORT_MARK = "sonarqube/1"
#: ``gantry scan sonarqube`` (a source tree): keywords of :func:`run`
OPTIONS = (
    Option("--host-url", "host_url", "SonarQube URL (default $SONAR_HOST_URL; token from $SONAR_TOKEN)"),
    Option("--project-key", "project_key"),
    Option("--sonar-scanner", "scanner", "sonar-scanner or pysonar executable"),
)
_LEGACY = {"BLOCKER": "CRITICAL", "CRITICAL": "HIGH", "MAJOR": "MEDIUM", "MINOR": "LOW", "INFO": "INFO"}
_IMPACT = {"BLOCKER": "CRITICAL", "HIGH": "HIGH", "MEDIUM": "MEDIUM", "LOW": "LOW", "INFO": "INFO"}
_PROBABILITY = {"HIGH": "HIGH", "MEDIUM": "MEDIUM", "LOW": "LOW"}
MAX_RESULTS = 10_000   # SonarQube refuses paging past 10 000 results


def map_issue_severity(issue: dict) -> str:
    impacts = issue.get("impacts")
    if isinstance(impacts, list):
        for imp in impacts:
            if isinstance(imp, dict) and imp.get("softwareQuality") == "SECURITY":
                sev = _IMPACT.get(str(imp.get("severity", "")).upper())
                if sev:
                    return sev
    return _LEGACY.get(str(issue.get("severity", "")).upper(), "UNKNOWN")


def map_hotspot_severity(hotspot: dict) -> str:
    return _PROBABILITY.get(str(hotspot.get("vulnerabilityProbability", "")).upper(), "UNKNOWN")


# ---------------------------------------------------------------------------------------
# Web API client (the HTTP edge)
# ---------------------------------------------------------------------------------------

class SonarClient:
    """A small SonarQube Web API client; the token is sent as a Bearer header, never logged."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30, retries: int = 3,
                 page_size: int = 500, session: requests.Session | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.page_size = page_size
        self.timeout = timeout
        self.retries = retries
        from pipeline_lib.core.http import retry_policy, session as http_session
        self.session = session or http_session(retry=retry_policy(total=retries), timeout=timeout)
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def get(self, path: str, params: dict[str, Any]) -> dict:
        """GET a Web API JSON object (transient failures retried by the session's policy);
        Unauthorized, NotFound, Unavailable… for a failed call."""
        url = f"{self.base}/{path.lstrip('/')}"
        where = f"sonarqube {path}"
        import requests
        try:
            resp = self.session.get(url, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise Unavailable(where, f"request failed: {type(exc).__name__}") from None
        if resp.status_code in (401, 403):
            raise Unauthorized(where, f"HTTP {resp.status_code}: token rejected or lacks permission")
        if resp.status_code != 200:
            raise error_for_status(resp.status_code, where, f"HTTP {resp.status_code}: {_error_text(resp)}")
        try:
            data = resp.json()
        except ValueError:
            raise GantryError(where, "response is not JSON") from None
        if not isinstance(data, dict):
            raise GantryError(where, "response is not a JSON object")
        return data

    def wait_for_task(self, task_id: str, *, timeout: float = 600, interval: float = 2.0,
                      max_interval: float = 15.0) -> dict:
        """Poll ``api/ce/task`` until the task is SUCCESS; FAILED/CANCELED/timeout raise."""
        last = {"status": "PENDING"}

        def done() -> dict | None:
            task = self.get("api/ce/task", {"id": task_id}).get("task")
            if not isinstance(task, dict):
                raise GantryError("sonarqube api/ce/task", "response has no 'task' object")
            status = task.get("status")
            if status == "SUCCESS":
                return task
            if status in ("FAILED", "CANCELED"):
                raise GantryError("sonarqube api/ce/task",
                                  f"analysis {status}: {clip(task.get('errorMessage') or 'no message', 200)}")
            if status not in ("PENDING", "IN_PROGRESS"):
                raise GantryError("sonarqube api/ce/task", f"unknown task status {clip(status, 40)!r}")
            last["status"] = status
            return None

        from pipeline_lib.core.retry import poll
        try:
            return poll(done, timeout=timeout, what="sonarqube api/ce/task", first=interval, interval=max_interval)
        except TimeoutExceeded:
            raise TimeoutExceeded("sonarqube api/ce/task",
                                  f"analysis still {last['status']} after {timeout:g}s (timed out)") from None

    def quality_gate(self, analysis_id: str | None, project_key: str) -> dict:
        params = {"analysisId": analysis_id} if analysis_id else {"projectKey": project_key}
        status = self.get("api/qualitygates/project_status", params).get("projectStatus")
        if not isinstance(status, dict):
            raise GantryError("sonarqube api/qualitygates/project_status", "response has no 'projectStatus'")
        return status

    def _paged(self, path: str, params: dict[str, Any], key: str) -> list[dict]:
        page_size = self.page_size
        items: list[dict] = []
        page = 1
        while True:
            data = self.get(path, {**params, "p": page, "ps": page_size})
            batch = data.get(key)
            if not isinstance(batch, list):
                raise GantryError(f"sonarqube {path}", f"response has no '{key}' list")
            items.extend(b for b in batch if isinstance(b, dict))
            paging = data.get("paging") if isinstance(data.get("paging"), dict) else {}
            total = paging.get("total", data.get("total", 0))
            total = total if isinstance(total, int) else 0
            if not batch or len(items) >= total or page * page_size >= MAX_RESULTS:
                return items
            page += 1

    def issues(self, project_key: str, **extra: str) -> list[dict]:
        return self._paged("api/issues/search", {"components": project_key, "types": "VULNERABILITY",
                                                 "resolved": "false", **extra}, "issues")

    def hotspots(self, project_key: str, **extra: str) -> list[dict]:
        return self._paged("api/hotspots/search", {"projectKey": project_key, "status": "TO_REVIEW", **extra},
                           "hotspots")


def _error_text(resp: requests.Response) -> str:
    try:
        errs = resp.json().get("errors")
        return clip("; ".join(e.get("msg", "") for e in errs if isinstance(e, dict)), 200) or resp.reason
    except (ValueError, AttributeError, TypeError):
        return clip(resp.reason, 100)


def read_report_task(path: Path) -> dict[str, str]:
    """``report-task.txt`` (``key=value`` lines) → dict; needs ceTaskId and serverUrl."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GantryError(str(path), "no such file (did the scanner run?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GantryError(str(path), f"cannot read: {exc}") from None
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    for need in ("ceTaskId", "serverUrl", "projectKey"):
        if not out.get(need):
            raise GantryError(str(path), f"missing {need}")
    return out


def collect(task: dict[str, str], token: str, out_dir: Path, *, poll_timeout: float = 600,
            poll_interval: float = 2.0, page_size: int = 500, session: requests.Session | None = None) -> Path:
    """Wait for the analysis of ``task`` (report-task.txt) and write ``out_dir/sonarqube.json``."""
    client = SonarClient(task["serverUrl"], token, page_size=page_size, session=session)
    ce = client.wait_for_task(task["ceTaskId"], timeout=poll_timeout, interval=poll_interval)
    key = task["projectKey"]
    gate = client.quality_gate(ce.get("analysisId"), key)
    report = {"gantryReport": REPORT_MARK, "serverUrl": task["serverUrl"], "projectKey": key,
              "dashboardUrl": task.get("dashboardUrl"), "ceTaskId": task["ceTaskId"],
              "analysisId": ce.get("analysisId"), "qualityGate": gate,
              "issues": client.issues(key), "hotspots": client.hotspots(key)}
    return write_atomic(Path(out_dir) / REPORT_NAME, json.dumps(report, indent=1) + "\n")


def find_scanner(scanner: str | None = None) -> list[str] | None:
    if scanner:
        return [scanner] if shutil.which(scanner) or Path(scanner).is_file() else None
    for name in ("sonar-scanner", "pysonar"):
        found = shutil.which(name)
        if found:
            return [found]
    return None


def from_settings(settings: Settings) -> dict[str, Any]:
    """``run`` keywords from the settings the CLI read: ``$SONAR_HOST_URL``, ``$SONAR_TOKEN``."""
    return {"host_url": settings.sonar_host_url, "token": settings.sonar_token}


def run(project_dir: Path, out_dir: Path, *, host_url: str | None = None, project_key: str | None = None,
        token: str | None = None, scanner: str | None = None, timeout: float = 1800, poll_timeout: float = 600, poll_interval: float = 2.0,
        page_size: int = 500, extra_args: tuple[str, ...] = (), **_: Any) -> ScanOutcome:
    """Run the scanner on ``project_dir`` and collect results into ``out_dir/sonarqube.json``.

    Skipped when ``host_url``/``token`` (the caller's SONAR_HOST_URL/SONAR_TOKEN) are not set or
    no scanner is installed. The token reaches the scanner through its SONAR_TOKEN environment
    variable, never the command line.
    """
    start = time.monotonic()
    host = host_url or ""
    token = token or ""
    if not host or not token:
        missing = " and ".join(n for n, v in (("SONAR_HOST_URL", host), ("SONAR_TOKEN", token)) if not v)
        return ScanOutcome(TOOL, "skipped", [], f"{missing} not set")
    cmd = find_scanner(scanner)
    if cmd is None:
        return ScanOutcome(TOOL, "skipped", [], "sonar-scanner CLI not found (install sonar-scanner or pysonar)")
    project_dir = Path(project_dir)
    out_dir = Path(out_dir).resolve()
    work = (out_dir / "sonar-work").resolve()
    work.mkdir(parents=True, exist_ok=True)
    key = project_key or project_dir.resolve().name
    cmd += [f"-Dsonar.host.url={host}", f"-Dsonar.projectKey={key}",
            f"-Dsonar.projectBaseDir={project_dir.resolve()}", f"-Dsonar.working.directory={work}", *extra_args]
    env = child_env(SONAR_TOKEN=token)
    from pipeline_lib.core.process import TAIL_OUTPUT, run as run_command   # subprocess: only when it runs

    try:
        res = run_command(cmd, timeout=timeout, cwd=project_dir, env=env, max_output=TAIL_OUTPUT, secrets=(token,))
    except TimeoutExceeded:
        return ScanOutcome(TOOL, "error", [], f"sonar-scanner timed out after {timeout:g}s", time.monotonic() - start)
    if res.returncode != 0:
        why = res.last_line((token,)) or f"exit code {res.returncode}"
        return ScanOutcome(TOOL, "error", [], f"sonar-scanner failed: {why}", time.monotonic() - start)
    try:
        task = read_report_task(work / "report-task.txt")
        report = collect(task, token, out_dir, poll_timeout=poll_timeout, poll_interval=poll_interval,
                         page_size=page_size)
    except GantryError as exc:
        return ScanOutcome(TOOL, "error", [], str(exc).replace(token, "***"), time.monotonic() - start)
    return ScanOutcome(TOOL, "ok", [report], "", time.monotonic() - start)


# ---------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------

def _component_path(component: Any, project: Any = None, paths: dict[str, str] | None = None) -> str | None:
    """A component key → the file's path in the repository.

    Keys are ``<projectKey>:<path>``, and a project key may itself contain ``:`` (Maven's
    ``groupId:artifactId``), so exactly the project key is stripped — the item's own ``project``
    field, else the key from the scan settings (``sonarqube.json``'s ``projectKey``) — never "up to
    the first colon". A response's ``components[].path`` for the key wins when present. The project
    itself (a project-level issue) and a key of an unknown project are kept as they are.
    """
    if not isinstance(component, str):
        return None
    if paths and paths.get(component):
        return paths[component]
    if isinstance(project, str) and project and component.startswith(project + ":"):
        return component[len(project) + 1:] or component
    return component


def _paths(doc: dict) -> dict[str, str]:
    """``components[]`` of an api/issues|hotspots/search response → key → repository path."""
    comps = doc.get("components")
    return {c["key"]: c["path"] for c in comps if isinstance(c, dict) and isinstance(c.get("key"), str)
            and isinstance(c.get("path"), str) and c["path"]} if isinstance(comps, list) else {}


def _line(item: dict) -> int | None:
    line = item.get("line")
    if not isinstance(line, int) or isinstance(line, bool):
        tr = item.get("textRange")
        line = tr.get("startLine") if isinstance(tr, dict) else None
    return line if isinstance(line, int) and not isinstance(line, bool) and line > 0 else None


def _issues(items: Any, out: FindingSet, where: str, base_url: str | None, project: str | None = None,
            paths: dict[str, str] | None = None) -> None:
    if not isinstance(items, list):
        raise GantryError(where, "issues must be a list")
    for i, issue in enumerate(items):
        if not isinstance(issue, dict) or not isinstance(issue.get("key"), str) or not isinstance(issue.get("rule"), str):
            raise GantryError(where, f"issues[{i}]: expected an object with key and rule")
        impacts = issue.get("impacts") if isinstance(issue.get("impacts"), list) else []
        security = issue.get("type") == "VULNERABILITY" or any(
            isinstance(m, dict) and m.get("softwareQuality") == "SECURITY" for m in impacts)
        resolved = bool(issue.get("resolution")) or issue.get("status") in ("CLOSED", "RESOLVED") or \
            issue.get("issueStatus") in ("ACCEPTED", "FALSE_POSITIVE", "FIXED")
        if not security or resolved:
            continue
        comp = _component_path(issue.get("component"), issue.get("project") or project, paths)
        msg = issue.get("message") if isinstance(issue.get("message"), str) else issue["rule"]
        out.add(("i", issue["key"]), Finding(
            TOOL, "vulnerability", clip(issue["rule"], 200), map_issue_severity(issue), clip(msg),
            fingerprint(TOOL, "vulnerability", issue["rule"], comp, issue.get("hash") or msg),
            target=clip(comp, 500) or None, line=_line(issue),
            url=f"{base_url.rstrip('/')}/project/issues?open={issue['key']}" if base_url else None))


def _hotspots(items: Any, out: FindingSet, where: str, base_url: str | None, project: str | None = None,
              paths: dict[str, str] | None = None) -> None:
    if not isinstance(items, list):
        raise GantryError(where, "hotspots must be a list")
    for i, h in enumerate(items):
        if not isinstance(h, dict) or not isinstance(h.get("key"), str):
            raise GantryError(where, f"hotspots[{i}]: expected an object with a key")
        if h.get("status") == "REVIEWED" and h.get("resolution") != "ACKNOWLEDGED":
            continue
        rule = h.get("ruleKey") if isinstance(h.get("ruleKey"), str) else (h.get("securityCategory") or "hotspot")
        comp = _component_path(h.get("component"), h.get("project") or project, paths)
        msg = h.get("message") if isinstance(h.get("message"), str) else str(rule)
        out.add(("h", h["key"]), Finding(
            TOOL, "hotspot", clip(rule, 200), map_hotspot_severity(h), clip(msg),
            fingerprint(TOOL, "hotspot", rule, comp, msg), target=clip(comp, 500) or None, line=_line(h),
            url=f"{base_url.rstrip('/')}/security_hotspots?hotspots={h['key']}" if base_url else None))


register_not_report(lambda head: head.startswith("{") and '"task"' in head[:200] and '"componentKey"' in head,
                    "a SonarQube api/ce/task response (the analysis task's status)")
register_not_report(lambda head: head.startswith("{") and '"projectStatus"' in head[:200],
                    "a SonarQube api/qualitygates/project_status response (the quality gate alone; "
                    "gantry's sonarqube.json carries it beside the findings)")


def _sniff_report(head: str) -> bool:
    return head.startswith("{") and f'"gantryReport": "{REPORT_MARK}"' in head


@register("sonarqube", TOOL, _sniff_report, label="SonarQube")
def parse_report_file(path: Path, options: ParseOptions = ParseOptions()) -> ParsedReport:
    from .trivy import _load_json

    where = str(path)
    doc = _load_json(path)
    if not isinstance(doc, dict) or doc.get("gantryReport") != REPORT_MARK:
        raise GantryError(where, "not a gantry SonarQube report")
    base = doc.get("serverUrl") if isinstance(doc.get("serverUrl"), str) else None
    out = FindingSet()
    key = doc.get("projectKey") if isinstance(doc.get("projectKey"), str) else None
    _issues(doc.get("issues", []), out, where, base, key)
    _hotspots(doc.get("hotspots", []), out, where, base, key)
    report = ParsedReport(Path(path), TOOL, "sonarqube", out.findings)
    gate = doc.get("qualityGate")
    if not isinstance(gate, dict) or not isinstance(gate.get("status"), str):
        raise GantryError(where, "qualityGate.status missing")
    failing = [c for c in gate.get("conditions") or [] if isinstance(c, dict) and c.get("status") == "ERROR"]
    detail = "; ".join(f"{c.get('metricKey')} {c.get('actualValue')} (threshold {c.get('errorThreshold')})"
                       for c in failing) or f"status {gate['status']}"
    report.tool_gates.append(("quality gate", gate["status"] in ("OK", "WARN", "NONE"), clip(detail, 400)))
    if isinstance(doc.get("dashboardUrl"), str):
        report.links["SonarQube dashboard"] = doc["dashboardUrl"]
    return report


def _sniff_issues(head: str) -> bool:
    return head.startswith("{") and '"issues"' in head and '"paging"' in head and "gantryReport" not in head


def _sniff_hotspots(head: str) -> bool:
    return head.startswith("{") and '"hotspots"' in head and '"paging"' in head and "gantryReport" not in head


@register("sonarqube-issues", TOOL, _sniff_issues, label="SonarQube issues")
def parse_issues(path: Path, options: ParseOptions = ParseOptions()) -> ParsedReport:
    """A raw ``api/issues/search`` response."""
    from .trivy import _load_json

    doc = _load_json(path)
    if not isinstance(doc, dict):
        raise GantryError(str(path), "expected a JSON object")
    out = FindingSet()
    _issues(doc.get("issues"), out, str(path), None, None, _paths(doc))
    return ParsedReport(Path(path), TOOL, "sonarqube-issues", out.findings)


@register("sonarqube-hotspots", TOOL, _sniff_hotspots, label="SonarQube hotspots")
def parse_hotspots(path: Path, options: ParseOptions = ParseOptions()) -> ParsedReport:
    """A raw ``api/hotspots/search`` response."""
    from .trivy import _load_json

    doc = _load_json(path)
    if not isinstance(doc, dict):
        raise GantryError(str(path), "expected a JSON object")
    out = FindingSet()
    _hotspots(doc.get("hotspots"), out, str(path), None, None, _paths(doc))
    return ParsedReport(Path(path), TOOL, "sonarqube-hotspots", out.findings)


def parse(path: Path, **opts: Any) -> ParsedReport:
    from .registry import parse_report

    return parse_report(path)
