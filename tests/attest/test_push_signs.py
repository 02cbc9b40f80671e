"""``gantry image push --evidence REPORTS``: when the environment has a signing key the push stage
signs provenance (Jenkins' environment), the Trivy SBOM and the gate verdict and pushes them as
referrers; the last line stays ``digest sha256:…`` (the Jenkinsfile reads it)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from pipeline_lib.cli import main
from tests.support.oci import image_layout

from .conftest import signed_catalog
from .helpers import SBOM, gate_verdict

pytestmark = pytest.mark.integration


def test_push_signs_when_the_environment_has_a_key(registry, keyset, tmp_path: Path, monkeypatch, capsys) -> None:
    catalog = signed_catalog(tmp_path, keyset)
    import yaml
    raw = yaml.safe_load(catalog.read_text())
    raw[0]["_catalog"]["signing"]["prod"]["key"] = keyset.prod.source
    catalog.write_text(yaml.safe_dump(raw, sort_keys=False))
    reports = tmp_path / "reports"
    (reports / "scans").mkdir(parents=True)
    (reports / "gate").mkdir()
    (reports / "scans" / "sbom.cdx.json").write_bytes(SBOM.read_bytes())
    (reports / "scans" / "trivy.outcome.json").write_text(json.dumps({"tool": "trivy", "status": "ok",
                                                                      "db_updated_at": "2026-12-05T06:00:00Z"}))
    (reports / "gate" / "verdict.json").write_text(json.dumps(gate_verdict("prod")))
    for k, v in {"JOB_URL": "https://jenkins.example/job/storefront/", "BUILD_URL": "https://jenkins.example/job/storefront/7/",
                 "GIT_URL": "https://github.com/flashshop/storefront.git", "GIT_COMMIT": "c0ffee" * 6 + "c0ff",
                 "GIT_BRANCH": "main"}.items():
        monkeypatch.setenv(k, v)
    layout, _ = image_layout(tmp_path / "layout", f"push-signs {uuid.uuid4().hex}")
    tag = f"t{uuid.uuid4().hex[:10]}"
    assert main(["image", "push", "--catalog", str(catalog), "--service", "storefront", "--env", "prod",
                 "--registry", registry.host, "--tag", tag, "--oci-layout", str(layout), "--ref", "app",
                 "--evidence", str(reports), "--output", str(tmp_path / "image.json")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("digest sha256:") and "signed: provenance, sbom, verdict" in out[-2]
    record = json.loads((tmp_path / "image.json").read_text())
    assert record["attestations"] == ["provenance", "sbom", "verdict"]
    ref = f"{registry.host}/shop/storefront@{record['digest']}"
    assert main(["image", "verify", ref, "--catalog", str(catalog), "--env", "prod"]) == 0
    # the provenance carries Jenkins' facts
    assert main(["image", "attestations", ref, "--out", str(tmp_path / "x")]) == 0
    import base64
    st = json.loads(base64.b64decode(json.loads((tmp_path / "x" / "provenance.sigstore.json").read_text())
                                     ["dsseEnvelope"]["payload"]))
    assert st["predicate"]["runDetails"]["builder"]["id"] == "https://jenkins.example/job/storefront/"
    assert st["predicate"]["buildDefinition"]["externalParameters"]["commit"] == "c0ffee" * 6 + "c0ff"
