"""``gantry trivy-db mirror|push`` between two real docker-registry instances."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import requests

from pipeline_lib.cli import main
from pipeline_lib.core.reference import MANIFEST_ACCEPT
from pipeline_lib.image.registry import RegistryClient
from pipeline_lib.image.trivydb import JAVA_DB, DbMetadata, parse_ref, push_db
from tests.support.trivydb import build_db

pytestmark = pytest.mark.integration


def manifest(registry, repo: str, tag: str) -> bytes | None:
    resp = requests.get(f"{registry.url}/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}, timeout=10)
    return resp.content if resp.status_code == 200 else None


def gantry(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_mirror_copies_by_digest_then_is_idempotent(registry, registry_tokyo, trivy_db, capsys, tmp_path) -> None:
    src, dst = f"{registry.host}/m1/trivy-db:2", f"{registry_tokyo.host}/mirror1/trivy-db:2"
    code, out, err = gantry(capsys, "trivy-db", "push", "--db-dir", str(trivy_db), "--to", src, "--format", "json")
    assert code == 0, err
    pushed = json.loads(out)
    source_body = manifest(registry, "m1/trivy-db", "2")
    assert pushed["digest"] == "sha256:" + hashlib.sha256(source_body).hexdigest()
    updated = DbMetadata.read(trivy_db / "metadata.json").to_json()["UpdatedAt"]

    code, out, err = gantry(capsys, "trivy-db", "mirror", "--from", src, "--to", dst)
    assert code == 0, err
    assert manifest(registry_tokyo, "mirror1/trivy-db", "2") == source_body     # byte for byte: same digest
    assert f"UpdatedAt {updated}" in out and "copied: 2 blob(s) uploaded" in out
    assert "100%" in err                                                       # progress on stderr

    code, out, err = gantry(capsys, "trivy-db", "mirror", "--from", src, "--to", dst, "--format", "json")
    assert code == 0, err
    (again,) = json.loads(out)["results"]
    assert again["already_present"] and again["bytes_uploaded"] == 0 and again["digest"] == pushed["digest"]
    assert again["metadata"]["UpdatedAt"] == updated
    code, out, _ = gantry(capsys, "trivy-db", "mirror", "--from", src, "--to", dst)
    assert "already present, 0 bytes copied" in out


def test_dry_run_writes_nothing(registry, registry_tokyo, trivy_db, capsys) -> None:
    src, dst = f"{registry.host}/m2/trivy-db", f"{registry_tokyo.host}/mirror2/trivy-db"
    push_db(RegistryClient(registry.host), parse_ref(src), trivy_db)
    code, out, err = gantry(capsys, "trivy-db", "mirror", "--from", src, "--to", dst, "--dry-run", "--format", "json")
    assert code == 0, err
    (r,) = json.loads(out)["results"]
    assert r["dry_run"] and r["blobs_missing"] == 2 and r["bytes_missing"] == r["size"] > 0
    assert manifest(registry_tokyo, "mirror2/trivy-db", "2") is None


def test_the_mirror_tag_follows_a_new_upstream_db(registry, registry_tokyo, trivydb_builder, capsys, tmp_path) -> None:
    src, dst = f"{registry.host}/m3/trivy-db:2", f"{registry_tokyo.host}/mirror3/trivy-db:2"
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
    for i, when in enumerate((old, None)):
        db = build_db(tmp_path / f"db{i}", updated_at=when)
        push_db(RegistryClient(registry.host), parse_ref(src), db)
        code, out, err = gantry(capsys, "trivy-db", "mirror", "--from", src, "--to", dst, "--format", "json")
        assert code == 0, err
        (r,) = json.loads(out)["results"]
        assert not r["already_present"]
        assert r["metadata"]["UpdatedAt"] == DbMetadata.read(db / "metadata.json").to_json()["UpdatedAt"]
        assert manifest(registry_tokyo, "mirror3/trivy-db", "2") == manifest(registry, "m3/trivy-db", "2")


def test_java_db_is_mirrored_beside_the_db(registry, registry_tokyo, trivy_db, capsys, tmp_path) -> None:
    # the mirror copies artifacts by digest and reads only metadata.json: the Java DB's bbolt
    # content does not matter here (no Java DB can be built offline), its artifact format does
    java = tmp_path / "java-db"
    java.mkdir()
    shutil.copy(trivy_db / "trivy.db", java / JAVA_DB.db_file)
    meta = json.loads((trivy_db / "metadata.json").read_text()) | {"Version": JAVA_DB.schema_version}
    (java / "metadata.json").write_text(json.dumps(meta))
    code, _, err = gantry(capsys, "trivy-db", "push", "--java", "--db-dir", str(java),
                          "--to", f"{registry.host}/m4/trivy-java-db:1")
    assert code == 0, err
    push_db(RegistryClient(registry.host), parse_ref(f"{registry.host}/m4/trivy-db:2"), trivy_db)
    code, out, err = gantry(capsys, "trivy-db", "mirror", "--from", f"{registry.host}/m4/trivy-db:2",
                            "--to", f"{registry_tokyo.host}/mirror4/trivy-db:2", "--java-db", "--format", "json")
    assert code == 0, err
    kinds = {r["kind"]: r for r in json.loads(out)["results"]}
    assert set(kinds) == {"db", "java-db"}
    assert kinds["java-db"]["destination"] == f"{registry_tokyo.host}/mirror4/trivy-java-db:1"
    assert manifest(registry_tokyo, "mirror4/trivy-java-db", "1") == manifest(registry, "m4/trivy-java-db", "1")
    assert kinds["java-db"]["metadata"]["Version"] == JAVA_DB.schema_version


def test_not_a_db_artifact_and_missing_source_are_one_line_errors(registry, registry_tokyo, trivy_db, capsys,
                                                                  tmp_path) -> None:
    # a Java DB artifact where a DB is expected: wrong layer media type
    java = tmp_path / "j"
    java.mkdir()
    shutil.copy(trivy_db / "trivy.db", java / JAVA_DB.db_file)
    shutil.copy(trivy_db / "metadata.json", java / "metadata.json")
    push_db(RegistryClient(registry.host), parse_ref(f"{registry.host}/m5/trivy-db:2"), java, JAVA_DB)
    code, out, err = gantry(capsys, "trivy-db", "mirror", "--from", f"{registry.host}/m5/trivy-db:2",
                            "--to", f"{registry_tokyo.host}/mirror5/trivy-db:2")
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1].startswith("gantry: ") and "not a Trivy db artifact" in err
    assert manifest(registry_tokyo, "mirror5/trivy-db", "2") is None
    code, _, err = gantry(capsys, "trivy-db", "mirror", "--from", f"{registry.host}/nothing/trivy-db:2",
                          "--to", f"{registry_tokyo.host}/mirror6/trivy-db:2")
    assert code == 2 and "not found" in err.splitlines()[-1]
    code, _, err = gantry(capsys, "trivy-db", "mirror", "--from", "trivy-db:2", "--to", f"{registry_tokyo.host}/x:2")
    assert code == 2 and "must start with a registry host" in err
