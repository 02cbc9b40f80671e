"""The ``gantry`` CLI as a process (every Jenkins stage is one), beside a reference run in the same run.

Goals (issue 22, "a CLI that starts fast"):

* ``gantry --version`` and ``gantry --help``: ≤ 60 ms wall (median), printed beside ``python -c pass``;
* ``gantry image push``: ≤ 1.5× ``skopeo copy`` on bench_push.py's re-push (a changed top layer
  into a repository already holding v1; median of the rounds);
* ``gantry scan trivy --image``: ≤ 1.5× ``trivy image`` on bench_scan.py's image, each from a
  cold cache holding only the DB (best wall and best CPU of the rounds, as bench_scan.py).

The processes run with bytecode cached (``PYTHONPYCACHEPREFIX`` in a temporary directory, one
warm-up run first), as for an installed package: pip compiles bytecode at install, while this
checkout may run with ``PYTHONDONTWRITEBYTECODE`` and would otherwise recompile gantry's modules
at every start. ``gantry`` is the venv's console script (``.venv/bin/gantry``) with
``PYTHONPATH`` at this checkout. The reference gets the same environment.

Run: ``.venv/bin/python benchmarks/bench_cli.py [--only startup,push,scan] [--rounds 15]``.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

START_GOAL_MS = 60.0
PUSH_GOAL = 1.5
SCAN_GOAL = 1.5


def gantry_argv() -> list[str]:
    """How Jenkins starts gantry: the console script next to this interpreter, else ``-m``."""
    script = Path(sys.executable).parent / "gantry"
    return [sys.executable, str(script)] if script.is_file() else [sys.executable, "-m", "pipeline_lib.cli"]


def process_env(pycache: Path) -> None:
    """This process's environment (inherited by every run): bytecode cached, this checkout first."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(pycache)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


def wall(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``argv`` (output discarded; a failure stops the benchmark)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr.decode()[-2000:]}")
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_of(run: Callable[[], float]) -> tuple[float, float]:
    """(what ``run`` returns: its wall seconds, the CPU seconds of the processes it ran)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    took = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_startup(rounds: int) -> bool:
    runs: dict[str, tuple[list[str], list[tuple[float, float]]]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], []),
        "gantry --version": ([*gantry_argv(), "--version"], []),
        "gantry --help": ([*gantry_argv(), "--help"], []),
    }
    for argv, _ in runs.values():   # warm-up: bytecode and page cache
        wall(argv)
    for _ in range(rounds):         # interleaved, so the machine's load hits all alike
        for argv, times in runs.values():
            times.append(wall(argv))
    base = statistics.median(t[0] for t in runs["python -c pass"][1])
    ok = True
    print(f"start-up (median of {rounds} process runs):")
    for name, (_, times) in runs.items():
        ms = statistics.median(t[0] for t in times) * 1000
        cpu = statistics.median(t[1] for t in times) * 1000
        verdict = ""
        if name.startswith("gantry"):
            ok &= ms <= START_GOAL_MS
            verdict = f"  goal ≤ {START_GOAL_MS:.0f} ms wall -> {'OK' if ms <= START_GOAL_MS else 'OVER'}"
        print(f"  {name:18} wall {ms:6.1f} ms ({ms / (base * 1000):4.2f}× python -c pass), CPU {cpu:6.1f} ms"
              f"{verdict}")
    return ok


def bench_push_process(rounds: int, base_mb: int, top_mb: int) -> bool:
    from bench_push import CATALOG, gantry_push, make_layout, skopeo_push
    from pipeline_lib.localparts.registry import LocalRegistry

    rng = random.Random(1)
    base = rng.randbytes(base_mb << 20)
    services = ("storefront", "order-api", "product-api")
    cli: list[tuple[float, float]] = []
    sko: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-cli-push-") as tmp_s:
        tmp = Path(tmp_s)
        with LocalRegistry(tmp / "registry", name="bench-cli-registry") as reg:
            for r in range(rounds + 1):          # round 0 warms up
                v1, _ = make_layout(tmp / f"v1-{r}", base, rng.randbytes(top_mb << 20))
                v2, _ = make_layout(tmp / f"v2-{r}", base, rng.randbytes(top_mb << 20))
                svc = services[r % len(services)]
                gantry_push(reg.host, v1, svc, f"v1-{r}")      # each tool's repository holds v1
                skopeo_push(reg.host, v1, f"skopeo/r{r}", "v1")
                runs: list[tuple[list[tuple[float, float]], Callable[[], tuple[float, float]]]] = [
                    (cli, lambda: wall([*gantry_argv(), "image", "push", "--catalog", str(CATALOG), "--service",
                                        svc, "--registry", reg.host, "--oci-layout", str(v2), "--ref", "app",
                                        "--tag", f"v2-{r}", "--output", str(tmp / f"push-{r}.json")])),
                    (sko, lambda: cpu_of(lambda: skopeo_push(reg.host, v2, f"skopeo/r{r}", "v2")))]
                rng.shuffle(runs)
                for times, fn in runs:
                    took = fn()
                    if r:
                        times.append(took)
    c, s = statistics.median(t[0] for t in cli), statistics.median(t[0] for t in sko)
    cc, sc = statistics.median(t[1] for t in cli), statistics.median(t[1] for t in sko)
    ok = c / s <= PUSH_GOAL
    print(f"image push re-push (base {base_mb} MiB, top {top_mb} MiB, median of {rounds} rounds):")
    print(f"  skopeo copy        wall {s * 1000:6.1f} ms  CPU {sc * 1000:6.1f} ms")
    print(f"  gantry image push  wall {c * 1000:6.1f} ms  CPU {cc * 1000:6.1f} ms  {c / s:4.2f}× wall, "
          f"{cc / sc:4.2f}× CPU  goal ≤ {PUSH_GOAL}× wall -> {'OK' if ok else 'OVER'}")
    return ok


def bench_scan_process(rounds: int) -> bool:
    from bench_scan import timed
    from pipeline_lib.demo.storefront import prepare_variants
    from pipeline_lib.image.build import build_image
    from pipeline_lib.image.pydeps import prepare_build_context
    from pipeline_lib.localparts.podman import PodmanService
    from scanners.trivy import find_trivy
    from tests.support.trivydb import build_db, builder, install_db

    trivy = find_trivy()
    if trivy is None:
        raise SystemExit("trivy not found")
    with tempfile.TemporaryDirectory(prefix="bench-cli-scan-") as tmp:
        work = Path(tmp)
        builder()
        db = build_db(work / "db")
        # bench_scan.py's image: the storefront's PR build, vendored pins, built through podman
        variants = prepare_variants(work, ROOT / "examples" / "storefront")
        context = work / "ctx"
        prepare_build_context(variants.pr.source, context, wheel_cache=ROOT / ".venv" / "gantry-wheel-cache")
        archive = work / "image.tar"
        with PodmanService(work / "podman") as podman:
            client = podman.client()
            image = build_image(client, context, "Dockerfile", ["127.0.0.1:5999/shop/storefront:bench"])
            with open(archive, "wb") as fh:
                for chunk in client.images.get(image.id).save():
                    fh.write(chunk)
        env = dict(os.environ)

        def cache(n: int) -> list[str]:
            return ["--cache-dir", str(install_db(db, work / f"cache-{n}"))]

        def gantry(n: int) -> list[str]:
            return [*gantry_argv(), "scan", "trivy", "--src", str(work), "--image", "demo", "--input", str(archive),
                    "--scanners", "vuln", "--no-sbom", "--skip-db-update", "--trivy", trivy,
                    "--out", str(work / "gantry-out"), *cache(n)]

        def alone(n: int) -> list[str]:
            return [trivy, "image", "--input", str(archive), "--scanners", "vuln", "--format", "json", "--output",
                    str(work / "alone.json"), "--skip-db-update", "--skip-java-db-update", "--skip-version-check",
                    "--disable-telemetry", "--no-progress", "--skip-check-update", *cache(n)]

        timed(alone(0), env)   # warm-up: page cache, bytecode
        timed(gantry(1), env)
        g, a = [], []
        for i in range(rounds):
            a.append(timed(alone(2 * i + 2), env))
            g.append(timed(gantry(2 * i + 3), env))
    gw, gc = min(x[0] for x in g), min(x[1] for x in g)
    aw, ac = min(x[0] for x in a), min(x[1] for x in a)
    ok = gw / aw <= SCAN_GOAL and gc / ac <= SCAN_GOAL
    print(f"scan trivy --image (best of {rounds} rounds, cold cache holding only the DB):")
    print(f"  trivy image        wall {aw * 1000:6.1f} ms  CPU {ac * 1000:6.1f} ms")
    print(f"  gantry scan trivy  wall {gw * 1000:6.1f} ms  CPU {gc * 1000:6.1f} ms  "
          f"{gw / aw:4.2f}× wall, {gc / ac:4.2f}× CPU  goal ≤ {SCAN_GOAL}× -> {'OK' if ok else 'OVER'}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="startup,push,scan", help="comma-separated: startup, push, scan")
    ap.add_argument("--rounds", type=int, default=15, help="start-up runs per command (default: 15)")
    ap.add_argument("--push-rounds", type=int, default=5)
    ap.add_argument("--scan-rounds", type=int, default=5)
    ap.add_argument("--base-mb", type=int, default=64)
    ap.add_argument("--top-mb", type=int, default=8)
    args = ap.parse_args()
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    with tempfile.TemporaryDirectory(prefix="bench-cli-pycache-") as pycache:
        process_env(Path(pycache))
        print(f"bench_cli: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; gantry = "
              f"{' '.join(Path(a).name for a in gantry_argv())}")
        ok = True
        if "startup" in parts:
            ok &= bench_startup(args.rounds)
        if "push" in parts:
            ok &= bench_push_process(args.push_rounds, args.base_mb, args.top_mb)
        if "scan" in parts:
            ok &= bench_scan_process(args.scan_rounds)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
