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

The environment is read once (``DemoConfig.settings``, else :meth:`Settings.from_env` here), as
the CLI does for each Jenkinsfile command; the stages get the values in their options.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import shutil
import sys
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from gitops.hostlock import Writers
from gitops.layout import init_repo
from pipeline_lib.attest.enforce import check_before_write
from pipeline_lib.attest.publish import EvidenceFiles
from pipeline_lib.attest.statement import BuildInfo
from pipeline_lib.core.catalog import EVIDENCE_KINDS, Catalog, Service, SigningPolicy, load_catalog
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic
from pipeline_lib.core.process import run
from pipeline_lib.core.settingsmodel import Settings
from pipeline_lib.localparts.stack import LocalStack

from ..stages import SKIPPED, StageResult, results_json, run_stage, summary
from ..stages import build, bump, gate, notify, push, replicate, scan, test
from .promotion import PromotionDemo, archive_digest
from .storefront import PR_BLOCKING_IDS, prepare_variants, publish_demo_db

PROJECT_ROOT = Path(__file__).resolve().parents[2]
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
    #: two builds (pipeline_lib/demo/storefront.py): a PR pinning a vulnerable dependency, which
    #: the gate must block, then main with the fixed version, which must ship; False: one build
    story: bool = True
    out: TextIO | None = field(default=None, repr=False)
    #: the environment, read once (None: read when the demo starts)
    settings: Settings | None = field(default=None, repr=False)


def gate_options(environment: str, reports: Path, policy: Path | None = None) -> gate.GateOptions:
    """The Gate stage's options, as the Jenkinsfile gives them: the scans' outcome files as
    evidence (``$REPORTS/scans``), the reports into ``$REPORTS/gate``."""
    return gate.GateOptions(environment, outcomes_dir=reports / "scans", policy=policy, report_dir=reports / "gate")


def trivy_options(src: Path, reports: Path, archive: Path, db_repository: str | None,
                  cache_dir: Path | None = None, settings: Settings | None = None) -> scan.ScanOptions:
    """The Trivy stage's options, as the Jenkinsfile gives them (``--input image.oci.tar
    --scanners vuln,secret``); without a vulnerability DB mirror only ``secret`` can run offline."""
    scanners = TRIVY_SCANNERS if db_repository else tuple(s for s in TRIVY_SCANNERS if s != "vuln")
    options: dict = {**scan.settings_options("trivy", settings or Settings()), "scanners": scanners,
                     "db_repository": db_repository}
    if cache_dir is not None:
        options["cache_dir"] = cache_dir
    return scan.ScanOptions("trivy", src, reports / "scans", input=archive, options=options)


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
        self.settings = config.settings or Settings.from_env()
        self.workdir = config.workdir.resolve()
        self.catalog: Catalog = load_catalog(_locate(config.catalog, "jobs/catalog.yaml", "service catalog"))
        self.service: Service = self.catalog.service(config.service)
        self.target = self.service.environment(config.environment)
        self.source = _locate(config.source, f"examples/{config.service}", "example service source")
        self.results: list[StageResult] = []
        self.reports = self.workdir / "reports"
        self.signing_key: Path | None = None
        self.builds: list[tuple[str, list[StageResult]]] = []   # the story's builds: (pr|main, results)
        self._trivy_cache: Path | None = None

    def _signing(self) -> None:
        """The demo's signing key (``<workdir>/signing/gantry.key``, made once, kept across runs) and
        a catalog whose target environment requires evidence signed by it (the bump verifies it)."""
        from pipeline_lib.attest.keys import PRIVATE_NAME, PUBLIC_NAME, generate
        directory = self.workdir / "signing"
        if not (directory / PRIVATE_NAME).is_file():
            generate(directory)
        self.signing_key = directory / PRIVATE_NAME
        env = self.config.environment
        policy = SigningPolicy(env, "required", (str(directory / PUBLIC_NAME),), str(self.signing_key), EVIDENCE_KINDS)
        self.catalog = replace(self.catalog, signing={**(self.catalog.signing or {}), env: policy})

    def _stage(self, name: str, func: Callable[[], StageResult]) -> StageResult:
        result = run_stage(name, func, self.config.out, self.settings)
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
            self._signing()
            build_number = _next_build_number(self.workdir)
            tag = f"{_source_revision(self.source)}-b{build_number}"
            print(f"gantry demo: service {self.service.name} ({self.config.environment}), tag {tag}, "
                  f"work dir {self.workdir}", file=out, flush=True)
            print("gantry demo: starting local registries (Seoul, Tokyo) and container engine …", file=out, flush=True)
            with LocalStack(self.workdir, self.config.registry_port, self.config.engine) as parts:
                print(f"gantry demo: registries {parts.primary} (Seoul), {parts.replica} (Tokyo); "
                      f"engine {parts.engine}", file=out, flush=True)
                if self.config.story:
                    return self._story(parts, tag, build_number, start)
                self._pipeline(parts, tag, build_number)
        write_atomic(self.workdir / "stages.json", results_json(self.results))
        print(summary(self.results, time.monotonic() - start), file=out)
        self._print_links(self.results)
        return 0 if all(r.ok for r in self.results) else 1

    def _print_links(self, results: list[StageResult]) -> None:
        for result in results:
            for key in ("digest", "repo", "commit", "report_dir"):
                if result.data.get(key):
                    print(f"  {result.name}: {key} {result.data[key]}", file=self.config.out or sys.stdout)

    def _story(self, parts: LocalStack, tag: str, build_number: int, start: float) -> int:
        """The PR build (must be blocked by the gate, nothing pushed), then main (must ship)."""
        out = self.config.out or sys.stdout
        base, source = self.config, self.source
        variants = prepare_variants(self.workdir, source)
        db_repository, meta = publish_demo_db(self.workdir, parts.primary, PROJECT_ROOT)
        cache = self.workdir / "trivy-cache"
        shutil.rmtree(cache / "db", ignore_errors=True)   # Trivy pulls the DB from the mirror each run
        print(f"gantry demo: Trivy DB from the GitHub advisory files pushed to {db_repository} "
              f"(UpdatedAt {meta.to_json()['UpdatedAt']}); scans pull it with --db-repository", file=out, flush=True)
        verdicts: list[str] = []
        expected = True
        pr_digest: str | None = None
        self._parts = parts
        for n, v in enumerate(variants, 1):
            print(f"gantry demo: build {n}/2: {'pull request' if v.name == 'pr' else 'main branch'} "
                  f"({v.branch}; {variants.package} {variants.vulnerable if v.name == 'pr' else variants.fixed})",
                  file=out, flush=True)
            if v.name == "pr":
                print("gantry demo: the change:\n" + variants.diff.rstrip(), file=out, flush=True)
            self.config = replace(base, is_pr=v.name == "pr", branch=v.branch,
                                  trivy_db_repository=base.trivy_db_repository or db_repository)
            self.source, self.reports, self.results = v.source, self.workdir / v.name / "reports", []
            self._trivy_cache = cache
            self._pipeline(parts, f"{tag}-pr" if v.name == "pr" else tag, build_number)
            if v.name == "pr" and (self.workdir / "image.oci.tar").is_file():
                pr_digest = archive_digest(self.workdir / "image.oci.tar", self.workdir / "pr" / "image-layout")
            write_atomic(self.workdir / v.name / "stages.json", results_json(self.results))
            ok, verdict = self._judge(v.name, self.results, PR_BLOCKING_IDS)
            expected = expected and ok
            verdicts.append(verdict)
            self.builds.append((v.name, self.results))
        self.config, self.source = base, source
        began = time.monotonic()
        promoted = self._promotion(pr_digest)
        print(f"gantry demo: promotion dev -> prod and the refused PR build took {time.monotonic() - began:.1f}s",
              file=out, flush=True)
        expected = expected and all(r.ok for r in promoted)
        verdicts += [(f"promotion of the PR build's digest: REFUSED as expected: {r.detail}" if r.data.get("refused")
                      else f"promotion of main's freight dev -> prod: {r.status.upper()}: {r.detail}")
                     for r in promoted]
        self.builds.append(("promotion", promoted))
        self.results = [r for _, results in self.builds for r in results]
        write_atomic(self.workdir / "stages.json", results_json(self.results))
        print(("demo OK: both builds behaved as expected" if expected else
               "demo FAILED: a build did not behave as expected") + f" in {time.monotonic() - start:.1f}s", file=out)
        for line in verdicts:
            print(f"  {line}", file=out)
        self._print_links(self.results)
        return 0 if expected else 1

    def _promotion(self, pr_digest: str | None) -> list[StageResult]:
        """After main bumped dev: promote its freight to prod, and see the PR build's refused
        (:mod:`pipeline_lib.demo.promotion`)."""
        main = dict(self.builds).get("main") or []
        by = {r.name: r for r in main}
        bumped = by.get("bump")
        if bumped is None or bumped.status != "passed" or not bumped.data.get("freight") or self.signing_key is None:
            return [StageResult("promote", SKIPPED, "not run: the main build recorded no freight in dev")]
        demo = PromotionDemo(self.catalog, self.service.name, self.workdir, self._parts, self.signing_key,
                             Writers.from_settings(self.settings), self.config.out)
        return demo.run(bare=self.workdir / "gitops.git", main_reports=self.workdir / "main" / "reports",
                        policy=self.config.policy, repository=self.target.ecr_repository,
                        digest=str(by["push"].data.get("digest", "")), freight=str(bumped.data["freight"]),
                        pr_digest=pr_digest, tag=getattr(bumped.value, "new_tag", None))

    def _judge(self, name: str, results: list[StageResult], blocking_ids: tuple[str, ...]) -> tuple[bool, str]:
        """Did this build do what the story says? → (as expected, one summary line)."""
        by = {r.name: r for r in results}
        gate_r = by.get("gate")
        report = self.workdir / name / "reports" / "gate" / "report.md"
        if name == "pr":
            text = report.read_text(encoding="utf-8") if report.is_file() else ""
            missing = [i for i in blocking_ids if i not in text]
            shipped = [s for s in ("push", "replicate", "bump") if by.get(s) and by[s].status != SKIPPED]
            ok = (gate_r is not None and gate_r.data.get("exit_code") == 1 and not missing and not shipped)
            why = ("" if ok else f" — NOT as expected: gate exit {gate_r.data.get('exit_code') if gate_r else 'none'}"
                   + (f", {', '.join(missing)} missing from report.md" if missing else "")
                   + (f", {', '.join(shipped)} ran" if shipped else ""))
            return ok, (f"PR build: BLOCKED by the gate ({gate_r.detail if gate_r else 'no gate'}); "
                        f"report {report}; nothing pushed{why}")
        others = [r for r in results if r.name != "notify"]
        ok = all(r.ok for r in others) and all(by.get(s) and by[s].status != SKIPPED for s in ("push", "replicate", "bump"))
        digest = by["push"].data.get("digest", "") if by.get("push") else ""
        places = [(by[s].data.get("evidence") or {}) for s in ("bump", "replicate") if by.get(s)]
        verified = sorted({k for p in places for k in p.get("verified", [])})
        where = [p.get("registry") for p in places if p.get("verified")]
        evidence = (f"; attestations {', '.join(verified)} verified in {' and '.join(where)}" if verified
                    else "; no attestation verified")
        return ok, (f"main build: {'PASSED' if ok else 'FAILED'} the gate ({gate_r.detail if gate_r else 'no gate'}); "
                    f"pushed {digest or 'nothing'}, replicated, bumped{evidence}" if ok else
                    "main build: NOT as expected: " + "; ".join(r.line() for r in others if not r.ok))

    def _pipeline(self, parts: LocalStack, tag: str, build_number: int) -> None:
        """The Jenkinsfile, stage by stage."""
        cfg, svc, scans = self.config, self.service, self.reports / "scans"
        repository = self.target.ecr_repository
        archive = self.workdir / "image.oci.tar"
        self._stage("test", lambda: test.run(test.TestOptions(self.source, self.reports / "test", svc.test_command)))
        for tool in ("sonarqube", "dependency-check"):
            self._stage(tool, lambda tool=tool: scan.run(scan.ScanOptions(
                tool, self.source, scans, options=scan.settings_options(tool, self.settings))))
        builder = "buildkit" if shutil.which("buildctl") or shutil.which("buildctl-daemonless.sh") else "docker"
        self._stage("build", lambda: build.run(build.BuildOptions(
            self.source / svc.context, svc.dockerfile, [f"{parts.primary}/{repository}:{tag}"], archive, builder,
            {"org.opencontainers.image.revision": tag}, parts.client,
            vendor_to=self.workdir / "build-context", wheel_cache=self.workdir / "wheels")))
        self._stage("trivy", lambda: scan.run(trivy_options(self.source, self.reports, archive,
                                                            cfg.trivy_db_repository, self._trivy_cache,
                                                            self.settings)))
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
            started = time.time()
            evidence = EvidenceFiles(sbom=scans / "sbom.cdx.json", verdict=self.reports / "gate" / "verdict.json",
                                     policy=cfg.policy, outcomes=scans)

            def provenance() -> BuildInfo:
                return BuildInfo(builder_id=f"file://{self.workdir}#gantry-demo", repository=f"file://{self.source}",
                                 commit=tag.split("-b")[0], ref=f"refs/heads/{cfg.branch}", service=svc.name,
                                 environment=cfg.environment, build_url=f"file://{self.workdir}/stages.json#{tag}",
                                 started_on=dt.datetime.fromtimestamp(started, dt.timezone.utc),
                                 finished_on=dt.datetime.now(dt.timezone.utc))
            pushed = self._stage("push", lambda: push.run(push.PushOptions(
                parts.primary, repository, [tag], oci_archive=archive, output=self.reports / "image.json",
                sign_key=str(self.signing_key) if self.signing_key else None, evidence=evidence,
                provenance=provenance())))
            digest = str(pushed.data.get("digest", ""))
            if pushed.ok:
                def _replicate() -> StageResult:
                    parts.replicate(repository, digest, [tag])   # ECR's own replication, played locally
                    result = replicate.run(replicate.ReplicateOptions(repository, digest, parts.primary,
                                                                      parts.replicas, timeout=60, out=cfg.out))
                    # the copy in Tokyo (what a failover would pull) verifies too
                    checked = check_before_write(self.catalog, cfg.environment, f"{parts.replica}/{repository}",
                                                 digest, what="replicate")
                    return replace(result, detail=f"{result.detail}; {checked.summary}",
                                   data={**result.data, "evidence": {"registry": checked.registry,
                                                                     "verified": checked.verified}})
                self._stage("replicate", _replicate)
            else:
                self._skip("replicate", "not run: push failed")
            if self._failed_before() or cfg.branch != "main":
                self._skip("bump", "not run: " + ("an earlier stage failed" if self._failed_before()
                                                   else "only main-branch builds deploy"))
            else:
                bare = self.workdir / "gitops.git"
                init_repo(bare, self.catalog, [svc], cfg.environment, parts.primary,
                          writers=Writers.from_settings(self.settings))
                self._stage("bump", lambda: bump.run(bump.BumpOptions(
                    self.catalog, svc.name, cfg.environment, digest, tag, bare.as_uri(),
                    image=f"{parts.primary}/{repository}", build_url=f"file://{self.workdir}/stages.json",
                    mode=None, writers=Writers.from_settings(self.settings),
                    github_token=self.settings.github_token)))
            platform = self.catalog.environments[cfg.environment].platform
            self._skip("deploy", "no ECS here (gantry event deploy rolls the event stack)"
                       if platform == "ecs-fargate" else f"Argo CD syncs {cfg.environment} from the GitOps repo")
        status = "SUCCESS" if all(r.ok for r in self.results) else "FAILURE"
        self._stage("notify", lambda: notify.run(notify.NotifyOptions(svc.name, cfg.environment, status,
                                                                      f"file://{self.workdir}/stages.json",
                                                                      url=self.settings.slack_webhook_url,
                                                                      required=False)))
