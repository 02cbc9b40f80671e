"""One Trivy run archived in several formats is one run (issue 20, item 1).

Real Trivy scans (the DB built from the advisory files): a source tree with a vulnerable pin, a
misconfigured Dockerfile and a secret, and two small OCI images (Alpine packages + a Python
package under site-packages), each written as JSON and as SARIF. The same finding has the same
fingerprint in both formats; both files of one run count once; two images are two runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from pipeline_lib.stages.gate import GateOptions, decide
from scanners.policy import load_policy
from scanners.registry import parse_report
from tests.support.gate import evaluate_files
from tests.support.oci import CONFIG, LAYER, MANIFEST, blob, layer

APK_INSTALLED = """C:Q1
P:musl
V:1.1.22-r3
A:x86_64
o:musl
L:MIT

C:Q2
P:libcrypto1.1
V:1.1.1c-r0
A:x86_64
o:openssl
L:OpenSSL

"""
SITE = "usr/lib/python3.8/site-packages/requests-2.19.1.dist-info/METADATA"


def _trivy(trivy_bin: str, cache: Path, args: list[str], fmt: str, out: Path) -> Path:
    subprocess.run([trivy_bin, *args[:1], "--format", fmt, "--output", str(out), "--cache-dir", str(cache),
                    "--skip-db-update", "--skip-java-db-update", "--skip-check-update", "--no-progress",
                    "--skip-version-check", "--disable-telemetry", "--exit-code", "0", *args[1:]],
                   check=True, capture_output=True, timeout=300)
    return out


def _image(root: Path, marker: str) -> Path:
    """An OCI layout: Alpine 3.10 with a vulnerable libcrypto1.1, requests 2.19.1 in site-packages."""
    root.mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    data, diff_id = layer({"etc/alpine-release": b"3.10.2\n",
                           "etc/os-release": b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.10.2\n',
                           "lib/apk/db/installed": APK_INSTALLED.encode(),
                           SITE: b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.1\n",
                           "srv/marker.txt": marker.encode()})
    ld, lsize = blob(root, data)
    cd, csize = blob(root, json.dumps({"architecture": "amd64", "os": "linux",
                                       "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode())
    md, msize = blob(root, json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                                       "config": {"mediaType": CONFIG, "digest": cd, "size": csize},
                                       "layers": [{"mediaType": LAYER, "digest": ld, "size": lsize}]}).encode())
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": MANIFEST, "digest": md, "size": msize,
         "annotations": {"org.opencontainers.image.ref.name": "shop/app:1"}}]}))
    return root


@pytest.fixture(scope="module")
def fs_run(trivy_bin, trivy_cache, variants, tmp_path_factory) -> dict[str, Path]:
    """One ``trivy fs`` run over the PR variant plus a Dockerfile and a secret, as JSON and SARIF."""
    out = tmp_path_factory.mktemp("fs-run")
    src = out / "src"
    shutil.copytree(variants.pr.source, src)
    (src / "Dockerfile").write_text("FROM alpine:latest\nRUN apk add curl\nCMD [\"sh\"]\n")
    (src / "settings.py").write_text('token = "ghp_abcdefghijklmnopqrstuvwxyzABCDEF0123"\n')
    args = ["fs", "--scanners", "vuln,misconfig,secret", str(src)]
    return {fmt: _trivy(trivy_bin, trivy_cache, args, fmt, out / f"trivy.{fmt}") for fmt in ("json", "sarif")}


@pytest.fixture(scope="module")
def image_runs(trivy_bin, trivy_cache, tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Two images (different content, same packages), each scanned once, written as JSON and SARIF.

    Both are read from the same path (as a pipeline rebuilding ``image.oci`` would), so every
    finding of one has the fingerprint of the same finding of the other: only the run tells them
    apart (the image id)."""
    out = tmp_path_factory.mktemp("image-runs")
    runs = {}
    for name in ("one", "two"):
        shutil.rmtree(out / "image.oci", ignore_errors=True)
        layout = _image(out / "image.oci", name)
        args = ["image", "--scanners", "vuln", "--input", str(layout)]
        runs[name] = {fmt: _trivy(trivy_bin, trivy_cache, args, fmt, out / f"{name}.{fmt}") for fmt in ("json", "sarif")}
    return runs


def _fingerprints(path: Path) -> Counter:
    return Counter((f.kind, f.id, f.fingerprint) for f in parse_report(path).findings)


def test_the_scan_has_every_kind_of_finding(fs_run, image_runs) -> None:
    kinds = Counter(f.kind for f in parse_report(fs_run["json"]).findings)
    assert kinds["vulnerability"] and kinds["misconfiguration"] >= 2 and kinds["secret"] == 1
    raw = json.loads(image_runs["one"]["json"].read_text())
    classes = {r["Class"] for r in raw["Results"] if r.get("Vulnerabilities")}
    assert classes == {"os-pkgs", "lang-pkgs"}       # OS packages (image name) and a package path
    assert {v.get("PkgPath") for r in raw["Results"] for v in r.get("Vulnerabilities", [])} == {None, SITE}


def test_a_finding_has_one_fingerprint_whatever_the_format(fs_run, image_runs) -> None:
    assert _fingerprints(fs_run["json"]) == _fingerprints(fs_run["sarif"])
    for run in image_runs.values():
        assert _fingerprints(run["json"]) == _fingerprints(run["sarif"])


def test_json_and_sarif_of_one_run_count_once(fs_run, tmp_path) -> None:
    policy = load_policy(None)
    alone = {fmt: evaluate_files([p], policy=policy) for fmt, p in fs_run.items()}
    both = evaluate_files([fs_run["json"], fs_run["sarif"]], policy=policy)
    assert len(both.findings) == len(alone["json"].findings) == len(alone["sarif"].findings)
    assert both.counts() == alone["json"].counts()
    # a max-count policy that the scan passes with either file passes with both
    highs = alone["json"].counts()["trivy"]["HIGH"]
    assert highs >= 2
    strict = tmp_path / "policy.yaml"
    strict.write_text(f"version: 1\ndefaults:\n  fail_on: null\n  max: {{HIGH: {highs}}}\n")
    policy = load_policy(strict)
    for files in ([fs_run["json"]], [fs_run["sarif"]], [fs_run["json"], fs_run["sarif"]]):
        verdict = evaluate_files(files, policy=policy)
        assert verdict.exit_code == 0, (files, verdict.summary)


def test_a_baseline_from_the_json_matches_the_sarif(fs_run, image_runs, tmp_path) -> None:
    from scanners.formats import write_all

    policy = load_policy(None)
    for name, run in {"fs": fs_run, **image_runs}.items():
        base = write_all(evaluate_files([run["json"]], policy=policy), tmp_path / name)["findings.json"]
        verdict = evaluate_files([run["sarif"]], policy=policy, baseline=base)
        assert verdict.findings and not [e for e in verdict.findings if e.new], name
        assert not verdict.warnings
        # as the gate stage reads it: nothing introduced, nothing "fixed"
        staged = decide(GateOptions("dev", reports=[run["sarif"]], baseline=base))
        assert staged.fixed == [] and not [e for e in staged.findings if e.new], name


def test_two_images_are_two_runs(image_runs) -> None:
    """Same packages, same paths (equal fingerprints), but two images: each is counted."""
    ids = {json.loads(run["json"].read_text())["Metadata"]["ImageID"] for run in image_runs.values()}
    assert len(ids) == 2
    policy = load_policy(None)
    one = evaluate_files([image_runs["one"]["json"]], policy=policy)
    assert {e.finding.fingerprint for e in one.findings} == \
        {e.finding.fingerprint for e in evaluate_files([image_runs["two"]["json"]], policy=policy).findings}
    for fmts in (("json",), ("sarif",), ("json", "sarif")):
        files = [image_runs[n][fmt] for n in ("one", "two") for fmt in fmts]
        both = evaluate_files(files, policy=policy)
        assert len(both.findings) == 2 * len(one.findings), fmts
        assert both.counts()["trivy"]["HIGH"] == 2 * one.counts()["trivy"]["HIGH"]
