"""Check a GitOps repository's monitoring with the real tools: promtool and amtool.

:func:`check_monitoring` walks every YAML file of a repository (``.git`` excluded) and checks:

- each PrometheusRule: its ``spec`` extracted to a plain rule file passes ``promtool check rules``;
  each alert has ``severity``, ``summary`` and ``description``; a file with alerts is covered by
  a ``promtool`` unit-test file;
- each unit-test file (a mapping with ``rule_files`` and ``tests``) passes ``promtool test rules``
  (rule files resolved relative to the test file, as promtool does, after extraction);
- each Grafana dashboard ConfigMap (label ``grafana_dashboard``): every PromQL expression parses
  (written as recording rules, then ``promtool check rules``);
- each Alertmanager configuration (a mapping with ``route`` and ``receivers``, or Helm values
  with ``alertmanager.config``) passes ``amtool check-config``, and names no Slack URL inline.

Binaries: ``promtool`` (Debian ``prometheus``) and ``amtool`` (``prometheus-alertmanager``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline_lib.core.errors import GantryError, TimeoutExceeded
from pipeline_lib.core.process import run as run_command
from pipeline_lib.core.settings import child_env

from .dashboards import SIDECAR_LABEL, dashboard_exprs

TOOL_TIMEOUT = 120.0
_CHECKING = re.compile(r"^Checking '?\S+?'?(?=\s|$)")  # promtool/amtool name the (temporary) file first
_PACKAGES = {"promtool": "prometheus", "amtool": "prometheus-alertmanager"}


def tool(name: str) -> str:
    """The path of ``promtool``/``amtool``; :class:`GantryError` (exit 2) when missing."""
    path = shutil.which(name)
    if path is None:
        raise GantryError(name, f"not found on PATH: install the Debian package {_PACKAGES.get(name, name)} "
                                "(make deps does)")
    return path


def run_tool(args: list[str], cwd: Path | None = None) -> tuple[int, str]:
    """Run a checker; ``(exit code, stdout+stderr)``. A hang is a :class:`GantryError`."""
    name = Path(args[0]).name
    try:
        proc = run_command(args, cwd=cwd, timeout=TOOL_TIMEOUT, env=child_env(NO_COLOR="1"), what=name)
    except TimeoutExceeded:
        raise TimeoutExceeded(name, f"timed out after {TOOL_TIMEOUT:g}s") from None
    return proc.returncode, (proc.stdout + proc.stderr).strip()


@dataclass
class _Found:
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)      # rel path -> spec
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)      # rel path -> test file
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # "rel path[key]" -> dashboard
    alertmanager: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _yaml_files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        out += [Path(dirpath) / f for f in sorted(filenames) if f.endswith((".yaml", ".yml"))]
    return out


def _classify(rel: str, index: int, doc: Any, found: _Found) -> None:
    if not isinstance(doc, dict):
        return
    key = rel if index == 0 else f"{rel}#{index}"
    if doc.get("kind") == "PrometheusRule" and str(doc.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
        spec = doc.get("spec")
        if not isinstance(spec, dict) or not isinstance(spec.get("groups"), list):
            found.problems.append(f"{key}: PrometheusRule has no spec.groups list")
        else:
            found.rules[key] = spec
    elif doc.get("kind") == "ConfigMap" and (doc.get("metadata") or {}).get("labels", {}).get(SIDECAR_LABEL):
        for name, text in (doc.get("data") or {}).items():
            try:
                found.dashboards[f"{key}[{name}]"] = json.loads(text)
            except (TypeError, ValueError) as exc:
                found.problems.append(f"{key}: data.{name}: not dashboard JSON ({exc})")
    elif "rule_files" in doc and "tests" in doc:
        found.tests[key] = doc
    elif "route" in doc and "receivers" in doc:
        found.alertmanager[key] = doc
    elif isinstance(doc.get("alertmanager"), dict) and isinstance(doc["alertmanager"].get("config"), dict):
        found.alertmanager[f"{key}[alertmanager.config]"] = doc["alertmanager"]["config"]


def _scan(repo: Path) -> _Found:
    found = _Found()
    for path in _yaml_files(repo):
        rel = path.relative_to(repo).as_posix()
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            if "monitoring" in rel:
                found.problems.append(f"{rel}: not valid YAML ({' '.join(str(exc).split())})")
            continue
        for i, doc in enumerate(docs):
            _classify(rel, i, doc, found)
    return found


def _lint_alerts(rel: str, spec: dict[str, Any]) -> tuple[list[str], int]:
    problems, alerts = [], 0
    for group in spec.get("groups", []):
        for rule in (group or {}).get("rules", []) or []:
            if not isinstance(rule, dict) or "alert" not in rule:
                continue
            alerts += 1
            missing = ["labels.severity"] if "severity" not in (rule.get("labels") or {}) else []
            missing += [f"annotations.{a}" for a in ("summary", "description")
                        if not (rule.get("annotations") or {}).get(a)]
            if missing:
                problems.append(f"{rel}: alert {rule['alert']}: missing {', '.join(missing)}")
    return problems, alerts


def _tool_problem(rel: str, what: str, output: str) -> str:
    lines = [_CHECKING.sub("", ln).strip() for ln in output.splitlines()]
    lines = [ln for ln in lines if ln]
    detail = "; ".join(lines[:12])
    return f"{rel}: {what}: {detail}" if detail else f"{rel}: {what}"


def check_monitoring(repo_dir: str | Path) -> list[str]:
    """Problems (``<path>: <what>``) of the monitoring files under ``repo_dir``; empty = all pass.

    Raises :class:`GantryError` (exit 2) when ``repo_dir`` is not a directory or a tool it
    needs is missing (a check that cannot run never passes).
    """
    repo = Path(repo_dir)
    if not repo.is_dir():
        raise GantryError(str(repo), "not a directory")
    found = _scan(repo)
    problems = list(found.problems)
    if not (found.rules or found.tests or found.dashboards or found.alertmanager):
        return problems
    jobs: list[tuple[str, str, list[str], Path | None]] = []  # (rel, what, argv, cwd)
    with tempfile.TemporaryDirectory(prefix="gantry-monitoring-") as tmp:
        work = Path(tmp)
        promtool = tool("promtool") if (found.rules or found.tests or found.dashboards) else ""
        for rel, spec in found.rules.items():
            lint, alerts = _lint_alerts(rel, spec)
            problems += lint
            out = _write(work / rel.replace("#", "."), spec)
            jobs.append((rel, "promtool check rules failed", [promtool, "check", "rules", str(out)], None))
            if alerts and not any(_covers(t, trel, rel) for trel, t in found.tests.items()):
                problems.append(f"{rel}: {alerts} alerting rules but no promtool test file names it in rule_files")
        for rel, test in found.tests.items():
            out = _write(work / rel.replace("#", "."), test)
            jobs.append((rel, "promtool test rules failed", [promtool, "test", "rules", out.name], out.parent))
        for i, (rel, dashboard) in enumerate(found.dashboards.items()):
            groups = [{"name": f"panel {n}: {title}", "rules": [{"record": f"dashboard:expr:{n}", "expr": expr}]}
                      for n, (title, expr) in enumerate(dashboard_exprs(dashboard))]
            if groups:
                out = _write(work / "_dashboards" / f"{i}.rules.yaml", {"groups": groups})
                jobs.append((rel, "a dashboard query does not parse", [promtool, "check", "rules", str(out)], None))
        amtool = tool("amtool") if found.alertmanager else ""
        for i, (rel, config) in enumerate(found.alertmanager.items()):
            problems += [f"{rel}: {p}" for p in inline_secrets(config)]
            out = _write(work / "_alertmanager" / f"{i}.yaml", config)
            jobs.append((rel, "amtool check-config failed", [amtool, "check-config", str(out)], None))
        # Each run is a short Go process: run them side by side, report in a stable order.
        with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
            results = list(pool.map(lambda job: run_tool(job[2], cwd=job[3]), jobs))
        for (rel, what, _, _), (code, output) in zip(jobs, results):
            if code != 0:
                problems.append(_tool_problem(rel, what, output))
    return problems


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _covers(test: dict[str, Any], test_rel: str, rule_rel: str) -> bool:
    base = Path(test_rel.split("#", 1)[0]).parent
    for name in test.get("rule_files") or []:
        if isinstance(name, str) and os.path.normpath(base / name) == os.path.normpath(rule_rel.split("#", 1)[0]):
            return True
    return False


def inline_secrets(config: dict[str, Any]) -> list[str]:
    """Slack webhook URLs written into the config instead of read from a file."""
    problems = []
    if (config.get("global") or {}).get("slack_api_url"):
        problems.append("global.slack_api_url is inline: use slack_api_url_file (a mounted Secret)")
    for receiver in config.get("receivers") or []:
        for slack in (receiver or {}).get("slack_configs") or []:
            if (slack or {}).get("api_url"):
                problems.append(f"receiver {receiver.get('name')}: slack api_url is inline: use api_url_file")
    return problems
