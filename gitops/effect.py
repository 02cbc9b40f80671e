"""Verify the effect, not the edit: every manifest edit is rendered and checked before it is kept.

:func:`apply_intents` is the one function through which every manifest edit goes (bump, batch,
promote, pull-request mode; a registry failover can pass references on another registry keeping
the digests). For each :class:`Intent` — *this service in this environment must run exactly this
image reference* — it:

1. refuses (exit 2) when an Argo CD parameter-override file (``.argocd-source-<app>.yaml`` or
   ``.argocd-source.yaml`` in the application's path) sets the service's image: Argo CD applies
   it over the files, so a pin in the manifest would not deploy
   (https://argo-cd.readthedocs.io/en/stable/user-guide/parameters/). gantry does not edit that
   file: it belongs to whoever ran ``argocd app set``; removing the override is their call.
2. kustomize: renders the overlay with ``kubectl kustomize`` before the edit (the tag and digest
   that were actually running come from this render), edits an ``images:`` entry of the service
   — the last one in the chain first, since kustomize applies entries in order, each to the name
   the previous ones produced — renders again and keeps the edit only when every container of the
   service renders exactly the intended reference and no other container changed. When no entry
   does, the file is restored and the bump refused (exit 2) naming the entries tried.
3. Helm: edits the values file, recomputes the image the values give the chart
   (``[registry/]repository``, ``global.imageRegistry`` included) and, when the chart is in the
   GitOps repo, reads its templates (``helm`` is not installable from Debian or PyPI) following
   Helm's chart tree (:mod:`gitops.helmchart`): the templates of the chart that reads the key
   (the parent's for a top-level key, a subchart's — ``charts/*.tgz`` included — for a key under
   its name) must print the key's ``repository`` and ``digest`` (and ``registry`` when gantry
   writes it) into one ``image:`` field, through helpers and variables; otherwise the edit is
   refused (exit 2) — a digest the rendered image ignores is not a pin. A chart not in the
   GitOps repo only produces a warning.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline_lib.core.catalog import Service, ServiceEnvironment
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic

from . import helmchart
from .kustomize import render_kustomize
from .manifest import (ImagePin, describe_entry, helm_pin, kustomize_candidates, kustomize_entries,
                       manifest_file, pin_helm, pin_kustomize)
from .yamlrt import LineDoc

CONTAINER_KEYS = ("containers", "initContainers", "ephemeralContainers")


@dataclass(frozen=True)
class Intent:
    """``service`` in ``env`` must run exactly ``reference`` (``host/repo[:tag]@sha256:…``)."""

    service: Service
    env: ServiceEnvironment
    reference: str

    @property
    def pin(self) -> ImagePin:
        return ImagePin.parse(self.reference)


@dataclass
class Applied:
    """Outcome of one intent: the manifest, what ran before (from the render), whether it changed."""

    intent: Intent
    manifest: str
    running: ImagePin
    changed: bool
    edited: str = ""
    warnings: list[str] = field(default_factory=list)


def app_name(service: Service, environment: str) -> str:
    """The Argo CD Application name gantry generates for a service in an environment."""
    return f"{service.name}-{environment}"


# -- rendering: gitops.kustomize.render_kustomize -----------------------------------------------
def containers(docs: Sequence[dict[str, Any]]) -> dict[str, str]:
    """``Kind/namespace/name:path`` -> image of every container of every rendered resource."""
    out: dict[str, str] = {}

    def walk(node: Any, path: str, res: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in CONTAINER_KEYS and isinstance(value, list):
                    for i, c in enumerate(value):
                        if isinstance(c, dict) and isinstance(c.get("image"), str):
                            out[f"{res}:{path}.{key}[{c.get('name', i)}]"] = c["image"]
                walk(value, f"{path}.{key}", res)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]", res)

    for doc in docs:
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        walk(doc, "", f"{doc.get('kind')}/{meta.get('namespace') or ''}/{meta.get('name')}")
    return out


def _service_names(entries: list[dict], candidates: list[int], intent: Intent) -> set[str]:
    names = {intent.pin.name or "", intent.service.name, intent.env.ecr_repository}
    for i in candidates:
        names.add(str(entries[i].get("name", "")))
        if entries[i].get("newName"):
            names.add(ImagePin.parse(str(entries[i]["newName"])).name or "")
    return names - {""}


def _is_service_image(image: str, names: set[str], repo: str) -> bool:
    name = ImagePin.parse(image).name or ""
    return name in names or name.endswith("/" + repo)


# -- Argo CD parameter overrides ------------------------------------------------------------------
def _override_name(entry: str) -> str:
    old, sep, new = entry.partition("=")
    return old if sep else (ImagePin.parse(entry).name or "")


def check_argocd_overrides(checkout: Path, app_dir: str, intent: Intent, names: set[str]) -> None:
    """Refuse (exit 2) when an Argo CD override file in ``app_dir`` sets the service's image."""
    app = app_name(intent.service, intent.env.name)
    for fname in (f".argocd-source-{app}.yaml", ".argocd-source.yaml"):
        rel = posixpath.join(app_dir, fname) if app_dir not in ("", ".") else fname
        path = checkout / rel
        if not path.is_file():
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise GantryError(rel, f"Argo CD override file is unreadable ({exc.__class__.__name__}); "
                                   "it may set the image: refusing to pin") from None
        hits: list[str] = []
        kust = data.get("kustomize") if isinstance(data, dict) else None
        for entry in (kust.get("images") or []) if isinstance(kust, dict) else []:
            if _override_name(str(entry)) in names or _override_name(str(entry)).endswith(
                    "/" + intent.env.ecr_repository):
                hits.append(f"kustomize.images {entry}")
        helm = data.get("helm") if isinstance(data, dict) else None
        key = intent.env.values_key
        for param in (helm.get("parameters") or []) if isinstance(helm, dict) else []:
            pname = str(param.get("name", "")) if isinstance(param, dict) else ""
            if pname == key or pname.startswith(key + ".") or pname.startswith("global.imageRegistry"):
                hits.append(f"helm.parameters {pname}={param.get('value')}")
        if isinstance(helm, dict) and (helm.get("values") or helm.get("valuesObject")) and intent.env.manifest_format == "helm":
            hits.append("helm.values (inline values may set the image)")
        if hits:
            raise GantryError(rel, f"Argo CD parameter override sets {intent.service.name}'s image ({'; '.join(hits)}): "
                                   f"it overrides whatever the manifest pins, so gantry refuses to pin; remove the "
                                   f"override (argocd app unset {app} …) or this file")


# -- Helm chart templates: gitops.helmchart reads them ----------------------------------------------
def check_chart(checkout: Path, values_rel: str, env: ServiceEnvironment, written: list[str],
                values_text: str | None = None) -> list[str]:
    """Refuse (exit 2) unless an ``image:`` field of the chart that reads ``env.values_key`` prints
    every key gantry writes that names the image (``repository``, ``digest``, ``registry`` when
    written; the whole key for a string image). Returns warnings for what could not be checked.

    The chart is the directory of the values file; a key under a dependency's name (or alias) is
    that subchart's, read by its templates only, ``charts/*.tgz`` included (:mod:`gitops.helmchart`).
    A field printed only under a condition on the edited key (``if .Values.image.useDigest``, the
    ``else`` of ``if .Values.image.sha``) counts when ``values_text`` (the edited values file) over
    the charts' values.yaml makes that condition hold.
    """
    chart_rel = posixpath.dirname(values_rel) or "."
    chart_dir = checkout / chart_rel
    if not (chart_dir / "Chart.yaml").is_file():
        return [f"{chart_rel}: no Chart.yaml beside {posixpath.basename(values_rel)}: the chart is not in the "
                f"GitOps repo, so its templates were not checked for the keys gantry writes"]
    helmchart.check_image_key(helmchart.load_chart(chart_dir, chart_rel), env.values_key, written, values_text,
                              values_rel)
    return []


# -- the one entry point --------------------------------------------------------------------------
def apply_intents(checkout: Path, intents: Sequence[Intent]) -> list[Applied]:
    """Edit, render and check each intent in ``checkout`` (files are written only when they pass).

    Raises :class:`GantryError` (exit 2) when an edit would not take effect; every manifest is
    then left as it was (all intents or none).
    """
    out = []
    originals: dict[Path, bytes] = {}
    try:
        for intent in intents:
            path, _ = manifest_file(checkout, intent.env)
            originals.setdefault(path, path.read_bytes())
            if intent.env.manifest_format == "kustomize":
                out.append(_apply_kustomize(checkout, intent))
            else:
                out.append(_apply_helm(checkout, intent))
    except BaseException:
        for path, data in originals.items():
            if path.read_bytes() != data:
                write_atomic(path, data)
        raise
    return out


def _apply_kustomize(checkout: Path, intent: Intent) -> Applied:
    path, rel = manifest_file(checkout, intent.env)
    original = LineDoc.read(path, rel)
    entries = kustomize_entries(original)
    pin = intent.pin
    candidates = kustomize_candidates(entries, intent.service, intent.env, pin.name or "")
    if not candidates:
        raise GantryError(rel, f"no images: entry for service {intent.service.name} (name "
                               f"{intent.service.name!r} or newName ending in {intent.env.ecr_repository!r})")
    names = _service_names(entries, candidates, intent)
    check_argocd_overrides(checkout, posixpath.dirname(rel), intent, names)
    before = containers(render_kustomize(path.parent, rel))
    mine = [k for k, image in before.items() if _is_service_image(image, names, intent.env.ecr_repository)]
    if not mine:
        raise GantryError(rel, f"the rendered overlay has no container using {intent.service.name}'s image "
                               f"({', '.join(sorted(names))}): cannot check the pin")
    running = ImagePin.parse(before[mine[0]])
    tried = []
    for index in [candidates[-1], *reversed(candidates[:-1])]:
        doc = LineDoc(original.text, rel)
        changed = pin_kustomize(doc, index, pin)
        if changed:
            write_atomic(path, doc.text.encode("utf-8"))
            after = containers(render_kustomize(path.parent, rel))
        else:
            after = before
        ok = (after.keys() == before.keys()
              and all(ImagePin.parse(after[k]).satisfies(pin) for k in mine)
              and all(after[k] == before[k] for k in before if k not in mine))
        if ok:
            return Applied(intent, rel, running, changed, describe_entry(entries, index))
        tried.append(f"{describe_entry(entries, index)} -> renders "
                     f"{', '.join(sorted({after.get(k, 'nothing') for k in mine}))}")
        if changed:
            write_atomic(path, original.text.encode("utf-8"))
    raise GantryError(rel, f"no images: entry makes {intent.service.name} run {intent.reference} (kustomize applies "
                           f"entries in order): {'; '.join(tried)}; fix the entries by hand")


def _apply_helm(checkout: Path, intent: Intent) -> Applied:
    path, rel = manifest_file(checkout, intent.env)
    doc = LineDoc.read(path, rel)
    pin = intent.pin
    names = {pin.name or "", intent.env.ecr_repository}
    check_argocd_overrides(checkout, posixpath.dirname(rel), intent, names)
    running = helm_pin(doc, intent.env)
    changed, written = pin_helm(doc, intent.env, pin)
    effective = helm_pin(doc, intent.env)
    if not effective.satisfies(pin):
        raise GantryError(rel, f"after the edit the values give the chart {effective.reference or 'no image'}, not "
                               f"{intent.reference} (global.imageRegistry or the key layout overrides it); "
                               "refusing to pin")
    warnings = check_chart(checkout, rel, intent.env, written, doc.text)
    if changed:
        write_atomic(path, doc.text.encode("utf-8"))
    return Applied(intent, rel, running, changed, f"{intent.env.values_key} ({', '.join(written)})", warnings)


def running_pin(checkout: Path, service: Service, env: ServiceEnvironment) -> ImagePin:
    """What ``service`` runs in ``env`` according to the GitOps repo (kustomize: the render)."""
    path, rel = manifest_file(checkout, env)
    doc = LineDoc.read(path, rel)
    if env.manifest_format != "kustomize":
        return helm_pin(doc, env)
    entries = kustomize_entries(doc)
    candidates = kustomize_candidates(entries, service, env, "")
    if not candidates:
        raise GantryError(rel, f"no images: entry for service {service.name}")
    intent = Intent(service, env, "")
    names = _service_names(entries, candidates, intent)
    check_argocd_overrides(checkout, posixpath.dirname(rel), intent, names)
    found = [image for image in containers(render_kustomize(path.parent, rel)).values()
             if _is_service_image(image, names, env.ecr_repository)]
    if not found:
        raise GantryError(rel, f"the rendered overlay has no container using {service.name}'s image")
    if len(set(found)) > 1:
        raise GantryError(rel, f"{service.name}'s containers render different images: {', '.join(sorted(set(found)))}")
    return ImagePin.parse(found[0])
