"""CPU of the GitOps write-back's manifest edits (issue 21): ``pin_kustomize`` on N overlays as
``gantry gitops init`` writes them (``images:`` entry with name and newName; the pin sets newName,
adds newTag and digest), in process CPU time (``time.process_time``: the machine is shared).

The reference in the same run is one parse of the overlay (``LineDoc(text)``, which every edit
needs once). Goal: the pin itself costs well under that parse (before issue 21 it parsed the text
again after each added line and spent ~0.3 ms per plain-scalar check: ~4 ms, ratio ~4; now no
parse, ratio < 0.1). Prints ms per overlay and the ratio.
Run: ``.venv/bin/python benchmarks/bench_yamlrt.py [-n 50]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_gitops import REGISTRY, write_catalog  # noqa: E402
from gitops.layout import init_repo  # noqa: E402
from gitops.manifest import ImagePin, pin_kustomize  # noqa: E402
from gitops.yamlrt import LineDoc  # noqa: E402
from pipeline_lib.core.catalog import load_catalog  # noqa: E402


def overlays(n: int) -> list[str]:
    """The dev overlay kustomization.yaml of ``svc-000`` … as ``init_repo`` writes them."""
    with tempfile.TemporaryDirectory(prefix="bench-yamlrt-") as tmp_s:
        tmp = Path(tmp_s)
        catalog = load_catalog(write_catalog(tmp / "catalog.yaml", n))
        init_repo(tmp / "gitops.git", catalog, list(catalog.services), "dev", REGISTRY)
        return [subprocess.run(["git", "show", f"main:apps/svc-{i:03d}/overlays/dev/kustomization.yaml"],
                               cwd=tmp / "gitops.git", check=True, capture_output=True, text=True).stdout
                for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="overlays (default 50)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is kept (default 5)")
    args = parser.parse_args()
    texts = overlays(args.n)
    parse_s, pin_s = [], []
    for r in range(args.rounds + 1):  # round 0 warms imports and caches
        parse = pin = 0.0
        for i, text in enumerate(texts):
            t0 = time.process_time()
            doc = LineDoc(text, "kustomization.yaml")
            t1 = time.process_time()
            pin_kustomize(doc, 0, ImagePin(f"{REGISTRY}/shop/svc-{i:03d}", f"t{r}-{i}", f"sha256:{r * 1000 + i:064x}"))
            t2 = time.process_time()
            parse, pin = parse + t1 - t0, pin + t2 - t1
        if r:
            parse_s.append(parse)
            pin_s.append(pin)
    parse_ms, pin_ms = min(parse_s) * 1000 / args.n, min(pin_s) * 1000 / args.n
    print(f"{args.n} overlays, best of {args.rounds}: parse (reference) {parse_ms:.3f} ms, "
          f"pin_kustomize {pin_ms:.3f} ms ({pin_ms / 3:.3f} ms per set), ratio pin/parse {pin_ms / parse_ms:.3f}; "
          f"total {args.n * (parse_ms + pin_ms):.0f} ms CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
