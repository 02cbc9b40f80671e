"""Evidence for tests: real keys, real gate verdicts (the gate run on Trivy fixture reports),
a real Trivy CycloneDX SBOM, and a provenance of a build."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pipeline_lib.attest import keys
from pipeline_lib.attest.sign import attest_image
from pipeline_lib.attest.statement import (BuildInfo, provenance_predicate, sbom_predicate,
                                           verdict_predicate)
from pipeline_lib.stages.gate import GateOptions, decide
from scanners.formats.json import verdict_json
from scanners.policy import DEFAULT_POLICY
from tests.support.paths import FIXTURES

IMAGE = "127.0.0.1:5000/shop/storefront"
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
PASSING_REPORT = FIXTURES / "trivy" / "alpine-image-no-vulns.json"
FAILING_REPORT = FIXTURES / "trivy" / "many-vulns-image.json"
SBOM = FIXTURES / "trivy" / "fluentd-sbom.cdx.json"

_VERDICTS: dict[tuple[str, str], dict] = {}


def gate_verdict(environment: str, passing: bool = True) -> dict:
    """verdict.json of the real gate for a Trivy report (cached per environment and outcome)."""
    key = (environment, "pass" if passing else "fail")
    if key not in _VERDICTS:
        verdict = decide(GateOptions(environment=environment, reports=[PASSING_REPORT if passing else FAILING_REPORT]))
        _VERDICTS[key] = json.loads(json.dumps(verdict_json(verdict)))
    return _VERDICTS[key]


def build_info(environment: str = "prod") -> BuildInfo:
    return BuildInfo(builder_id="https://jenkins.flashshop.example/job/storefront/",
                     repository="https://github.com/flashshop/storefront.git", commit="0123456789abcdef" * 2 + "01234567",
                     ref="refs/heads/main", service="storefront", environment=environment,
                     build_url="https://jenkins.flashshop.example/job/storefront/42/",
                     started_on=dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.timezone.utc),
                     finished_on=dt.datetime(2026, 12, 5, 10, 4, tzinfo=dt.timezone.utc),
                     base_image="docker.io/library/python@sha256:" + "12" * 32,
                     requirements_digest="34" * 32)


def predicates(environment: str = "prod", passing: bool = True) -> dict[str, dict]:
    return {"provenance": provenance_predicate(build_info(environment)),
            "sbom": sbom_predicate(json.loads(SBOM.read_text())),
            "verdict": verdict_predicate(gate_verdict(environment, passing), policy_bytes=DEFAULT_POLICY.read_bytes(),
                                         db_updated_at="2026-12-05T06:00:00Z",
                                         now=dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.timezone.utc))}


def new_key(directory: Path) -> keys.LocalSigner:
    private, _ = keys.generate(directory)
    return keys.load_private_key(private)


def signed(signer: keys.LocalSigner, digest: str = DIGEST, environment: str = "prod",
           passing: bool = True, image: str = IMAGE) -> dict[str, bytes]:
    return attest_image(image, digest, signer, predicates(environment, passing))
