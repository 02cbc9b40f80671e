"""Real Trivy scans with a real (small) DB built from the GitHub Security Advisory files.

Expected ids, severities and fixed versions are computed from the advisory files
(tests/support/trivydb.expected_findings), never typed in.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
import zipfile
from pathlib import Path

import pytest

from pipeline_lib.demo.storefront import PR_BLOCKING_IDS, PR_EXPECTED_IDS, Variants
from pipeline_lib.image.build import build_image
from pipeline_lib.image.pydeps import prepare_build_context
from pipeline_lib.image.registry import RegistryClient
from pipeline_lib.image.trivydb import DbMetadata, parse_ref, push_db
from scanners import trivy
from scanners.gate import evaluate
from scanners.inputs import read_inputs
from scanners.policy import load_policy
from tests.support.trivydb import Expected, build_db, expected_findings, install_db, pins_of


def found(outcome) -> set[Expected]:
    assert outcome.status == "ok", outcome.reason
    report = trivy.parse_json(outcome.reports[0])
    return {Expected(f.id, f.package, f.installed_version, f.severity, f.fixed_version)
            for f in report.findings if f.kind == "vulnerability"}


def gate(outcome, env: str = "dev"):
    """The gate on one scan, as the Gate stage reads it (the outcome's reports, parsed)."""
    inputs = read_inputs([], [outcome])
    return evaluate(inputs.parsed, inputs.outcomes, load_policy(None), environment=env, input_errors=inputs.errors)


def fs_scan(src: Path, out: Path, cache: Path, **opts):
    return trivy.run_fs(src, out, scanners=("vuln",), sbom=False, cache_dir=cache, **opts)


def test_the_pr_pin_has_blocking_advisories_and_main_has_none(variants: Variants) -> None:
    pr = expected_findings(pins_of(variants.pr.source / "requirements.txt"))
    main = expected_findings(pins_of(variants.main.source / "requirements.txt"))
    assert main == set()
    assert {e.id for e in pr} == set(PR_EXPECTED_IDS)     # the ids the demo documents
    assert {e.id for e in pr if e.severity in ("HIGH", "CRITICAL")} == set(PR_BLOCKING_IDS)
    assert f"-{variants.package}=={variants.fixed}" in variants.diff
    assert f"+{variants.package}=={variants.vulnerable}" in variants.diff


def test_fs_scan_reports_the_advisories_of_the_pins(trivy_bin, trivy_cache, variants, tmp_path) -> None:
    pr = fs_scan(variants.pr.source, tmp_path / "pr", trivy_cache, skip_db_update=True)
    expected = expected_findings(pins_of(variants.pr.source / "requirements.txt"))
    assert expected and found(pr) == expected
    assert pr.db_updated_at == json.loads((trivy_cache / "db" / "metadata.json").read_text())["UpdatedAt"]
    main = fs_scan(variants.main.source, tmp_path / "main", trivy_cache, skip_db_update=True)
    assert found(main) == set()


def test_fs_scan_of_every_advisory(trivy_bin, trivy_cache, tmp_path) -> None:
    """One project per PyPI advisory, its packages pinned at the first affected version: each
    project reports exactly the advisories the files say (ids, GHSA severity, fixed versions)."""
    from tests.support.trivydb import GHSA_DIR, pypi_name
    expected: dict[str, set[Expected]] = {}
    for path in sorted(GHSA_DIR.glob("*.json")):
        pins = {}
        for aff in json.loads(path.read_text())["affected"]:
            if aff["package"]["ecosystem"] != "PyPI":
                continue
            first = [e["introduced"] for r in aff["ranges"] for e in r["events"] if e.get("introduced", "0") != "0"]
            pins.setdefault(pypi_name(aff["package"]["name"]), first[0] if first else "0.1")
        if pins:
            (tmp_path / "src" / path.stem).mkdir(parents=True)
            (tmp_path / "src" / path.stem / "requirements.txt").write_text(
                "".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
            expected[f"{path.stem}/requirements.txt"] = expected_findings(pins)
    outcome = fs_scan(tmp_path / "src", tmp_path / "out", trivy_cache, skip_db_update=True)
    assert outcome.status == "ok", outcome.reason
    got: dict[str, set[Expected]] = {t: set() for t in expected}
    for f in trivy.parse_json(outcome.reports[0]).findings:
        got.setdefault(f.target, set()).add(Expected(f.id, f.package, f.installed_version, f.severity,
                                                     f.fixed_version))
    assert got == expected
    advisory_ids = {next((a for a in json.loads((GHSA_DIR / (t.split("/")[0] + ".json")).read_text())["aliases"]
                          if a.startswith("CVE-")), t.split("/")[0]) for t in expected}
    assert advisory_ids <= {e.id for v in got.values() for e in v}


@pytest.mark.integration
def test_image_scan_sees_the_vendored_packages(trivy_bin, trivy_cache, variants, wheel_cache, podman,
                                               registry, tmp_path) -> None:
    client = podman.client()
    context = tmp_path / "ctx"
    pins = prepare_build_context(variants.pr.source, context, wheel_cache=wheel_cache)
    assert {p.name: p.version for p in pins} == pins_of(variants.pr.source / "requirements.txt")
    ref = f"{registry.host}/shop/storefront:pr-{uuid.uuid4().hex[:8]}"
    image = build_image(client, context, "Dockerfile", [ref])
    archive = tmp_path / "image.tar"
    with open(archive, "wb") as fh:
        for chunk in client.images.get(image.id).save():
            fh.write(chunk)
    outcome = trivy.run_image(ref, tmp_path / "out", input_tar=archive, scanners=("vuln",), sbom=False,
                              cache_dir=trivy_cache, skip_db_update=True)
    expected = expected_findings(pins_of(variants.pr.source / "requirements.txt"))
    assert expected and found(outcome) == expected
    raw = json.loads(outcome.reports[0].read_text())
    paths = {v["PkgPath"] for r in raw["Results"] for v in r.get("Vulnerabilities", [])}
    assert paths == {f"usr/local/lib/python3.11/site-packages/{variants.package}-{variants.vulnerable}.dist-info/METADATA"}
    # the gate blocks the PR image on the HIGH advisory and names it
    verdict = gate(outcome, "dev")
    assert verdict.exit_code == 1
    assert {e.finding.id for e in verdict.blocking} == {e.id for e in expected if e.severity in ("HIGH", "CRITICAL")}


def test_db_repository_pull_from_the_local_registry(trivy_bin, trivy_db, registry, variants, tmp_path) -> None:
    ref = parse_ref(f"{registry.host}/aquasecurity/trivy-db:2")
    push_db(RegistryClient(registry.host), ref, trivy_db)
    cache = tmp_path / "empty-cache"
    outcome = fs_scan(variants.pr.source, tmp_path / "out", cache, db_repository=str(ref))
    assert found(outcome) == expected_findings(pins_of(variants.pr.source / "requirements.txt"))
    pulled = DbMetadata.read(cache / "db" / "metadata.json")
    assert pulled.updated_at == DbMetadata.read(trivy_db / "metadata.json").updated_at
    assert outcome.db_updated_at and outcome.java_db_updated_at == ""


@pytest.mark.parametrize("env, days, code", [("dev", 10, 2), ("prod", 2, 2), ("dev", 2, 1), ("event", 8, 2)])
def test_stale_db_is_not_a_scan(trivy_bin, trivydb_builder, variants, tmp_path, env, days, code) -> None:
    updated = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days, minutes=5)
    cache = install_db(build_db(tmp_path / "db", updated_at=updated), tmp_path / "cache")
    outcome = fs_scan(variants.pr.source, tmp_path / "out", cache, skip_db_update=True)
    verdict = gate(outcome, env)
    assert verdict.exit_code == code, verdict.summary
    if code == 2:
        assert f"vulnerability DB is {days} days 0 h old" in verdict.summary
        assert any(r.name == "vulnerability DB age" and r.status == "error" for r in verdict.rules)
    else:   # fresh enough: the findings decide (the PR pin has a HIGH advisory)
        assert any(r.name == "vulnerability DB age" and r.status == "pass" for r in verdict.rules)


@pytest.mark.integration
def test_jar_without_java_db_cannot_be_evaluated(trivy_bin, trivy_db, registry, podman, tmp_path) -> None:
    push_db(RegistryClient(registry.host), parse_ref(f"{registry.host}/jar-case/trivy-db:2"), trivy_db)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    with zipfile.ZipFile(ctx / "app.jar", "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        jar.writestr("META-INF/maven/com.example/app/pom.properties",
                     "groupId=com.example\nartifactId=app\nversion=1.0.0\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY app.jar /app/app.jar\n")
    client = podman.client()
    image = build_image(client, ctx, "Dockerfile", [f"{registry.host}/shop/jar:{uuid.uuid4().hex[:8]}"])
    archive = tmp_path / "image.tar"
    with open(archive, "wb") as fh:
        for chunk in client.images.get(image.id).save():
            fh.write(chunk)
    outcome = trivy.run_image("jar", tmp_path / "out", input_tar=archive, scanners=("vuln",), sbom=False,
                              cache_dir=tmp_path / "cache", db_repository=f"{registry.host}/jar-case/trivy-db:2")
    assert outcome.status == "error"
    assert "Java archives but no Java DB" in outcome.reason
    verdict = gate(outcome, "dev")
    assert verdict.exit_code == 2 and verdict.summary.startswith("cannot evaluate")
    assert "Java DB" in verdict.summary


def test_gantry_scan_takes_the_mirror_from_the_policy(trivy_bin, trivy_db, registry, variants, tmp_path,
                                                      capsys) -> None:
    from pipeline_lib.cli import main

    ref = f"{registry.host}/policy-mirror/trivy-db:2"
    push_db(RegistryClient(registry.host), parse_ref(ref), trivy_db)
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nenvironments:\n  prod:\n    vulnerability_db: {{repository: '{ref}', max_age: 24h}}\n")
    cache = tmp_path / "cache"
    code = main(["scan", "trivy", "--src", str(variants.pr.source), "--out", str(tmp_path / "out"), "--scanners", "vuln",
                 "--no-sbom", "--cache-dir", str(cache), "--policy", str(policy), "--env", "prod"])
    assert code == 0, capsys.readouterr()
    assert (cache / "db" / "metadata.json").is_file()     # pulled from the policy's mirror
    outcome = json.loads((tmp_path / "out" / "trivy.outcome.json").read_text())
    assert outcome["db_updated_at"] == DbMetadata.read(trivy_db / "metadata.json").to_json()["UpdatedAt"]
