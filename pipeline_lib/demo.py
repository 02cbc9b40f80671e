"""``gantry demo``: the Jenkinsfile's stages, in its order, with its options, on local parts.

Each step below is the stage function the Jenkinsfile's ``gantry`` command of the same stage
calls (see :mod:`pipeline_lib.stages`), with the same options and the same artifacts between
stages: ``reports/test``, ``reports/scans/<tool>.outcome.json``, ``image.oci.tar``,
``reports/gate/*``, ``reports/image.json``. :data:`STAGES` is that order; a test checks it against
the Jenkinsfile. Local parts (:class:`~pipeline_lib.localparts.stack.LocalStack`) stand in for
ECR Seoul and Tokyo, and a bare git repository in the work directory for the GitOps repo.

Differences, each forced by the machine, none by the logic: without BuildKit the build stage
uses the Docker API (podman) behind the same interface and still writes the OCI archive; a
pull-request build (``is_pr``) stops after the PR report, as Jenkins does, and without a GitHub
token the PR report and the code-scanning upload are skipped; Slack is skipped without ``SLACK_WEBHOOK_URL``.
"""

from __future__ import annotations

import fcntl
import shutil
import sys
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from gitops.layout import init_repo
from pipeline_lib.core.catalog import Catalog, Service, load_catalog
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic
from pipeline_lib.core.process import run
from pipeline_lib.localparts.stack import LocalStack

from .stages import SKIPPED, StageResult, results_json, run_stage, summary
from .stages import build, bump, gate, notify, push, replicate, scan, test

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGISTRY_PORT = 5111
#: The Jenkinsfile's stages in order (stage name as printed).
STAGES = ("test", "sonarqube", "dependency-check", "build", "trivy", "gate", "code-scanning", "pr-report", "push",
          "replicate", "bump", "deploy", "notify")
#: Trivy's scanners in the Trivy stage; ``vuln`` needs a vulnerability DB (or mirror).
TRIVY_SCANNERS = ("vuln", "secret")


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
    trivy_db_repository: str | None = None
    is_pr: bool = False
    branch: str = "main"
    out: TextIO | None = field(default=None, repr=False)


def gate_options(environment: str, reports: Path, policy: Path | None = None) -> gate.GateOptions:
    """The Gate stage's options, as the Jenkinsfile gives them: the scans' outcome files as
    evidence (``$REPORTS/scans``), the reports into ``$REPORTS/gate``."""
    return gate.GateOptions(environment, outcomes_dir=reports / "scans", policy=policy, report_dir=reports / "gate")


def trivy_options(src: Path, reports: Path, archive: Path, db_repository: str | None) -> scan.ScanOptions:
    """The Trivy stage's options, as the Jenkinsfile gives them (``--input image.oci.tar
    --scanners vuln,secret``); without a vulnerability DB mirror only ``secret`` can run offline."""
    scanners = TRIVY_SCANNERS if db_repository else tuple(s for s in TRIVY_SCANNERS if s != "vuln")
    return scan.ScanOptions("trivy", src, reports / "scans", input=archive,
                            options={"scanners": scanners, "db_repository": db_repository})


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
    try:
        proc = run(["git", "rev-parse", "--short=12", "HEAD"], cwd=source, timeout=30)
    except GantryError:
        return "local"
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "local"


def _next_build_number(workdir: Path) -> int:
    """Jenkins' BUILD_NUMBER for the demo, kept in the work directory."""
    path = workdir / "build-number"
    try:
        number = int(path.read_text().strip()) + 1
    except (FileNotFoundError, ValueError):
        number = 1
    write_atomic(path, f"{number}\n")
    return number


@contextmanager
def _workdir_lock(workdir: Path) -> Iterator[None]:
    """One demo at a time per work directory: a second one waits for the first."""
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


class Demo:
    """One demo run: the stages in Jenkins' order and what they returned."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.workdir = config.workdir.resolve()
        self.catalog: Catalog = load_catalog(_locate(config.catalog, "jobs/catalog.yaml", "service catalog"))
        self.service: Service = self.catalog.service(config.service)
        self.target = self.service.environment(config.environment)
        self.source = _locate(config.source, f"examples/{config.service}", "example service source")
        self.results: list[StageResult] = []
        self.reports = self.workdir / "reports"

    def _stage(self, name: str, func: Callable[[], StageResult]) -> StageResult:
        result = run_stage(name, func, self.config.out)
        self.results.append(result)
        return result

    def _skip(self, name: str, reason: str) -> StageResult:
        return self._stage(name, lambda: StageResult(name, SKIPPED, reason))

    def _failed_before(self) -> bool:
        return not all(r.ok for r in self.results)

    def run(self) -> int:
        out = self.config.out or sys.stdout
        start = time.monotonic()
        with _workdir_lock(self.workdir):
            build_number = _next_build_number(self.workdir)
            tag = f"{_source_revision(self.source)}-b{build_number}"
            print(f"gantry demo: service {self.service.name} ({self.config.environment}), tag {tag}, "
                  f"work dir {self.workdir}", file=out, flush=True)
            print("gantry demo: starting local registries (Seoul, Tokyo) and container engine …", file=out, flush=True)
            with LocalStack(self.workdir, self.config.registry_port, self.config.engine) as parts:
                print(f"gantry demo: registries {parts.primary} (Seoul), {parts.replica} (Tokyo); "
                      f"engine {parts.engine}", file=out, flush=True)
                self._pipeline(parts, tag, build_number)
        write_atomic(self.workdir / "stages.json", results_json(self.results))
        print(summary(self.results, time.monotonic() - start), file=out)
        for result in self.results:
            for key in ("digest", "repo", "commit", "report_dir"):
                if result.data.get(key):
                    print(f"  {result.name}: {key} {result.data[key]}", file=out)
        return 0 if all(r.ok for r in self.results) else 1

    def _pipeline(self, parts: LocalStack, tag: str, build_number: int) -> None:
        """The Jenkinsfile, stage by stage."""
        cfg, svc, scans = self.config, self.service, self.reports / "scans"
        repository = self.target.ecr_repository
        archive = self.workdir / "image.oci.tar"
        self._stage("test", lambda: test.run(test.TestOptions(self.source, self.reports / "test", svc.test_command)))
        for tool in ("sonarqube", "dependency-check"):
            self._stage(tool, lambda tool=tool: scan.run(scan.ScanOptions(tool, self.source, scans)))
        builder = "buildkit" if shutil.which("buildctl") or shutil.which("buildctl-daemonless.sh") else "docker"
        self._stage("build", lambda: build.run(build.BuildOptions(
            self.source / svc.context, svc.dockerfile, [f"{parts.primary}/{repository}:{tag}"], archive, builder,
            {"org.opencontainers.image.revision": tag}, parts.client)))
        self._stage("trivy", lambda: scan.run(trivy_options(self.source, self.reports, archive,
                                                            cfg.trivy_db_repository)))
        self._stage("gate", lambda: gate.run(gate_options(cfg.environment, self.reports, cfg.policy)))
        self._skip("code-scanning", "no GitHub API here: the SARIF is reports/gate/report.sarif")
        if cfg.is_pr:
            self._skip("pr-report", "no GitHub API here: the comment is reports/gate/report.md")
        else:
            self._skip("pr-report", "not a pull request")
        if cfg.is_pr or self._failed_before():
            why = "pull request builds stop after the PR report" if cfg.is_pr else "an earlier stage failed"
            for name in ("push", "replicate", "bump", "deploy"):
                self._skip(name, f"not run: {why}")
        else:
            pushed = self._stage("push", lambda: push.run(push.PushOptions(
                parts.primary, repository, [tag], oci_archive=archive, output=self.reports / "image.json")))
            digest = str(pushed.data.get("digest", ""))
            if pushed.ok:
                def _replicate() -> StageResult:
                    parts.replicate(repository, digest, [tag])   # ECR's own replication, played locally
                    return replicate.run(replicate.ReplicateOptions(repository, digest, parts.primary,
                                                                    parts.replicas, timeout=60, out=cfg.out))
                self._stage("replicate", _replicate)
            else:
                self._skip("replicate", "not run: push failed")
            if self._failed_before() or cfg.branch != "main":
                self._skip("bump", "not run: " + ("an earlier stage failed" if self._failed_before()
                                                   else "only main-branch builds deploy"))
            else:
                bare = self.workdir / "gitops.git"
                init_repo(bare, self.catalog, [svc], cfg.environment, parts.primary)
                self._stage("bump", lambda: bump.run(bump.BumpOptions(
                    self.catalog, svc.name, cfg.environment, digest, tag, bare.as_uri(),
                    image=f"{parts.primary}/{repository}", build_url=f"file://{self.workdir}/stages.json",
                    mode=None)))
            platform = self.catalog.environments[cfg.environment].platform
            self._skip("deploy", "no ECS here (gantry event deploy rolls the event stack)"
                       if platform == "ecs-fargate" else f"Argo CD syncs {cfg.environment} from the GitOps repo")
        status = "SUCCESS" if all(r.ok for r in self.results) else "FAILURE"
        self._stage("notify", lambda: notify.run(notify.NotifyOptions(svc.name, cfg.environment, status,
                                                                      f"file://{self.workdir}/stages.json"),
                                                 required=False))
