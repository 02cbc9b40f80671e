"""Jobs benchmarks, printed as ratios measured in one run.

1. Render 1 000 jobs from a generated catalog: ``gantry jobs render`` vs
   ``jenkins-jobs test --config-xml`` on the same YAML (both as CLI processes; goal <= 1.0x),
   and the two outputs must be byte-identical.
2. ``gantry jobs update`` against a local Jenkins-API server: the first update creates the
   1 000 jobs; a second one on unchanged jobs must send 0 config POSTs (goal: <= 0.1x the first).
   Measured twice: against the in-memory stand-in (a create costs ~1 ms there), and with the
   stand-in taking ``--write-ms`` per job save, closer to a controller persisting config.xml.

Run: ``.venv/bin/python benchmarks/bench_jobs.py [--services 333]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline_lib.core.catalog import load_catalog  # noqa: E402
from pipeline_lib.jobs.generate import write_generated  # noqa: E402
from tests.support.localjenkins import LocalJenkins  # noqa: E402

BIN = Path(sys.executable).parent
JJB_INI = "[job_builder]\nquery_plugins_info=False\n[jenkins]\nurl=http://127.0.0.1:9\nquery_plugins_info=False\n"


def make_catalog(path: Path, services: int) -> None:
    """The shipped catalog's settings with ``services`` generated services (dev + prod each)."""
    import yaml

    from pipeline_lib.core.catalog import CATALOG_KEY, unwrap
    data = unwrap(yaml.safe_load((ROOT / "jobs" / "catalog.yaml").read_text()))
    data["services"] = [{"name": f"svc-{i:04d}", "repo": f"flashshop/svc-{i:04d}",
                         "ecr_repository": f"shop/svc-{i:04d}", "manifest_path": f"apps/svc-{i:04d}",
                         "environments": {"dev": {}, "prod": {}}} for i in range(services)]
    path.write_text(yaml.safe_dump([{CATALOG_KEY: data}], sort_keys=False))


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=333, help="3 jobs each, + 2 folders (default 333 -> 1001 jobs)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N for the render timing")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--write-ms", type=float, default=50.0,
                    help="second update run: ms the stand-in takes per job save (default 50)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        tmp_path = Path(tmp)
        jobs = tmp_path / "jobs"
        jobs.mkdir()
        for name in ("defaults.yaml", "macros.yaml", "templates.yaml"):
            shutil.copy(ROOT / "jobs" / name, jobs / name)
        make_catalog(jobs / "catalog.yaml", args.services)
        write_generated(load_catalog(jobs / "catalog.yaml"), jobs, str(jobs / "catalog.yaml"))
        jjb_only = tmp_path / "jjb"
        jjb_only.mkdir()
        for f in jobs.glob("*.yaml"):
            if f.name != "catalog.yaml":
                shutil.copy(f, jjb_only / f.name)
        ini = tmp_path / "jenkins_jobs.ini"
        ini.write_text(JJB_INI)

        jjb_times, gantry_times = [], []
        for i in range(args.repeat):
            out1, out2 = tmp_path / f"out-jjb-{i}", tmp_path / f"out-gantry-{i}"
            jjb_times.append(timed([str(BIN / "jenkins-jobs"), "--conf", str(ini), "test", "--config-xml",
                                    "-o", str(out1), str(jjb_only)]))
            gantry_times.append(timed([str(BIN / "gantry"), "jobs", "render", "--jobs-dir", str(jobs),
                                       "-o", str(out2)], dict(os.environ, GANTRY_CACHE_DIR=str(tmp_path / "cache"))))
        a, b = tree(tmp_path / "out-jjb-0"), tree(tmp_path / "out-gantry-0")
        identical = a == b
        n_jobs = len(a)
        jjb_t, gantry_t = min(jjb_times), min(gantry_times)
        print(f"render {n_jobs} jobs (best of {args.repeat}): jenkins-jobs test --config-xml {jjb_t:.2f}s, "
              f"gantry jobs render {gantry_t:.2f}s -> ratio {gantry_t / jjb_t:.2f}x (goal <= 1.0x); "
              f"first runs {jjb_times[0]:.2f}s vs {gantry_times[0]:.2f}s (gantry's catalog check not yet cached); "
              f"byte-identical: {identical}")

        all_posts = 0
        for write_ms in (0.0, args.write_ms):
            with LocalJenkins(user="bench", token="bench-token", crumb=True) as jenkins:
                jenkins.write_delay = write_ms / 1000
                env = dict(os.environ, JENKINS_URL=jenkins.url, JENKINS_USER="bench", JENKINS_API_TOKEN="bench-token",
                           GANTRY_CACHE_DIR=str(tmp_path / f"cache-{write_ms}"))
                cmd = [str(BIN / "gantry"), "jobs", "update", "--jobs-dir", str(jobs), "--workers", str(args.workers)]
                first = timed(cmd, env)
                created = jenkins.count("POST", "createItem")
                jenkins.reset_counts()
                second = timed(cmd, env)
                posts = jenkins.count("POST", "createItem") + jenkins.count("POST", "config.xml")
                gets = jenkins.count("GET", "config.xml")
            all_posts += posts
            label = ("in-memory stand-in" if not write_ms else
                     f"stand-in taking {write_ms:.0f} ms per job save, as a controller writing to disk")
            print(f"update {n_jobs} jobs ({label}): first {first:.2f}s ({created} createItem), unchanged "
                  f"{second:.2f}s ({posts} config POSTs, {gets} live config.xml reads) -> ratio "
                  f"{second / first:.2f}x (goal <= 0.1x)")
        ok = identical and gantry_t <= jjb_t and all_posts == 0
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
