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
   :func:`apply_each` does this for a batch of intents: each affected overlay is rendered once
   before and once after all of its edits (:func:`gitops.kustomize.render_many`); an overlay whose
   edits do not all check out is put back and re-done one intent at a time as above.
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
from .kustomize import Prerender, RenderStats, render_many  # noqa: I001 (a line of its own: the Helm part above merges cleanly)

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
def apply_intents(checkout: Path, intents: Sequence[Intent], *, stats: RenderStats | None = None) -> list[Applied]:
    """Edit, render and check each intent in ``checkout`` (files are written only when they pass).

    Raises :class:`GantryError` (exit 2) when an edit would not take effect; every manifest is
    then left as it was (all intents or none). The renders are batched as in :func:`apply_each`.
    """
    originals: dict[Path, bytes] = {}
    for intent in intents:
        try:
            path, _ = manifest_file(checkout, intent.env)
        except GantryError:
            continue
        originals.setdefault(path, path.read_bytes())
    try:
        out = apply_each(checkout, intents, stats=stats)
        for outcome in out:
            if isinstance(outcome, BaseException):
                raise outcome
    except BaseException:
        for path, data in originals.items():
            if path.read_bytes() != data:
                write_atomic(path, data)
        raise
    return [a for a in out if isinstance(a, Applied)]


@dataclass
class _Prep:
    """A kustomize intent before its overlay is rendered: the entries that can act on its image."""

    intent: Intent
    path: Path
    rel: str
    doc: LineDoc
    entries: list[dict]
    candidates: list[int]
    names: set[str]
    mine: list[str] = field(default_factory=list)
    running: ImagePin = field(default_factory=lambda: ImagePin(None, None, None))
    changed: bool = False


def _prepare(checkout: Path, intent: Intent) -> _Prep:
    path, rel = manifest_file(checkout, intent.env)
    doc = LineDoc.read(path, rel)
    entries = kustomize_entries(doc)
    candidates = kustomize_candidates(entries, intent.service, intent.env, intent.pin.name or "")
    if not candidates:
        raise GantryError(rel, f"no images: entry for service {intent.service.name} (name "
                               f"{intent.service.name!r} or newName ending in {intent.env.ecr_repository!r})")
    names = _service_names(entries, candidates, intent)
    check_argocd_overrides(checkout, posixpath.dirname(rel), intent, names)
    return _Prep(intent, path, rel, doc, entries, candidates, names)


def _find_mine(prep: _Prep, before: dict[str, str]) -> None:
    prep.mine = [k for k, image in before.items()
                 if _is_service_image(image, prep.names, prep.intent.env.ecr_repository)]
    if not prep.mine:
        raise GantryError(prep.rel, f"the rendered overlay has no container using {prep.intent.service.name}'s "
                                    f"image ({', '.join(sorted(prep.names))}): cannot check the pin")
    prep.running = ImagePin.parse(before[prep.mine[0]])


def _guarded(path: Path | None, fn: Any) -> Applied | GantryError:
    """``fn()`` (a function of no argument returning an :class:`Applied`), or the GantryError it
    raised with ``path`` restored to what it held before."""
    data = path.read_bytes() if path is not None and path.is_file() else None
    try:
        return fn()
    except GantryError as exc:
        if path is not None and data is not None and path.read_bytes() != data:
            write_atomic(path, data)
        return exc


def _pin_all(group: list[_Prep], doc: LineDoc | None = None) -> str:
    """The text of the group's manifest with every prep's pin set on the entry kustomize applies
    last (see :func:`_apply_kustomize`); ``doc``: start from it instead of the first prep's."""
    doc = doc or group[0].doc
    for prep in group:
        prep.changed = pin_kustomize(doc, prep.candidates[-1], prep.intent.pin)
    return doc.text


def _try_pin_all(group: list[_Prep], doc: LineDoc | None = None) -> str | None:
    """:func:`_pin_all`, or None when an edit cannot be made (each is then tried on its own)."""
    try:
        return _pin_all(group, doc)
    except GantryError:
        return None


def apply_each(checkout: Path, intents: Sequence[Intent], *, stats: RenderStats | None = None,
               ahead: Prerender | None = None, key: str | None = None) -> list[Applied | GantryError]:
    """Edit, render and check every intent on its own: in ``intents`` order, its :class:`Applied`,
    or the :class:`GantryError` a lone :func:`apply_intents` of it raises (its manifest then left
    as it was; the other intents are not held back).

    Kustomize intents are grouped by overlay: every affected overlay is rendered once before and
    once after all of its edits, the overlays of the batch together (:func:`render_many`: one
    kubectl call, per-overlay parallel renders when that fails). An overlay whose edits do not
    all check out is put back and re-done one intent at a time with every candidate entry
    (:func:`_apply_kustomize`), which finds the refused edit and gives its lone-edit error. So
    an edit is kept only when a real render shows it: this reads nothing but kustomize's output.
    ``ahead``: overlays rendered ahead at commit ``key`` (:class:`gitops.kustomize.Prerender`),
    used for the renders before the edits when ``checkout`` is at ``key``, unedited.
    """
    results: list[Applied | GantryError | None] = [None] * len(intents)
    located: list[tuple[int, Path]] = []
    for i, intent in enumerate(intents):
        try:
            located.append((i, manifest_file(checkout, intent.env)[0]))
        except GantryError as exc:
            results[i] = exc
    kustomize = [(i, path) for i, path in located if intents[i].env.manifest_format == "kustomize"]
    targets = render_targets(checkout, [intents[i].env for i, _ in kustomize])   # as a Prerender keys them
    # the overlays render as they are now (nothing is written until this is done) while the
    # manifests are parsed and the edits worked out in memory
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=1) as pool:
        rendering = pool.submit(_render_before, targets, stats, ahead, key)
        groups: dict[Path, list[_Prep]] = {}
        index: dict[int, int] = {}
        for i, _ in kustomize:
            try:
                prep = _prepare(checkout, intents[i])
            except GantryError as exc:
                results[i] = exc
                continue
            index[id(prep)] = i
            groups.setdefault(prep.path, []).append(prep)
        originals = {path: live[0].doc.text for path, live in groups.items()}
        planned = {path: _try_pin_all(live) for path, live in groups.items()}
        befores = dict(zip(targets, rendering.result()))
    for i, path in located:
        if intents[i].env.manifest_format != "kustomize":
            results[i] = _guarded(path, lambda intent=intents[i]: _apply_helm(checkout, intent))  # type: ignore[misc]

    edited: list[tuple[Path, list[_Prep], dict[str, str], str, str | None]] = []
    for path, group in groups.items():
        before_docs = befores[(path.parent, group[0].rel)]
        if isinstance(before_docs, GantryError):
            for prep in group:
                results[index[id(prep)]] = before_docs
            continue
        before = containers(before_docs)
        live = []
        for prep in group:
            try:
                _find_mine(prep, before)
                live.append(prep)
            except GantryError as exc:
                results[index[id(prep)]] = exc
        if not live:
            continue
        original = originals[path]
        new = planned[path] if len(live) == len(group) else _try_pin_all(live, LineDoc(original, live[0].rel))
        if new is not None and new != original:
            write_atomic(path, new.encode("utf-8"))
        edited.append((path, live, before, original, new))  # new None: an edit failed, see below

    to_render = [(path, live[0].rel) for path, live, _, text, new in edited if new is not None and new != text]
    afters = dict(zip([p for p, _ in to_render], render_many([(p.parent, rel) for p, rel in to_render], stats=stats)))
    for path, live, before, text, new in edited:
        after_docs = afters.get(path)
        after = (None if new is None or isinstance(after_docs, GantryError) else
                 before if new == text else containers(after_docs))
        everyone = {k for prep in live for k in prep.mine}
        ok = (after is not None and after.keys() == before.keys()
              and all(ImagePin.parse(after[k]).satisfies(prep.intent.pin) for prep in live for k in prep.mine)
              and all(after[k] == before[k] for k in before if k not in everyone))
        if ok:
            for prep in live:
                results[index[id(prep)]] = Applied(prep.intent, prep.rel, prep.running, prep.changed,
                                                   describe_entry(prep.entries, prep.candidates[-1]))
            continue
        # put the overlay back and find the refused edit(s): one intent at a time, each on the
        # result of the ones before it, trying every candidate entry (a lone edit's algorithm)
        if new is not None and new != text:
            write_atomic(path, text.encode("utf-8"))
        for n, prep in enumerate(live):
            seed = before if n == 0 or all(not isinstance(results[index[id(q)]], Applied) for q in live[:n]) else None
            results[index[id(prep)]] = _guarded(
                path, lambda prep=prep, seed=seed: _apply_kustomize(checkout, prep.intent, before=seed))  # type: ignore[misc]
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def _render_before(targets: list[tuple[Path, str]], stats: RenderStats | None, ahead: Prerender | None,
                   key: str | None) -> list[list[dict[str, Any]] | GantryError]:
    """The renders of ``targets`` as they stand: those rendered ahead at ``key``, the others now."""
    have = ahead.take(targets, key) if ahead is not None and key is not None else {}
    rest = [t for t in targets if t not in have]
    have.update(zip(rest, render_many(rest, stats=stats)))
    return [have[t] for t in targets]


def render_targets(checkout: Path, envs: Sequence[ServiceEnvironment]) -> list[tuple[Path, str]]:
    """The kustomize overlays (directory, path in the repo) the pins of ``envs`` are in, as
    :func:`apply_each` renders them; an environment whose manifest cannot be found is left out."""
    out = []
    for env in envs:
        if env.manifest_format != "kustomize":
            continue
        try:
            path, rel = manifest_file(checkout, env)
        except GantryError:
            continue
        out.append((path.parent, rel))
    return list(dict.fromkeys(out))


def _apply_kustomize(checkout: Path, intent: Intent, *, before: dict[str, str] | None = None) -> Applied:
    """One intent, trying every candidate entry; ``before``: the overlay's render, when known."""
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
    if before is None:
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
    return running_pins(checkout, [(service, env)])[0]


def running_pins(checkout: Path, pairs: Sequence[tuple[Service, ServiceEnvironment]], *,
                 stats: RenderStats | None = None) -> list[ImagePin]:
    """:func:`running_pin` of each ``(service, env)``, in order; the kustomize overlays are rendered
    together (:func:`render_many`). Raises the first pair's error, in ``pairs`` order."""
    out: list[ImagePin | GantryError | None] = [None] * len(pairs)
    todo: list[tuple[int, Path, str, set[str]]] = []
    for i, (service, env) in enumerate(pairs):
        try:
            path, rel = manifest_file(checkout, env)
            doc = LineDoc.read(path, rel)
            if env.manifest_format != "kustomize":
                out[i] = helm_pin(doc, env)
                continue
            entries = kustomize_entries(doc)
            candidates = kustomize_candidates(entries, service, env, "")
            if not candidates:
                raise GantryError(rel, f"no images: entry for service {service.name}")
            intent = Intent(service, env, "")
            names = _service_names(entries, candidates, intent)
            check_argocd_overrides(checkout, posixpath.dirname(rel), intent, names)
            todo.append((i, path.parent, rel, names))
        except GantryError as exc:
            out[i] = exc
    dirs = list(dict.fromkeys((d, rel) for _, d, rel, _ in todo))
    rendered = dict(zip(dirs, render_many(dirs, stats=stats)))
    for i, d, rel, names in todo:
        docs = rendered[(d, rel)]
        if isinstance(docs, GantryError):
            out[i] = docs
            continue
        service, env = pairs[i]
        found = [image for image in containers(docs).values() if _is_service_image(image, names, env.ecr_repository)]
        if not found:
            out[i] = GantryError(rel, f"the rendered overlay has no container using {service.name}'s image")
        elif len(set(found)) > 1:
            out[i] = GantryError(rel, f"{service.name}'s containers render different images: "
                                      f"{', '.join(sorted(set(found)))}")
        else:
            out[i] = ImagePin.parse(found[0])
    for value in out:
        if isinstance(value, GantryError):
            raise value
    return out  # type: ignore[return-value]
