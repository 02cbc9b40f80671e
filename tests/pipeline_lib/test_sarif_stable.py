"""Issue 25: code-scanning alerts that stay true across tags and rebuilds.

30 builds of one service: the same Trivy findings (tests/fixtures/trivy/alpine-3.9-image.json,
plus one npm result inside the image) scanned from a new tag, image id and report id each time
(every fifth build by digest). ``gantry gate --service`` writes report.sarif; ``gantry
code-scanning`` uploads each to a local stand-in of GitHub's code-scanning API (the documented
request schema, tests/pipeline_lib/test_codescanning.py). Every upload must carry the same
``automationDetails.id`` and the same fingerprints and locations: nothing for GitHub to reopen.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from pipeline_lib.cli import main
from tests.pipeline_lib.test_codescanning import REPO, SHA, TOKEN, FakeCodeScanning
from tests.support.paths import FIXTURES

BUILDS = 30
REPOSITORY = "127.0.0.1:5000/shop/storefront"


@pytest.fixture()
def gh(httpserver, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    return FakeCodeScanning(httpserver)


def build_report(base: dict, n: int, path: Path) -> Path:
    """Build ``n``'s Trivy report: new tag (or digest), image id, report id and time; same findings."""
    doc = copy.deepcopy(base)
    h = hashlib.sha256(f"build {n}".encode()).hexdigest()
    ref = f"{REPOSITORY}@sha256:{h}" if n % 5 == 4 else f"{REPOSITORY}:1.{n}.0-{h[:7]}"
    doc["ArtifactName"] = ref
    doc["ArtifactID"] = doc["Metadata"]["ImageID"] = f"sha256:{h}"
    doc["ReportID"] = f"017b7d41-e09f-7000-80ea-{n:012d}"
    doc["CreatedAt"] = f"2026-12-{1 + n % 28:02d}T10:00:00Z"
    doc["Metadata"]["RepoTags"] = [ref] if "@" not in ref else []
    os_result = doc["Results"][0]
    os_result["Target"] = f"{ref} (alpine 3.9.4)"
    npm = {"Target": "app/package-lock.json", "Class": "lang-pkgs", "Type": "npm",
           "Vulnerabilities": [dict(os_result["Vulnerabilities"][0], PkgName="lodash", InstalledVersion="4.17.20",
                                    PkgPath="app/node_modules/lodash/package.json")]}
    doc["Results"] = [os_result, npm]
    path.write_text(json.dumps(doc))
    return path


def results_of(sarif: dict) -> list[tuple]:
    return [(run["tool"]["driver"]["name"], run["automationDetails"]["id"], r["ruleId"],
             json.dumps(r["partialFingerprints"], sort_keys=True),
             tuple(loc["physicalLocation"]["artifactLocation"]["uri"] for loc in r["locations"]))
            for run in sarif["runs"] for r in run["results"]]


def test_thirty_builds_same_fingerprints_locations_and_automation_id(gh, httpserver, tmp_path, capsys) -> None:
    base = json.loads((FIXTURES / "trivy" / "alpine-3.9-image.json").read_text())
    seen: list[list[tuple]] = []
    for n in range(BUILDS):
        report = build_report(base, n, tmp_path / f"trivy-{n}.json")
        out = tmp_path / f"gate-{n}"
        assert main(["gate", str(report), "--env", "prod", "--service", "storefront", "--report-dir", str(out)]) == 1
        sarif = json.loads((out / "report.sarif").read_text())
        assert "1." not in json.dumps(results_of(sarif))   # no tag anywhere it matters
        seen.append(results_of(sarif))
        assert main(["code-scanning", "--repo", REPO, "--sha", SHA, "--ref", "refs/heads/main",
                     "--api-url", httpserver.url_for(""), "--sarif", str(out / "report.sarif")]) == 0
    capsys.readouterr()
    first = seen[0]
    assert len(first) == 7 and all(s == first for s in seen), "a build changed a fingerprint, location or category"
    uris = {uri for *_, locs in first for uri in locs}
    assert uris == {REPOSITORY, "app/package-lock.json"}   # the repository; a path inside the image
    assert {json.loads(fp)["imageRepository/v1"] for *_, fp, _ in first} == {REPOSITORY}

    assert len(gh.uploads) == BUILDS   # one tool: one upload per build, each one analysis
    assert {u["sarif"]["runs"][0]["automationDetails"]["id"] for u in gh.uploads} == {"gantry/storefront/prod/"}
    assert {json.dumps(results_of(u["sarif"])) for u in gh.uploads} == {json.dumps(first)}
    assert {(u["ref"], u["commit_sha"]) for u in gh.uploads} == {("refs/heads/main", SHA)}


def test_each_environment_has_its_own_category(tmp_path) -> None:
    base = json.loads((FIXTURES / "trivy" / "alpine-3.9-image.json").read_text())
    report = build_report(base, 1, tmp_path / "trivy.json")
    ids = set()
    for env in ("dev", "prod"):
        main(["gate", str(report), "--env", env, "--service", "storefront", "--report-dir", str(tmp_path / env)])
        sarif = json.loads((tmp_path / env / "report.sarif").read_text())
        ids |= {run["automationDetails"]["id"] for run in sarif["runs"]}
    assert ids == {"gantry/storefront/dev/", "gantry/storefront/prod/"}


@pytest.mark.parametrize("target, repo", [
    ("127.0.0.1:5000/shop/web:1.4.2 (debian 12.5)", "127.0.0.1:5000/shop/web"),
    (f"ecr.example.com/shop/web@sha256:{'a' * 64}", "ecr.example.com/shop/web"),
    (f"ecr.example.com/shop/web:1.0@sha256:{'b' * 64}", "ecr.example.com/shop/web"),
    ("alpine:3.19 (alpine 3.19.1)", "alpine"),
    ("127.0.0.1:5000/shop/web", None),            # no tag, no digest: left as it is
    ("app/package-lock.json", None),
    ("src/main/App.java", None),
    ("", None),
])
def test_image_repository(target, repo) -> None:
    from scanners.formats.sarif import image_repository

    assert image_repository(target) == repo
