"""``gantry gitops rollback`` of 20 services in prod: the previous digests, effect-checked.

Goal (issue 24): the rollback of 20 services — reading the history, rendering the prod overlays
before and at the previous digests (``kubectl kustomize``, batched by
:func:`gitops.kustomize.render_many`), one commit per service with its hold, one push — takes
≤ 5 s. The reference measured in the same run is one ``kubectl kustomize`` of one prod overlay;
the rollback is printed in seconds and as a multiple of it. Every service is checked afterwards:
its overlay renders the previous digest and its hold names it.
Run: ``.venv/bin/python benchmarks/bench_rollback.py [-n 20]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gitops.git import checkout  # noqa: E402
from gitops.layout import init_repo  # noqa: E402
from gitops.rollback import rollback  # noqa: E402
from gitops.writeback import PinEdit, write_edits  # noqa: E402
from pipeline_lib.core.catalog import load_catalog  # noqa: E402
from bench_gitops import write_catalog as synthetic_catalog  # noqa: E402

REGISTRY = "127.0.0.1:5000"


PROD = ("prod", ("platform: eks", "aws_region: ap-northeast-2", "domain: shop.example.com", "namespace: shop"))


def write_catalog(path: Path, n: int) -> Path:
    """``n`` services in prod, committed directly, evidence off (this measures the render and the commits)."""
    return synthetic_catalog(path, n, PROD, "{deploy: commit}", ("signing:", "  prod: {evidence: off}"))


def digest(i: int, round_: int) -> str:
    return "sha256:" + f"{round_:02x}{i:04x}".ljust(64, "0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="services (default 20)")
    parser.add_argument("--goal", type=float, default=5.0, help="seconds (default 5)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-rollback-"))
    try:
        catalog = load_catalog(write_catalog(tmp / "catalog.yaml", args.n))
        bare = tmp / "gitops.git"
        services = [s.name for s in catalog.services]
        init_repo(bare, catalog, list(catalog.services), "prod", REGISTRY)
        url = bare.as_uri()
        for round_ in (1, 2):   # two promotions of every service: the rollback goes back to round 1
            edits = []
            for i, name in enumerate(services):
                env = catalog.service(name).environment("prod")
                edits.append(PinEdit(name, "prod", env.ecr_repository, env.manifest, env.manifest_format,
                                     env.values_key, f"{REGISTRY}/shop/{name}", digest(i, round_), f"r{round_}",
                                     verb="promote"))
            assert all(r.commit for r in write_edits(url, "main", edits, lock=False))  # type: ignore[union-attr]

        look = checkout(url, "main", tmp / "look")
        overlay = look / "apps/svc-000/overlays/prod"
        t0 = time.monotonic()
        subprocess.run(["kubectl", "kustomize", str(overlay)], check=True, capture_output=True)
        reference = time.monotonic() - t0

        t0 = time.monotonic()
        targets, results = rollback(url, catalog=catalog, services=services, environment="prod", by="bench",
                                    reason="benchmark")
        seconds = time.monotonic() - t0

        failed = [r for r in results if not getattr(r, "commit", None)]
        after = checkout(url, "main", tmp / "after")
        wrong = []
        for i, name in enumerate(services):
            rendered = subprocess.run(["kubectl", "kustomize", str(after / f"apps/{name}/overlays/prod")], check=True,
                                      capture_output=True, text=True).stdout
            hold = json.loads((after / f".gantry/holds/prod/{name}.json").read_text())
            if f"@{digest(i, 1)}" not in rendered or hold["digest"] != digest(i, 1):
                wrong.append(name)
        commits = subprocess.run(["git", "rev-list", "--count", "main"], cwd=bare, check=True, capture_output=True,
                                 text=True).stdout.strip()
        print(f"rollback of {args.n} services: {seconds:.2f} s (goal <= {args.goal:g} s); reference: one kubectl "
              f"kustomize of a prod overlay {reference:.3f} s; ratio {seconds / reference:.1f}x")
        print(f"targets from history: {sum(t.source.startswith('history') for t in targets)}/{args.n}; "
              f"failed: {len(failed)}; wrong pin or hold after: {len(wrong)}; commits on main: {commits}")
        ok = not failed and not wrong and seconds <= args.goal
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
