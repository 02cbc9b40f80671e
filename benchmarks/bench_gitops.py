"""N concurrent ``gantry gitops bump`` processes (different services) on one bare repo.

Goals (issue 21, quiet 2-core machine): 0 lost updates — every service's new digest is what its
overlay renders (``kubectl kustomize``) on the remote branch —, no failed process, no merge
commit, bumps group-committed (at most N commits), and p95 latency < 3 s with median < 2 s for
N = 50 (p95 < 5 s for N = 100). The reference in the same run is one uncontended bump; the p95
is also printed as a ratio of it. Each process runs with ``--format json``: its queue wait,
render and push seconds are summarised too.
Run: ``.venv/bin/python benchmarks/bench_gitops.py [-n 50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops.layout import init_repo  # noqa: E402
from pipeline_lib.core.catalog import load_catalog  # noqa: E402

REGISTRY = "127.0.0.1:5000"


DEV = ("dev", ("platform: jenkins", "aws_region: ap-northeast-2", "domain: dev.example.com", "namespace: shop-dev"))


def write_catalog(path: Path, n: int, environment: tuple[str, tuple[str, ...]] = DEV, service_env: str = "{}",
                  extra: tuple[str, ...] = ()) -> Path:
    """A catalog of ``n`` services ``svc-000`` … in one ``(name, settings lines)`` environment, each
    with ``service_env`` there; ``extra``: top-level lines added before ``services:``."""
    env, settings = environment
    lines = ["version: 1", "defaults:", '  aws_account_id: "123456789012"', "  registry_region: ap-northeast-2",
             "  replica_regions: [ap-northeast-1]", "  gitops_repo: https://github.com/example/gitops.git",
             "environments:", f"  {env}:", *(f"    {line}" for line in settings), *extra, "services:"]
    for i in range(n):
        lines += [f"  - name: svc-{i:03d}", f"    repo: example/svc-{i:03d}", f"    ecr_repository: shop/svc-{i:03d}",
                  f"    manifest_path: apps/svc-{i:03d}", "    environments:", f"      {env}: {service_env}"]
    path.write_text("\n".join(lines) + "\n")
    return path


ENTRIES = {"gantry": [sys.executable, "-m", "pipeline_lib.cli", "gitops"],  # the full CLI
           "gitops": [sys.executable, "-m", "gitops"]}                       # gitops commands only
ENTRY = ENTRIES["gantry"]


def argv(catalog: Path, bare: Path, i: int, digest: str) -> list[str]:
    return [*ENTRY, "bump", "--catalog", str(catalog),
            "--repo", bare.as_uri(), "--env", "dev", "--service", f"svc-{i:03d}", "--digest", digest,
            "--tag", f"t{i}", "--image", f"{REGISTRY}/shop/svc-{i:03d}", "--build-url", f"https://ci/{i}",
            "--format", "json"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def goals(n: int) -> tuple[float, float]:
    """(p95, median) goals in seconds for ``n`` concurrent bumps."""
    return (3.0, 2.0) if n <= 50 else (5.0, float("inf"))


def rendered(work: Path, n: int) -> dict[int, str]:
    """svc index -> the image its dev overlay renders (kubectl kustomize, two at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> str:
        out = subprocess.run(["kubectl", "kustomize", str(work / f"apps/svc-{i:03d}/overlays/dev")],
                             capture_output=True, text=True).stdout
        return " ".join(line.split("image:", 1)[1].strip() for line in out.splitlines() if "image:" in line)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip(range(n), pool.map(one, range(n))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--entry", choices=sorted(ENTRIES), default="gantry",
                        help="'gantry' = the gantry CLI (default); 'gitops' = python -m gitops (same code, "
                             "without loading the other gantry commands)")
    args = parser.parse_args()
    global ENTRY
    ENTRY = ENTRIES[args.entry]
    n = args.n
    # As on an agent where gantry is installed (pip writes the bytecode): modules compiled once,
    # not by each of the n processes (a checkout may run with PYTHONDONTWRITEBYTECODE set).
    pycache = tempfile.TemporaryDirectory(prefix="bench-gitops-pycache-")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = pycache.name
    subprocess.run([*ENTRY, "bump", "--help"], cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
    # reference for start-up cost: n concurrent processes that only load the entry point
    t0 = time.perf_counter()
    loaders = [subprocess.Popen([*ENTRY, "--help"], cwd=ROOT, stdout=subprocess.DEVNULL) for _ in range(n)]
    for p in loaders:
        p.wait()
    startup = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="bench-gitops-") as tmp_s:
        tmp = Path(tmp_s)
        os.environ["GANTRY_LOCK_DIR"] = str(tmp / "locks")  # the host lock, spool and kept checkout go with it
        cat_path = write_catalog(tmp / "catalog.yaml", n + 1)   # svc-<n>: the lone reference bump
        catalog = load_catalog(cat_path)
        bare = tmp / "gitops.git"
        init_repo(bare, catalog, list(catalog.services), "dev", REGISTRY)
        # reference: one bump alone (service n, outside the concurrent set)
        t0 = time.perf_counter()
        subprocess.run(argv(cat_path, bare, n, "sha256:" + "f" * 64), check=True, capture_output=True, cwd=ROOT)
        alone = time.perf_counter() - t0
        base = git(bare, "rev-parse", "main")

        digests = [f"sha256:{i:064x}" for i in range(n)]
        starts, procs = [], []
        t_all = time.perf_counter()
        for i in range(n):
            starts.append(time.perf_counter())
            procs.append(subprocess.Popen(argv(cat_path, bare, i, digests[i]), cwd=ROOT,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        latencies = [0.0] * n
        pending = set(range(n))
        while pending:
            for i in list(pending):
                if procs[i].poll() is not None:
                    latencies[i] = time.perf_counter() - starts[i]
                    pending.discard(i)
            time.sleep(0.005)
        total = time.perf_counter() - t_all
        failed = [(i, p.stderr.read().strip()) for i, p in enumerate(procs) if p.returncode != 0]
        commits = int(git(bare, "rev-list", "--count", f"{base}..main"))
        merges = int(git(bare, "rev-list", "--merges", "--count", "main"))
        work = tmp / "check"
        subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True)
        images = rendered(work, n)
        lost = [i for i in range(n) if images[i] != f"{REGISTRY}/shop/svc-{i:03d}:t{i}@{digests[i]}"]
        figures: dict[str, list[float]] = {"queue_wait": [], "render": [], "push": [], "total": []}
        sizes = []
        for i, p in enumerate(procs):
            if p.returncode == 0:
                data = json.loads(p.stdout.read())
                for key in figures:
                    figures[key].append(float(data.get("timings", {}).get(key, 0.0)))
                sizes.append(int(data.get("commit_edits", 0)))
        p95 = statistics.quantiles(latencies, n=20)[18] if n >= 2 else latencies[0]
        goal_p95, goal_median = goals(n)
        print(f"bench_gitops: {n} concurrent '{' '.join(['gantry gitops' if args.entry == 'gantry' else 'python -m gitops'])}"
              f" bump' processes, one bare repo, different services")
        print(f"  lone bump (reference): {alone:.2f}s; {n} concurrent '--help' (start-up only): {startup:.2f}s")
        median = statistics.median(latencies)
        median_goal = f" (goal < {goal_median:g} s)" if goal_median != float("inf") else ""
        print(f"  latency: median {median:.2f}s{median_goal}, p95 {p95:.2f}s (goal < {goal_p95:g} s), "
              f"max {max(latencies):.2f}s; p95 / lone = {p95 / alone:.1f}×; all done in {total:.2f}s")
        for key, values in figures.items():
            if values:
                print(f"  {key}: median {statistics.median(values):.2f}s, max {max(values):.2f}s")
        print(f"  pushed commits {commits} for {n} bumps (edits per commit: {sorted(set(sizes))}), "
              f"merge commits {merges}, lost updates {len(lost)}, failed processes {len(failed)}")
        for i, err in failed[:5]:
            print(f"    svc-{i:03d}: {err.splitlines()[-1] if err else 'no output'}")
        for i in lost[:5]:
            print(f"    svc-{i:03d} renders {images[i] or 'nothing'}")
        print(f"  load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        ok = (not failed and not lost and 1 <= commits <= n and merges == 0 and p95 < goal_p95
              and median < goal_median)
        print(f"  {'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
