"""``gantry watch`` of 20 services with cached SBOMs: goal ≤ 10 s on 2 cores (wall time, best of 3).

The environment: a real bare GitOps repo pinning 20 services (kustomize overlays rendered by
kubectl, as Argo CD would), each digest's SBOM already in the SBOM cache (a real Trivy CycloneDX
SBOM, 263 KB: tests/fixtures/trivy/fluentd-sbom.cdx.json), the offline Trivy DB built from the
advisory files, the ledger in a local file, no Slack/GitHub/Pushgateway. The reference, measured
in the same run: ``trivy sbom`` of the same SBOM 20 times one after the other — what the watch's
scans alone would cost without its parallelism.
Run: .venv/bin/python benchmarks/bench_watch.py
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from gitops.layout import init_repo  # noqa: E402
from pipeline_lib.core.catalog import load_catalog  # noqa: E402
from pipeline_lib.core.settingsmodel import Settings  # noqa: E402
from pipeline_lib.stages.watch import WatchOptions, cached_sbom_path, run  # noqa: E402
from scanners import rescan  # noqa: E402
from scanners.dbage import VulnDbSettings  # noqa: E402
from tests.support.trivydb import build_db, install_db  # noqa: E402
from tests.watch.helpers import pin_all  # noqa: E402

N = 20
GOAL = 10.0
SBOM = ROOT / "tests" / "fixtures" / "trivy" / "fluentd-sbom.cdx.json"
HOST = "127.0.0.1:5000"


def catalog_of(tmp: Path, n: int) -> Path:
    raw = yaml.safe_load((ROOT / "jobs" / "catalog.yaml").read_text())
    body = raw[0]["_catalog"]
    body.pop("signing", None)
    body["services"] = [{"name": f"svc-{i:02d}", "repo": f"flashshop/svc-{i:02d}", "ecr_repository": f"shop/svc-{i:02d}",
                         "manifest_path": f"apps/svc-{i:02d}", "owners": ["team-web"], "environments": {"dev": {}}}
                        for i in range(n)]
    path = tmp / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gantry-bench-watch-") as t:
        tmp = Path(t)
        catalog_path = catalog_of(tmp, N)
        catalog = load_catalog(catalog_path)
        bare = tmp / "gitops.git"
        init_repo(bare, catalog, catalog.services_in("dev"), "dev", HOST)
        cache = tmp / "sboms"
        cache.mkdir()
        pins = {}
        for i, svc in enumerate(catalog.services_in("dev")):
            digest = "sha256:" + hashlib.sha256(f"bench-{i}".encode()).hexdigest()
            pins[svc.name] = (f"{HOST}/{svc.environment('dev').ecr_repository}", digest, "v1")
            shutil.copyfile(SBOM, cached_sbom_path(cache, digest))
        pin_all(bare, catalog, "dev", pins)
        trivy_cache = install_db(build_db(tmp / "db", updated_at=dt.datetime.now(dt.timezone.utc)), tmp / "trivy")
        settings = Settings.from_env({"TRIVY_CACHE_DIR": str(trivy_cache)})

        def watch_once(i: int) -> float:
            start = time.perf_counter()
            result = run(WatchOptions(catalog, "dev", repo=bare.as_uri(), ledger_file=tmp / f"ledger-{i}.json",
                                      sbom_cache=cache, skip_db_update=True, settings=settings))
            took = time.perf_counter() - start
            report = result.value
            bad = [s.problems for s in report.scans if not s.evaluated]
            assert not bad and len(report.scans) == N and all(s.sbom_source == "cache" for s in report.scans), bad
            return took

        def reference() -> float:
            opts = rescan.tool_options(settings, skip_db_update=True)
            start = time.perf_counter()
            for i in range(N):
                outcome = rescan.scan_sbom(SBOM, tmp / "ref" / str(i), VulnDbSettings(), **opts)
                assert outcome.status == "ok", outcome.reason
            return time.perf_counter() - start

        watch = min(watch_once(i) for i in range(3))
        ref = min(reference() for _ in range(3))
        print(f"gantry watch, {N} services, cached SBOMs: {watch:.2f} s (goal <= {GOAL:.0f} s; {os.cpu_count()} CPUs)")
        print(f"reference: trivy sbom x {N}, one after the other: {ref:.2f} s")
        print(f"ratio watch / reference: {watch / ref:.2f}")
        return 0 if watch <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
