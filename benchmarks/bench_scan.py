"""The scan stage's overhead: ``gantry scan trivy --image`` on the demo image vs. ``trivy image``
alone on the same image archive with the same DB (ratio, goal ≤ 1.2×).

The demo image is the storefront's PR build (pinned deps vendored, built through podman's
Docker API, saved as a docker-archive); the DB is built from the advisory files
(examples/trivydb). Both run as CLI processes with the vuln scanner, JSON output and no
SBOM (the same work), each from a cold scan cache holding only the DB (a CI build scans a
new image every time), alternately, best of N wall and CPU times. Also prints the DB build time.
Run: ``.venv/bin/python benchmarks/bench_scan.py [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline_lib.demo.storefront import prepare_variants  # noqa: E402
from pipeline_lib.image.build import build_image  # noqa: E402
from pipeline_lib.image.pydeps import prepare_build_context  # noqa: E402
from pipeline_lib.localparts.podman import PodmanService  # noqa: E402
from scanners import trivy as trivy_mod  # noqa: E402
from scanners.registry import parse_report  # noqa: E402
from scanners.trivy import find_trivy  # noqa: E402
from tests.support.trivydb import build_db, builder, install_db  # noqa: E402


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    trivy = find_trivy()
    if trivy is None:
        raise SystemExit("trivy not found")
    with tempfile.TemporaryDirectory(prefix="gantry-bench-scan-") as tmp:
        work = Path(tmp)
        builder()
        t = time.perf_counter()
        db = build_db(work / "db")
        db_seconds = time.perf_counter() - t
        variants = prepare_variants(work, ROOT / "examples" / "storefront")
        t = time.perf_counter()
        context = work / "ctx"
        prepare_build_context(variants.pr.source, context, wheel_cache=ROOT / ".venv" / "gantry-wheel-cache")
        vendor_seconds = time.perf_counter() - t
        archive = work / "image.tar"
        with PodmanService(work / "podman") as podman:
            client = podman.client()
            t = time.perf_counter()
            image = build_image(client, context, "Dockerfile", ["127.0.0.1:5999/shop/storefront:bench"])
            build_seconds = time.perf_counter() - t
            with open(archive, "wb") as fh:
                for chunk in client.images.get(image.id).save():
                    fh.write(chunk)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def fresh_cache(n: int) -> list[str]:
            """A cache holding only the DB: every build scans a new image, so Trivy's layer
            cache never hits in CI; both commands start from the same cold state."""
            return ["--cache-dir", str(install_db(db, work / f"cache-{n}"))]

        def gantry(n: int) -> list[str]:
            return [sys.executable, "-m", "pipeline_lib.cli", "scan", "trivy", "--src", str(work), "--image", "demo",
                    "--input", str(archive), "--scanners", "vuln", "--no-sbom", "--skip-db-update",
                    "--trivy", trivy, "--out", str(work / "gantry-out"), *fresh_cache(n)]

        def alone(n: int) -> list[str]:
            return [trivy, "image", "--input", str(archive), "--scanners", "vuln", "--format", "json", "--output",
                    str(work / "alone.json"), "--skip-db-update", "--skip-java-db-update", "--skip-version-check",
                    "--disable-telemetry", "--no-progress", "--skip-check-update", *fresh_cache(n)]

        def in_process(n: int) -> tuple[float, float]:
            """The stage's own work without interpreter start-up: run_image + parse + outcome."""
            cache_dir = Path(fresh_cache(n)[1])
            before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
            c0 = time.process_time()
            outcome = trivy_mod.run_image("demo", work / "inproc", input_tar=archive, scanners=("vuln",), sbom=False,
                                          trivy=trivy, cache_dir=cache_dir, skip_db_update=True)
            parse_report(outcome.reports[0])
            outcome.write(work / "inproc")
            took, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
            return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) + time.process_time() - c0

        timed(alone(0), env)   # warm the page cache for both
        timed(gantry(1), env)
        g, a, ip = [], [], []
        for i in range(args.rounds):
            a.append(timed(alone(3 * i + 2), env))
            g.append(timed(gantry(3 * i + 3), env))
            ip.append(in_process(3 * i + 4))
    wall = min(x[0] for x in g) / min(x[0] for x in a)
    cpu = min(x[1] for x in g) / min(x[1] for x in a)
    print(f"DB build (trivydb, {len(list((ROOT / 'examples/advisories/ghsa').glob('*.json')))} advisories "
          f"+ Trivy fixtures): {db_seconds:.3f}s")
    print(f"vendoring pins into the build context: {vendor_seconds:.2f}s; image build (podman): {build_seconds:.2f}s")
    for name, runs in (("trivy image alone", a), ("gantry scan (CLI)", g), ("stage in-process", ip)):
        print(f"{name:18}: best wall {min(x[0] for x in runs):.3f}s, best CPU {min(x[1] for x in runs):.3f}s "
              f"(wall runs: {', '.join(f'{x[0]:.3f}' for x in runs)})")
    print(f"ratio in-process stage/trivy: wall {min(x[0] for x in ip) / min(x[0] for x in a):.2f}x, "
          f"CPU {min(x[1] for x in ip) / min(x[1] for x in a):.2f}x")
    print(f"ratio gantry CLI/trivy: wall {wall:.2f}x, CPU {cpu:.2f}x (goal <= 1.2x; load average "
          f"{os.getloadavg()[0]:.1f}) -> {'OK' if min(wall, cpu) <= 1.2 else 'OVER'}")
    return 0 if min(wall, cpu) <= 1.2 else 1

if __name__ == "__main__":
    raise SystemExit(main())
