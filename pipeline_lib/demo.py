"""``gantry demo``: the whole pipeline once, locally, on real parts the demo starts and stops.

Stages (the same functions the Jenkinsfile's ``gantry`` commands run):
test → sonarqube → dependency-check → trivy → build → gate (writes the security report)
→ push (local registry standing in for ECR Seoul) → bump (local bare GitOps repo).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pipeline_lib.core.catalog import Catalog, Service, load_catalog
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic
from .localparts.engine import container_engine
from .localparts.registry import LocalRegistry
from .stages import FAILED, PASSED, SKIPPED, StageResult, results_json, run_stage, summary
from .testrun import run_tests

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGISTRY_PORT = 5111
REPORT_FILES = ("report.md", "report.sarif", "junit.xml", "findings.json")


@dataclass
class DemoConfig:
    """Where the demo reads from and writes to; every default is local and offline."""

    workdir: Path = Path("demo-out")
    service: str = "storefront"
    environment: str = "dev"
    catalog: Path | None = None
    source: Path | None = None
    registry_port: int = DEFAULT_REGISTRY_PORT
    engine: str = "auto"
    policy: Path | None = None
    out: TextIO | None = field(default=None, repr=False)


def _locate(path: Path | None, relative: str, what: str) -> Path:
    """An explicit path, else ``relative`` under the cwd, else under the gantry checkout."""
    if path is not None:
        if not path.exists():
            raise GantryError(str(path), f"{what} not found")
        return path.resolve()
    for base in (Path.cwd(), PROJECT_ROOT):
        candidate = base / relative
        if candidate.exists():
            return candidate.resolve()
    raise GantryError(relative, f"{what} not found (run from the gantry checkout or pass it explicitly)")


def _source_revision(source: Path) -> str:
    """Short commit of the source checkout, or ``local`` when it is not in a git repo."""
    proc = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=source,
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "local"


def _next_build_number(workdir: Path) -> int:
    """A build counter kept in ``workdir`` (Jenkins' BUILD_NUMBER for the demo)."""
    path = workdir / "build-number"
    try:
        number = int(path.read_text().strip()) + 1
    except (FileNotFoundError, ValueError):
        number = 1
    write_atomic(path, f"{number}\n")
    return number


def _outcome_stage(outcome: object) -> StageResult:
    """Turn a scanner's outcome (ok / skipped / error) into a stage result, never hiding a skip."""
    status = {"ok": PASSED, "skipped": SKIPPED}.get(getattr(outcome, "status", ""), FAILED)
    reports = [str(p) for p in getattr(outcome, "reports", [])]
    detail = getattr(outcome, "reason", "") or ", ".join(Path(r).name for r in reports)
    return StageResult(getattr(outcome, "tool", "scan"), status, detail,
                       data={"reports": reports})


class Demo:
    """One demo run: parts, stages, results."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.workdir = config.workdir.resolve()
        self.catalog: Catalog = load_catalog(_locate(config.catalog, "jobs/catalog.yaml", "service catalog"))
        self.service: Service = self.catalog.service(config.service)
        self.target = self.service.environment(config.environment)
        self.source = _locate(config.source, f"examples/{config.service}", "example service source")
        self.results: list[StageResult] = []
        self.outcomes: list[object] = []

    def _stage(self, name: str, func) -> StageResult:
        result = run_stage(name, func, self.config.out)
        self.results.append(result)
        return result

    def _skip(self, name: str, reason: str) -> None:
        self._stage(name, lambda: StageResult(name, SKIPPED, reason))

    def run(self) -> int:
        from scanners import dependency_check, sonarqube, trivy

        out = self.config.out or sys.stdout
        start = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        scans = self.workdir / "scans"
        build = _next_build_number(self.workdir)
        tag = f"{_source_revision(self.source)}-b{build}"
        print(f"gantry demo: service {self.service.name} ({self.config.environment}), tag {tag}, "
              f"work dir {self.workdir}", file=out, flush=True)

        with contextlib.ExitStack() as parts:
            print("gantry demo: starting local registry and container engine …", file=out, flush=True)
            registry = parts.enter_context(LocalRegistry(self.workdir / "registry", self.config.registry_port,
                                                         name="registry"))
            engine, client = parts.enter_context(container_engine(
                self.config.engine, self.workdir / "podman", [registry.host]))
            print(f"gantry demo: registry {registry.url}, engine {engine}", file=out, flush=True)
            repository = f"{registry.host}/{self.target.ecr_repository}"

            self._stage("test", lambda: run_tests(self.source, self.workdir / "test",
                                                  self.service.test_command))
            for name, scanner in (("sonarqube", sonarqube.run), ("dependency-check", dependency_check.run)):
                self._stage(name, lambda scanner=scanner: self._scan(scanner, self.source, scans))
            self._stage("trivy", lambda: self._scan(trivy.run_fs, self.source, scans))
            built = self._stage("build", lambda: self._build(client, repository, tag, engine))
            gate = self._stage("gate", self._gate)
            if not (built.status == PASSED and gate.status == PASSED):
                self._skip("push", "not run: an earlier stage failed")
                self._skip("bump", "not run: an earlier stage failed")
            else:
                pushed = self._stage("push", lambda: self._push(client, repository, tag))
                if pushed.status == PASSED:
                    self._stage("bump", lambda: self._bump(registry.host, repository, tag,
                                                           str(pushed.data["digest"])))
                else:
                    self._skip("bump", "not run: push failed")

        write_atomic(self.workdir / "stages.json", results_json(self.results))
        total = time.monotonic() - start
        print(summary(self.results, total), file=out)
        for result in self.results:
            for key in ("digest", "repo", "commit", "report_dir"):
                if key in result.data:
                    print(f"  {result.name}: {key} {result.data[key]}", file=out)
        return 0 if all(r.ok for r in self.results) else 1

    def _scan(self, scanner, source: Path, scans: Path) -> StageResult:
        outcome = scanner(source, scans)
        self.outcomes.append(outcome)
        return _outcome_stage(outcome)

    def _build(self, client, repository: str, tag: str, engine: str) -> StageResult:
        from .image.build import build_image
        from .image.pydeps import prepare_build_context

        context = self.workdir / "build-context"   # the service context + its pinned deps (site-packages/)
        prepare_build_context(self.source / self.service.context, context, wheel_cache=self.workdir / "wheels")
        image = build_image(client, context, self.service.dockerfile, [f"{repository}:{tag}"],
                            labels={"org.opencontainers.image.revision": tag})
        return StageResult("build", PASSED, f"{engine}: {repository}:{tag} {image.id[:19]}",
                           data={"image_id": image.id})

    def _gate(self) -> StageResult:
        from scanners.formats import write_all
        from scanners.gate import evaluate
        from scanners.policy import load_policy

        reports = [Path(p) for o in self.outcomes if getattr(o, "status", "") == "ok"
                   for p in getattr(o, "reports", []) if Path(p).name != "sbom.cdx.json"]
        verdict = evaluate(reports, policy=load_policy(self.config.policy),
                           environment=self.config.environment, outcomes=self.outcomes)
        written = write_all(verdict, self.workdir)
        missing = [name for name in REPORT_FILES if not (self.workdir / name).is_file()]
        if missing:
            raise GantryError("report", f"not written: {', '.join(missing)}")
        code = getattr(verdict, "exit_code", 1)
        status = PASSED if code == 0 else FAILED
        detail = getattr(verdict, "summary", "") or f"exit {code}"
        return StageResult("gate", status, f"{detail}; {', '.join(sorted(Path(p).name for p in written.values()))}",
                           data={"report_dir": str(self.workdir), "exit_code": code})

    def _push(self, client, repository: str, tag: str) -> StageResult:
        from .image.push import push_image

        result = push_image(client, repository, tag)
        write_atomic(self.workdir / "image.json", json.dumps(
            {"reference": result.reference, "tag": result.tag, "digest": result.digest}, indent=2) + "\n")
        return StageResult("push", PASSED, f"{result.reference}@{result.digest}",
                           data={"digest": result.digest, "reference": result.reference})

    def _bump(self, registry_host: str, repository: str, tag: str, digest: str) -> StageResult:
        from gitops.bump import bump
        from gitops.layout import init_repo

        bare = self.workdir / "gitops.git"
        init_repo(bare, self.catalog, [self.service], self.config.environment, registry_host)
        result = bump(bare.as_uri(), catalog=self.catalog, service=self.service.name,
                      environment=self.config.environment, image=repository, digest=digest, tag=tag,
                      build_url=f"file://{self.workdir}/stages.json")
        if not result.changed:
            return StageResult("bump", PASSED, f"{result.manifest}: already at {digest[:19]}, no commit")
        return StageResult("bump", PASSED,
                           f"{result.manifest}: {result.old_tag or 'none'} -> {result.new_tag} ({str(result.commit)[:12]})",
                           data={"commit": result.commit, "repo": str(bare)})
