"""Scaffold (or upgrade) a GitOps repository from the catalog, never overwriting a person's edit.

What is written (a *plan*: repository path -> text):

- per service × kustomize environment: ``<manifest_path>/base/`` and ``overlays/<env>/``
  (:mod:`gitops.workloads`);
- per Helm environment: the values file (``manifest``) that ``gantry gitops bump`` pins; on a
  Kubernetes platform also a chart (``Chart.yaml``, ``templates/deployment.yaml``). An
  ``ecs-fargate`` environment gets the values file only: Terraform and ``gantry event deploy``
  read its pins, nothing renders it for Kubernetes;
- per ``eks`` environment with ``zones`` and ``cluster_name``: ``platform/<env>/``
  (:mod:`gitops.platform`);
- whatever the generators named in :data:`GENERATORS` return (the extension point: monitoring
  rules and dashboards come in this way).

How an existing repository is upgraded follows dpkg's conffile rule: a missing file is added; a
file whose bytes are still those gantry last wrote (sha256 recorded in :data:`RECORD`) is
updated; a file a person changed (or gantry never recorded) is *kept* and reported. A
``kustomization.yaml`` is merged instead: entries missing from ``resources:`` and ``patches:``
are appended, nothing else is touched (so the pins ``gantry gitops bump`` wrote stay).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_lib.core.catalog import Catalog, Service, ServiceEnvironment
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic

from . import platform, workloads
from .git import git, out, transact
from .hostlock import Writers

PORT = workloads.PORT
RECORD = ".gantry/layout.json"
README = ("# GitOps repository\n\nManaged by gantry: one directory per service (kustomize base + "
          "overlays, or Helm values) and platform/<env>/ (Argo CD app-of-apps). Argo CD syncs it.\n"
          "`gantry gitops init` adds what a newer gantry generates; `gantry gitops check` validates it.\n")


@dataclass(frozen=True)
class LayoutFile:
    """One file of the plan. ``include_in``: a kustomization directory whose ``resources:`` must
    list this file (a generator's extra resource joins a service's base this way)."""

    path: str
    text: str
    include_in: str | None = None


@dataclass(frozen=True)
class LayoutContext:
    """What a generator sees: the catalog, the services and environments being scaffolded."""

    catalog: Catalog
    services: tuple[Service, ...]
    environments: tuple[str, ...]
    registry_host: str


Generator = Callable[[LayoutContext], Iterable[LayoutFile]]

# Extra generators, "module:function" (imported when a layout is planned, so gitops/monitoring
# can register without an import cycle). Each returns LayoutFile objects.
GENERATORS: list[str] = ["gitops.monitoring.hooks:layout_files", "gitops.kyverno:layout_files"]


def register_generator(spec: str) -> None:
    """Add ``"package.module:function"`` to :data:`GENERATORS` (idempotent)."""
    if spec not in GENERATORS:
        GENERATORS.append(spec)


def _load(spec: str) -> Generator:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class LayoutReport:
    """What :func:`apply_layout` did, by repository path."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    diffs: dict[str, str] = field(default_factory=dict)
    merge_added: dict[str, list[str]] = field(default_factory=dict)

    @property
    def written(self) -> list[str]:
        return sorted(self.added + self.updated + self.merged)

    def as_dict(self) -> dict[str, object]:
        return {"added": self.added, "updated": self.updated, "merged": {p: self.merge_added.get(p, []) for p in self.merged},
                "unchanged": len(self.unchanged), "kept": self.kept, "notes": self.notes}


# --- the plan ---

def _helm_values(svc: Service, env: ServiceEnvironment, image: str, domain: str) -> str:
    lines = [f"# {svc.name} in {env.name}: Helm values; gantry gitops bump pins the image by digest."]
    indent = ""
    for key in env.values_key.split("."):
        lines.append(f"{indent}{key}:")
        indent += "  "
    lines += [f"{indent}repository: {image}", f'{indent}tag: ""', f'{indent}digest: ""',
              f"replicaCount: {env.replicas_min}",
              "autoscaling:", f"  minReplicas: {env.replicas_min}", f"  maxReplicas: {env.replicas_max}",
              f"domain: {env.domain or domain}", ""]
    return "\n".join(lines)


def _helm_chart(svc: Service, env: ServiceEnvironment) -> dict[str, str]:
    v = ".Values." + env.values_key
    ref = ('{{ ' + v + '.repository }}{{ if ' + v + '.tag }}:{{ ' + v + '.tag }}{{ end }}'
           '{{ if ' + v + '.digest }}@{{ ' + v + '.digest }}{{ end }}')
    chart_dir = posixpath.dirname(env.manifest)
    return {posixpath.join(chart_dir, "Chart.yaml"): f"apiVersion: v2\nname: {svc.name}\nversion: 0.1.0\ntype: application\n",
            posixpath.join(chart_dir, "templates", "deployment.yaml"):
                workloads.dump_docs([workloads.deployment(svc, ref)])}


def plan(ctx: LayoutContext) -> tuple[dict[str, LayoutFile], list[str]]:
    """Every file of the layout (path -> file) and notes on what was left out and why."""
    files: dict[str, LayoutFile] = {}
    notes: list[str] = []

    def add(path: str, text: str, include_in: str | None = None) -> None:
        files.setdefault(path, LayoutFile(path, text, include_in))

    catalog = ctx.catalog
    for svc in ctx.services:
        for env_name in ctx.environments:
            se = svc.environments.get(env_name)
            if se is None:
                continue
            environment = catalog.environments[env_name]
            image = f"{ctx.registry_host}/{se.ecr_repository}"
            if se.manifest_format == "kustomize":
                for path, text in workloads.workload_files(svc, se, environment, image).items():
                    add(path, text)
            else:
                add(se.manifest, _helm_values(svc, se, image, environment.domain))
                if environment.platform != "ecs-fargate":
                    for path, text in _helm_chart(svc, se).items():
                        add(path, text)
    for env_name in ctx.environments:
        environment = catalog.environments[env_name]
        if environment.platform != "eks":
            continue
        if not (environment.cluster_name and environment.zones):
            notes.append(f"platform/{env_name}: not generated (set environments.{env_name}.cluster_name and "
                         "zones in the catalog)")
            continue
        for path, text in platform.platform_files(catalog, env_name).items():
            add(path, text)
    for spec in GENERATORS:
        for extra in _load(spec)(ctx):
            add(extra.path, extra.text, extra.include_in)
    _include_extras(files)
    return files, notes


def _include_extras(files: dict[str, LayoutFile]) -> None:
    """List each ``include_in`` file in its planned kustomization's ``resources:``."""
    import yaml
    for f in list(files.values()):
        if f.include_in is None:
            continue
        kpath = posixpath.join(f.include_in, "kustomization.yaml")
        kfile = files.get(kpath)
        if kfile is None:
            continue
        data = yaml.safe_load(kfile.text)
        rel = posixpath.relpath(f.path, f.include_in)
        if rel not in data.setdefault("resources", []):
            data["resources"].append(rel)
            files[kpath] = LayoutFile(kpath, workloads.dump_docs([data]), kfile.include_in)


# --- applying it to a checkout ---

def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _legacy_texts(svc: Service) -> set[str]:
    """What gantry before the production traits wrote for this service's base (recognised as
    untouched, so it is updated rather than reported)."""
    texts = set()
    for se in svc.environments.values():
        texts.add(f"""\
# {svc.name}: the Deployment every environment overlays (image pinned by the overlay)
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {svc.name}
  labels:
    app.kubernetes.io/name: {svc.name}
spec:
  replicas: {se.replicas_min}
  selector:
    matchLabels:
      app.kubernetes.io/name: {svc.name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {svc.name}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
      containers:
        - name: {svc.name}
          image: {svc.name}  # replaced by the overlay's images: entry
          ports:
            - containerPort: {PORT}
              name: http
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
""")
    texts.add(f"""\
apiVersion: v1
kind: Service
metadata:
  name: {svc.name}
spec:
  selector:
    app.kubernetes.io/name: {svc.name}
  ports:
    - name: http
      port: 80
      targetPort: http
""")
    return {_sha(t) for t in texts}


def _merge_kustomization(path: Path, rel: str, planned: str) -> tuple[str | None, list[str]]:
    """Append the planned ``resources:``/``patches:`` entries the file lacks; (new text, added)."""
    import yaml

    from .yamldoc import RoundTrip
    doc = RoundTrip.read(path, rel)
    if not isinstance(doc.data, dict):
        return None, []
    want = yaml.safe_load(planned) or {}
    added: list[str] = []
    for key in ("resources", "patches"):
        entries = want.get(key) or []
        if not entries:
            continue
        have = doc.data.get(key)
        if have is None:
            from ruamel.yaml.comments import CommentedSeq
            have = doc.data[key] = CommentedSeq()
        if not isinstance(have, list):
            return None, []
        for entry in entries:
            ident = entry.get("path") if isinstance(entry, dict) else entry
            present = any((h.get("path") if isinstance(h, dict) else h) == ident for h in have)
            if not present:
                have.append(entry)
                added.append(str(ident))
    return (doc.dump(), added) if added else (None, [])


def apply_layout(root: Path, files: dict[str, LayoutFile], services: Iterable[Service] = (),
                 *, write: bool = True, record: bool = True) -> LayoutReport:
    """Bring checkout ``root`` up to the plan ``files`` (dpkg conffile rule; see the module doc)."""
    report = LayoutReport()
    record_path = root / RECORD
    try:
        recorded: dict[str, str] = json.loads(record_path.read_text()).get("files", {}) if record_path.is_file() else {}
    except (OSError, ValueError, AttributeError):
        recorded = {}
    legacy = set().union(*(_legacy_texts(s) for s in services)) if services else set()
    new_record = dict(recorded)
    for rel in sorted(files):
        text = files[rel].text
        path = root / rel
        if not path.exists():
            if write:
                write_atomic(path, text)
            report.added.append(rel)
            new_record[rel] = _sha(text)
            continue
        current = path.read_text(encoding="utf-8", errors="replace")
        if current == text:
            report.unchanged.append(rel)
            new_record[rel] = _sha(text)
            continue
        if posixpath.basename(rel) == "kustomization.yaml":
            merged, added = _merge_kustomization(path, rel, text)
            if merged is not None:
                if write:
                    write_atomic(path, merged)
                report.merged.append(rel)
                report.merge_added[rel] = added
            else:
                report.unchanged.append(rel)
            continue
        sha = _sha(current)
        if recorded.get(rel) == sha or sha in legacy:
            if write:
                write_atomic(path, text)
            report.updated.append(rel)
            new_record[rel] = _sha(text)
            continue
        report.kept.append(rel)
        import difflib
        report.diffs[rel] = "".join(difflib.unified_diff(
            current.splitlines(keepends=True), text.splitlines(keepends=True), f"a/{rel}", f"b/{rel} (gantry)"))
    if write and record and new_record != recorded:
        write_atomic(record_path, json.dumps({"version": 1, "files": new_record}, indent=2, sort_keys=True) + "\n")
    return report


def scaffold_report(root: Path, catalog: Catalog, services: list[Service], environments: list[str],
                    registry_host: str, *, write: bool = True) -> LayoutReport:
    """Plan the layout for ``services`` × ``environments`` and apply it to checkout ``root``."""
    ctx = LayoutContext(catalog, tuple(services), tuple(environments), registry_host)
    files, notes = plan(ctx)
    report = apply_layout(root, files, services, write=write)
    report.notes.extend(notes)
    return report


def scaffold(root: Path, catalog: Catalog, services: list[Service], environments: list[str],
             registry_host: str) -> list[str]:
    """Write the layout under ``root``; return the repository paths written (record included)."""
    report = scaffold_report(root, catalog, services, environments, registry_host)
    return report.written + ([RECORD] if report.written else [])


@dataclass
class InitResult:
    """``created``: the repository was new; ``report``: what changed; ``commit``: pushed or None."""

    created: bool
    report: LayoutReport
    commit: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.report.written)

    def __bool__(self) -> bool:
        return self.created or self.changed


def init_repo(bare: Path, catalog: Catalog, services: list[Service], environment: str,
              registry_host: str, *, dry_run: bool = False, writers: Writers | None = None) -> InitResult:
    """Create ``bare`` with the layout on ``main``, or add to an existing repository what its
    layout lacks (kept files reported, never overwritten). ``dry_run``: report, change nothing.
    ``writers``: this host's writer lock (:class:`gitops.hostlock.Writers`)."""
    bare = Path(bare)
    for svc in services:
        svc.environment(environment)
    exists = False
    if bare.exists():
        if not (bare / "HEAD").is_file():
            if any(bare.iterdir()):
                raise GantryError(str(bare), "exists and is not a bare git repository")
        elif git(bare, "for-each-ref", "--count=1", "refs/heads").stdout.strip():
            exists = True
    if exists:
        return _upgrade(bare, catalog, services, environment, registry_host, dry_run, writers)
    if dry_run:
        tmp = Path(tempfile.mkdtemp(prefix="gantry-gitops-init-"))
        try:
            return InitResult(True, scaffold_report(tmp, catalog, services, [environment], registry_host))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if not (bare / "HEAD").is_file():
        bare.parent.mkdir(parents=True, exist_ok=True)
        git(None, "init", "--bare", "-q", "-b", catalog.gitops_branch, str(bare))
    tmp = Path(tempfile.mkdtemp(prefix="gantry-gitops-init-"))
    try:
        work = tmp / "repo"
        git(None, "init", "-q", "-b", catalog.gitops_branch, str(work))
        report = scaffold_report(work, catalog, services, [environment], registry_host)
        write_atomic(work / "README.md", README)
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", f"gantry: initial layout for {environment}")
        proc = git(work, "push", "-q", str(bare.resolve()), f"HEAD:refs/heads/{catalog.gitops_branch}", check=False)
        if proc.returncode != 0:
            if out(bare, "for-each-ref", "--count=1", "refs/heads"):
                # someone else initialised it first: upgrade theirs instead
                return _upgrade(bare, catalog, services, environment, registry_host, dry_run, writers)
            raise GantryError("git", f"cannot push initial layout to {bare}: {proc.stderr.strip()[-200:]}")
        return InitResult(True, report, out(work, "rev-parse", "HEAD"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _upgrade(bare: Path, catalog: Catalog, services: list[Service], environment: str,
             registry_host: str, dry_run: bool, writers: Writers | None = None) -> InitResult:
    box: dict[str, LayoutReport] = {}

    def change(wd: Path):
        report = scaffold_report(wd, catalog, services, [environment], registry_host, write=not dry_run)
        box["report"] = report
        if dry_run or not report.written:
            return None
        return (f"gantry: layout for {environment}: {len(report.added)} added, {len(report.updated)} updated, "
                f"{len(report.merged)} merged", report.written + [RECORD], None)

    txn = transact(bare.resolve().as_uri(), change, branch=catalog.gitops_branch, writers=writers)
    return InitResult(False, box["report"], txn.commit)
