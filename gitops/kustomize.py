"""The one ``kubectl kustomize`` renderer: what Argo CD will deploy from a kustomization.

Used by the effect check of every manifest edit (:mod:`gitops.effect`) and by ``gantry gitops
check`` (:mod:`gitops.validate`). kubectl's built-in kustomize (v5) renders; the process runs
through :func:`pipeline_lib.core.process.run` (timeout, process-group kill).

:func:`render_many` renders several overlays for one batch of edits. Most of a small render's
cost is starting kubectl (~0.1 s of CPU), so it first renders them all in **one** kubectl call:
a throw-away kustomization (outside the checkout) lists one wrapper per overlay, each wrapper
listing the overlay as its only resource and adding one annotation to ``metadata`` so every
rendered object can be told apart. Kustomize builds each overlay exactly as on its own (a
kustomization listed in ``resources`` is built in its own root, with its own transformers,
before being added), so each overlay's objects are the objects ``kubectl kustomize OVERLAY`` —
and Argo CD — produce, plus that annotation, which is removed. When the combined render fails
(an overlay that does not render, two overlays with an object of the same kind, namespace and
name) or an object cannot be attributed, every overlay is rendered on its own instead, in
parallel (a thread pool bounded by the CPU count), so each failure is the one a lone render
reports.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline_lib.core.errors import GantryError, TimeoutExceeded
from pipeline_lib.core.process import require_tool, run as run_command
from pipeline_lib.core.settings import child_env

KUBECTL_TIMEOUT = 120.0   # seconds per render
# Go's garbage collector took ~40 % of a combined render's CPU (`kubectl kustomize --profile=cpu`,
# 50 overlays); a render lives about a second: collecting 4x less often (GOGC=400, Go's default
# 100) cut its CPU by ~20 % for ~60 MB more memory per 25 overlays. A GOGC the caller set wins.
KUBECTL_GOGC = "400"
# kubectl's klog prefix (level, date, time, pid, source line): not part of the message, and it
# would make the same failure read differently each time
_KLOG = re.compile(r"^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ [\w.-]+:\d+\] ")


def render_kustomize(target: Path, where: str, *, failure_exit: int = 2,
                     timeout: float = KUBECTL_TIMEOUT) -> list[dict[str, Any]]:
    """``kubectl kustomize TARGET`` parsed into its documents (mappings only).

    Raises :class:`GantryError` naming ``where``: kubectl missing (exit 2), a render that fails
    (``failure_exit``: 2 when gantry cannot check its own edit, 1 when a check found a broken
    kustomization), unreadable output (exit 2); :class:`TimeoutExceeded` after ``timeout`` s.
    """
    kubectl = require_tool("kubectl", "kubernetes-client")
    try:
        proc = run_command([kubectl, "kustomize", str(target)], timeout=timeout, what=where, env=_kubectl_env())
    except TimeoutExceeded:
        raise TimeoutExceeded(where, f"kubectl kustomize did not finish in {timeout:.0f}s") from None
    if proc.returncode != 0:
        lines = [_KLOG.sub("", ln) for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise GantryError(where, f"kubectl kustomize failed: {lines[-1] if lines else 'exit ' + str(proc.returncode)}",
                          exit_code=failure_exit)
    try:
        # libyaml's parser when PyYAML has it (the same safe constructors, ~10x faster on a batch)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return [d for d in yaml.load_all(proc.stdout, Loader=loader) if isinstance(d, dict)]
    except yaml.YAMLError as exc:
        raise GantryError(where, f"kubectl kustomize printed unreadable YAML: {exc}") from None


def _kubectl_env() -> dict[str, str]:
    env = child_env()
    env.setdefault("GOGC", KUBECTL_GOGC)
    return env


UNIT_ANNOTATION = "gantry.dev/render-unit"
_WRAPPER = """\
# written by gantry for one combined render; never committed
resources:
  - {overlay}
transformers:
  - |-
    apiVersion: builtin
    kind: AnnotationsTransformer
    metadata:
      name: gantry-render-unit
    annotations:
      {annotation}: "{unit}"
    fieldSpecs:
      - path: metadata/annotations
        create: true
"""


@dataclass
class RenderStats:
    """What :func:`render_many` did: kubectl calls, overlays rendered, seconds (wall clock)."""

    calls: int = 0
    overlays: int = 0
    seconds: float = 0.0
    combined: list[bool] = field(default_factory=list)

    def add(self, other: RenderStats) -> None:
        self.calls += other.calls
        self.overlays += other.overlays
        self.seconds += other.seconds
        self.combined += other.combined


def _workers() -> int:
    return max(1, os.cpu_count() or 1)


def _split(docs: list[dict[str, Any]], units: int) -> list[list[dict[str, Any]]] | None:
    """Documents of a combined render per unit, the annotation removed; None when one lacks it."""
    out: list[list[dict[str, Any]]] = [[] for _ in range(units)]
    for doc in docs:
        meta = doc.get("metadata")
        notes = meta.get("annotations") if isinstance(meta, dict) else None
        unit = notes.pop(UNIT_ANNOTATION, None) if isinstance(notes, dict) else None
        if unit is None or not str(unit).isdigit() or int(unit) >= units:
            return None
        if not notes:
            del meta["annotations"]
        out[int(unit)].append(doc)
    return out


def _combined(targets: Sequence[tuple[Path, str]], timeout: float) -> list[list[dict[str, Any]]] | None:
    tmp = Path(tempfile.mkdtemp(prefix="gantry-render-"))
    try:
        for i, (target, _) in enumerate(targets):
            unit = tmp / f"u{i}"
            unit.mkdir()
            overlay = os.path.relpath(Path(target).resolve(), unit)
            (unit / "kustomization.yaml").write_text(
                _WRAPPER.format(overlay=overlay, annotation=UNIT_ANNOTATION, unit=i))
        (tmp / "kustomization.yaml").write_text(
            "resources:\n" + "".join(f"  - u{i}\n" for i in range(len(targets))))
        try:
            docs = render_kustomize(tmp, "render")
        except GantryError:
            return None
        return _split(docs, len(targets))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


MIN_CHUNK = 4   # overlays per combined call below which another kubectl start-up does not pay


def render_many(targets: Sequence[tuple[Path, str]], *, failure_exit: int = 2,
                timeout: float = KUBECTL_TIMEOUT,
                stats: RenderStats | None = None) -> list[list[dict[str, Any]] | GantryError]:
    """Render each ``(overlay directory, where)``: its documents, or the :class:`GantryError` a
    lone :func:`render_kustomize` raises for it (naming its ``where``), in ``targets`` order.

    The overlays are split into at most one chunk per CPU (of at least ``MIN_CHUNK``), each
    rendered by one combined kubectl call, the chunks in parallel; a chunk whose combined render
    fails is rendered one overlay at a time, in parallel (see the module docstring). ``stats``
    (when given) is added to.
    """
    if not targets:
        return []
    t0 = time.monotonic()
    run = RenderStats(overlays=len(targets))
    results: list[list[dict[str, Any]] | GantryError | None] = [None] * len(targets)

    def one(i: int) -> None:
        try:
            results[i] = render_kustomize(targets[i][0], targets[i][1], failure_exit=failure_exit, timeout=timeout)
        except GantryError as exc:
            results[i] = exc

    def chunk(indexes: list[int]) -> list[int]:
        """Render ``indexes`` together; returns those left to render one by one."""
        run.calls += 1
        split = _combined([targets[i] for i in indexes], timeout)
        run.combined.append(split is not None)
        if split is None:
            return indexes
        for i, docs in zip(indexes, split):
            results[i] = docs
        return []

    workers = _workers()
    if len(targets) == 1:
        left = [0]
    else:
        n_chunks = max(1, min(workers, len(targets) // MIN_CHUNK))
        chunks = [list(range(len(targets)))[k::n_chunks] for k in range(n_chunks)]
        with ThreadPoolExecutor(max_workers=n_chunks) as pool:
            left = [i for rest in pool.map(chunk, chunks) for i in rest]
    if left:
        run.calls += len(left)
        with ThreadPoolExecutor(max_workers=min(workers, len(left))) as pool:
            list(pool.map(one, left))
    run.seconds = time.monotonic() - t0
    if stats is not None:
        stats.add(run)
    return results  # type: ignore[return-value]


Target = tuple[Path, str]   # (overlay directory, where: the name errors give)


class Prerender:
    """Renders taken ahead of the edits a GitOps batch will check (issue 21).

    While a batch waits for more bumps (:func:`gitops.batch.run_batch`), the overlays it will
    edit are rendered as they stand: :meth:`start` renders the targets not rendered yet with
    :func:`render_many`, in one background thread at a time (a call while one runs does nothing:
    the next call picks its targets up). :meth:`take` hands the renders to the effect check
    (:func:`gitops.effect.apply_each`), waiting for a running one, only when the checkout is at
    the commit they were rendered at (``key``: its HEAD) — with its files unedited, which the
    caller guarantees (a check runs on a freshly reset checkout). Each render is taken once.
    ``stats`` counts what was rendered ahead.
    """

    def __init__(self) -> None:
        self.stats = RenderStats()
        self._key: str | None = None
        self._done: dict[Target, list[dict[str, Any]] | GantryError] = {}
        self._started: set[Target] = set()
        self._thread: threading.Thread | None = None

    def start(self, targets: Sequence[Target], key: str) -> None:
        """Render ``targets`` (those not rendered at ``key`` yet) in the background."""
        if self._thread is not None and self._thread.is_alive():
            return
        if key != self._key:
            self._key, self._done, self._started = key, {}, set()
        todo = [t for t in dict.fromkeys(targets) if t not in self._started]
        if not todo:
            return
        self._started.update(todo)

        def work() -> None:
            self._done.update(zip(todo, render_many(todo, stats=self.stats)))

        self._thread = threading.Thread(target=work, name="gantry-prerender", daemon=True)
        self._thread.start()

    def take(self, targets: Sequence[Target], key: str) -> dict[Target, list[dict[str, Any]] | GantryError]:
        """The renders of ``targets`` made at ``key`` (after any running render finished)."""
        if self._thread is not None:
            self._thread.join()
        if key != self._key:
            return {}
        return {t: self._done.pop(t) for t in targets if t in self._done}
