"""``gantry gitops check``: render every kustomization of a GitOps checkout and check what comes out.

Rendering: ``kubectl kustomize`` of every *root* kustomization (one no other kustomization lists
in ``resources:``: each overlay, ``platform/<env>/apps``, ``platform/<env>/karpenter``), plus
``platform/<env>/root.yaml`` (the app-of-apps, applied by hand) as it is.

Checks (a registry, :data:`CHECKS`; each takes a :class:`CheckContext`, returns
:class:`Problem` s — more can be added with :func:`register_check`):

- **schema**: built-in kinds against the Kubernetes API schemas shipped by the
  ``kubernetes-validate`` package (strict: unknown fields are errors, as ``kubectl apply
  --validate=strict`` makes them); custom resources against the ``openAPIV3Schema`` of the CRDs
  packaged in ``gitops/crds/`` (Argo CD, Karpenter, prometheus-operator, AWS Load Balancer
  Controller) with jsonschema, unknown fields refused likewise; a kind with no schema is a problem
  (fail closed);
- **hpa-cpu-requests**: an HPA scaling on CPU utilisation needs a CPU request on every container
  of its target (utilisation is a percentage of the request; without one the HPA reports
  ``FailedGetResourceMetric`` and never scales);
- **zone-spread**: every Deployment spreads over ``topology.kubernetes.io/zone``
  (``topologySpreadConstraints``), so losing one availability zone does not take all replicas.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.yamlload import tabs_as_spaces

from .kustomize import render_kustomize

KUBERNETES_VERSION = "1.31"  # infra/modules/eks variable kubernetes_version
RENDER_TIMEOUT = 120.0
ZONE_KEY = "topology.kubernetes.io/zone"
_KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class Problem:
    """One finding: where (the rendered kustomization and the source file), what, which field."""

    target: str
    kind: str
    name: str
    field: str
    message: str
    source: str | None = None
    check: str = ""

    def line(self) -> str:
        where = self.target + (f" ({self.source})" if self.source and self.source != self.target else "")
        return f"{where}: {self.kind}/{self.name}: {self.field}: {self.message}"


@dataclass
class Rendered:
    """One root kustomization and the documents ``kubectl kustomize`` produced for it."""

    target: str
    docs: list[dict[str, Any]]


@dataclass
class CheckContext:
    """What every check sees: the checkout, its rendered roots and where each object came from."""

    repo: Path
    rendered: list[Rendered]
    sources: dict[tuple[str, str], str] = field(default_factory=dict)
    kubernetes_version: str = KUBERNETES_VERSION

    def source(self, doc: dict[str, Any]) -> str | None:
        return self.sources.get((str(doc.get("kind")), str((doc.get("metadata") or {}).get("name"))))


Check = Callable[[CheckContext], Iterable[Problem]]
CHECKS: dict[str, Check] = {}
# Modules imported before the checks run, so they can register theirs (e.g. promtool/amtool
# checks of gitops/monitoring) without this module importing them at load time.
CHECK_MODULES: list[str] = ["gitops.monitoring.hooks"]


def register_check(name: str, check: Check | None = None):
    """Add a check under ``name`` (usable as a decorator). Later registrations replace earlier."""
    def deco(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn
    return deco(check) if check is not None else deco


# --- rendering ---

def _kustomization_dirs(repo: Path) -> list[Path]:
    dirs = set()
    for name in _KUSTOMIZATIONS:
        for p in repo.rglob(name):
            if ".git" not in p.relative_to(repo).parts:
                dirs.add(p.parent)
    return sorted(dirs)


def root_kustomizations(repo: Path, environments: Iterable[str] = ()) -> list[str]:
    """Repository-relative directories of the kustomizations no other one includes; with
    ``environments``, only overlays ``…/overlays/<env>`` and ``platform/<env>/…`` of those."""
    dirs = _kustomization_dirs(repo)
    referenced: set[Path] = set()
    for d in dirs:
        kfile = next(d / n for n in _KUSTOMIZATIONS if (d / n).is_file())
        try:
            data = yaml.safe_load(tabs_as_spaces(kfile.read_text(), str(kfile))) or {}
        except (yaml.YAMLError, GantryError):
            continue
        for key in ("resources", "components", "bases"):
            for entry in data.get(key) or []:
                if isinstance(entry, str) and (d / entry).is_dir():
                    referenced.add((d / entry).resolve())
    roots = [d.relative_to(repo).as_posix() for d in dirs if d.resolve() not in referenced]
    envs = set(environments)
    if envs:
        roots = [r for r in roots if _environment_of(r) in envs]
    return roots


def _environment_of(rel: str) -> str | None:
    parts = rel.split("/")
    if "overlays" in parts and parts.index("overlays") + 1 < len(parts):
        return parts[parts.index("overlays") + 1]
    if parts[0] == "platform" and len(parts) > 1:
        return parts[1]
    return None


def render(repo: Path, target: str, timeout: float = RENDER_TIMEOUT) -> list[dict[str, Any]]:
    """``kubectl kustomize <target>`` (relative to ``repo``) as a list of documents; a failed
    render is a problem found (GantryError, exit 1)."""
    return render_kustomize(repo / target, target, failure_exit=1, timeout=timeout)


def _sources(repo: Path) -> dict[tuple[str, str], str]:
    """(kind, name) -> the base file that defines it (patches in overlays are not definitions)."""
    found: dict[tuple[str, str], str] = {}
    for d in _kustomization_dirs(repo):
        kfile = next(d / n for n in _KUSTOMIZATIONS if (d / n).is_file())
        try:
            data = yaml.safe_load(tabs_as_spaces(kfile.read_text(), str(kfile))) or {}
        except (yaml.YAMLError, GantryError):
            continue
        for entry in data.get("resources") or []:
            path = d / entry if isinstance(entry, str) else None
            if path is None or not path.is_file():
                continue
            try:
                for doc in yaml.safe_load_all(path.read_text()):
                    if isinstance(doc, dict):
                        key = (str(doc.get("kind")), str((doc.get("metadata") or {}).get("name")))
                        found.setdefault(key, path.relative_to(repo).as_posix())
            except yaml.YAMLError:
                continue
    return found


def context(repo: Path, environments: Iterable[str] = (),
            kubernetes_version: str = KUBERNETES_VERSION) -> CheckContext:
    """Render every root kustomization of ``repo`` (GantryError, exit 2, when there is none)."""
    repo = Path(repo)
    if not repo.is_dir():
        raise GantryError(str(repo), "not a directory (pass a checkout of the GitOps repository)")
    roots = root_kustomizations(repo, environments)
    if not roots:
        envs = ", ".join(environments)
        raise GantryError(str(repo), "no kustomization to check" + (f" for {envs}" if envs else ""))
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=min(4, len(roots))) as pool:  # kubectl start-up dominates
        outputs = list(pool.map(lambda t: render(repo, t), roots))
    rendered = [Rendered(t, docs) for t, docs in zip(roots, outputs)]
    # the app-of-apps root is applied by hand (kubectl apply -f), not through a kustomization
    for root_app in sorted(repo.glob("platform/*/root.yaml")):
        rel = root_app.relative_to(repo).as_posix()
        if not environments or _environment_of(rel) in set(environments):
            try:
                docs = [d for d in yaml.safe_load_all(root_app.read_text()) if isinstance(d, dict)]
            except yaml.YAMLError as exc:
                raise GantryError(rel, f"invalid YAML: {exc}", exit_code=1) from None
            rendered.append(Rendered(rel, docs))
    return CheckContext(repo, rendered, _sources(repo), kubernetes_version)


def run_checks(ctx: CheckContext, names: Iterable[str] | None = None) -> list[Problem]:
    """Every registered check's problems (each tagged with its check's name)."""
    import importlib
    for module in CHECK_MODULES:
        importlib.import_module(module)
    problems: list[Problem] = []
    for name, check in CHECKS.items():
        if names is not None and name not in names:
            continue
        for p in check(ctx):
            problems.append(p if p.check else Problem(**{**p.__dict__, "check": name}))
    return problems


# --- schema check ---

def _crd_files() -> list[Any]:
    return sorted((p for p in resources.files("gitops").joinpath("crds").iterdir() if p.name.endswith(".yaml")),
                  key=lambda p: p.name)


@functools.lru_cache(maxsize=1)
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """``(apiVersion, kind)`` -> the CRD's ``openAPIV3Schema``, from the packaged CRDs."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for f in _crd_files():
        for crd in yaml.load_all(f.read_text(), Loader=loader):
            if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"].get("versions", []):
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if schema:
                    out[(f"{group}/{version['name']}", kind)] = schema
    return out


def _closed(schema: Any) -> Any:
    """A copy where every object with ``properties`` refuses unknown fields (as the API server
    does for structural schemas with strict field validation), except where the CRD preserves them."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@functools.lru_cache(maxsize=None)
def _crd_validator(api_version: str, kind: str):
    import jsonschema
    schema = crd_schemas().get((api_version, kind))
    if schema is None:
        return None
    schema = copy.deepcopy(schema)
    props = schema.setdefault("properties", {})
    for key in ("apiVersion", "kind"):
        props.setdefault(key, {"type": "string"})
    props.setdefault("metadata", {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    return jsonschema.Draft7Validator(_closed(schema))


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


def _schema_message(message: str) -> str:
    return " ".join(message.split())[:300]


@functools.lru_cache(maxsize=4)
def _k8s_registry(schema_dir: str):
    """The ``_definitions.json`` of one kubernetes-validate schema directory, as a registry."""
    from kubernetes_validate.utils import schema_contents
    from referencing import Registry, Resource
    return Resource.from_contents(schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json",
                                                  schema_dir)) @ Registry()


@functools.lru_cache(maxsize=None)
def _k8s_validator(api_version: str, kind: str, kubernetes_version: str):
    """kubernetes-validate's strict schema for ``kind`` (its file layout and version choice, as
    ``kubernetes_validate.validate`` resolves them), compiled once; None when there is none."""
    import re

    import jsonschema
    from kubernetes_validate.utils import all_versions, major_minor, schema_contents
    from referencing import Resource
    wanted = major_minor(kubernetes_version.lstrip("v"))
    versions = [v for v in all_versions() if major_minor(v) <= wanted]
    if not versions:
        raise GantryError("gitops check", f"Kubernetes {kubernetes_version} is older than any schema "
                                          "kubernetes-validate ships")
    schema_dir = f"v{versions[-1]}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group}.json", wanted)
    except FileNotFoundError:
        return None
    registry = Resource.from_contents(schema) @ _k8s_registry(schema_dir)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_doc(doc: dict[str, Any], kubernetes_version: str = KUBERNETES_VERSION) -> list[tuple[str, str]]:
    """Schema problems of one object as ``(field path, message)``; [] when it is valid."""
    api_version, kind = str(doc.get("apiVersion")), str(doc.get("kind"))
    validator = _crd_validator(api_version, kind) or _k8s_validator(api_version, kind, kubernetes_version)
    if validator is None:
        return [("apiVersion", f"no schema for {api_version} {kind} (not a Kubernetes {kubernetes_version} "
                               "kind and no packaged CRD)")]
    errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    return [(_path(e.absolute_path), _schema_message(e.message)) for e in errors]


@register_check("schema")
def check_schema(ctx: CheckContext) -> Iterable[Problem]:
    for r in ctx.rendered:
        for doc in r.docs:
            name = str((doc.get("metadata") or {}).get("name"))
            for path, message in validate_doc(doc, ctx.kubernetes_version):
                yield Problem(r.target, str(doc.get("kind")), name, path, message, ctx.source(doc))


# --- semantic checks ---

def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c for c in spec.get("containers") or [] if isinstance(c, dict)]


def _cpu_metric(hpa: dict[str, Any]) -> bool:
    for m in (hpa.get("spec") or {}).get("metrics") or []:
        if m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu":
            return True
        if m.get("type") == "ContainerResource" and (m.get("containerResource") or {}).get("name") == "cpu":
            return True
    return False


@register_check("hpa-cpu-requests")
def check_hpa_cpu_requests(ctx: CheckContext) -> Iterable[Problem]:
    for r in ctx.rendered:
        workloads = {(d.get("kind"), (d.get("metadata") or {}).get("namespace"), (d.get("metadata") or {}).get("name")): d
                     for d in r.docs}
        for hpa in (d for d in r.docs if d.get("kind") == "HorizontalPodAutoscaler"):
            if not _cpu_metric(hpa):
                continue
            meta = hpa.get("metadata") or {}
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            target = workloads.get((ref.get("kind"), meta.get("namespace"), ref.get("name")))
            if target is None:
                yield Problem(r.target, "HorizontalPodAutoscaler", str(meta.get("name")), "spec.scaleTargetRef",
                              f"target {ref.get('kind')}/{ref.get('name')} is not in this kustomization",
                              ctx.source(hpa))
                continue
            for c in _containers(target):
                if not ((c.get("resources") or {}).get("requests") or {}).get("cpu"):
                    yield Problem(r.target, "HorizontalPodAutoscaler", str(meta.get("name")), "spec.metrics",
                                  f"scales {ref.get('kind')}/{ref.get('name')} on CPU utilisation but its "
                                  f"container {c.get('name')} has no resources.requests.cpu "
                                  "(utilisation is a percentage of the request; the HPA cannot scale)",
                                  ctx.source(target))


@register_check("zone-spread")
def check_zone_spread(ctx: CheckContext) -> Iterable[Problem]:
    for r in ctx.rendered:
        for d in r.docs:
            if d.get("kind") != "Deployment":
                continue
            spec = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
            keys = {c.get("topologyKey") for c in spec.get("topologySpreadConstraints") or [] if isinstance(c, dict)}
            if ZONE_KEY not in keys:
                yield Problem(r.target, "Deployment", str((d.get("metadata") or {}).get("name")),
                              "spec.template.spec.topologySpreadConstraints",
                              f"no spread across {ZONE_KEY}: one availability zone's loss can take every replica",
                              ctx.source(d))


def check_repo(repo: Path, environments: Iterable[str] = (),
               kubernetes_version: str = KUBERNETES_VERSION) -> tuple[CheckContext, list[Problem]]:
    """Render and check ``repo``; the problems (empty: all good)."""
    ctx = context(repo, environments, kubernetes_version)
    return ctx, run_checks(ctx)


def summary(ctx: CheckContext) -> dict[str, int]:
    """Rendered roots and objects (for the success line)."""
    return {"kustomizations": len(ctx.rendered), "objects": sum(len(r.docs) for r in ctx.rendered)}


