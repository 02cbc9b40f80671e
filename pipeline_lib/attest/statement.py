"""The three in-toto Statement v1 documents gantry attests for every pushed image digest.

Sources: in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md),
SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance), CycloneDX as an in-toto predicate
(``https://cyclonedx.org/bom``, https://github.com/in-toto/attestation/blob/main/spec/predicates/cyclonedx.md).
The gate verdict's predicate type is gantry's own, versioned: :data:`VERDICT_TYPE`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pipeline_lib.core.errors import BadInput
from pipeline_lib.core.reference import check_digest

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PROVENANCE_TYPE = "https://slsa.dev/provenance/v1"
SBOM_TYPE = "https://cyclonedx.org/bom"
VERDICT_TYPE = "https://gantry.flashshop.dev/attestations/gate-verdict/v1"
BUILD_TYPE = "https://gantry.flashshop.dev/buildtypes/jenkins-image/v1"

#: kind (what users name in --require and file names) → predicate type
KINDS: dict[str, str] = {"provenance": PROVENANCE_TYPE, "sbom": SBOM_TYPE, "verdict": VERDICT_TYPE}
KIND_OF: dict[str, str] = {v: k for k, v in KINDS.items()}


def check_kinds(kinds: list[str] | tuple[str, ...], where: str = "--require") -> tuple[str, ...]:
    """Validate kind names (provenance, sbom, verdict); BadInput names the unknown one."""
    for k in kinds:
        if k not in KINDS:
            raise BadInput(where, f"unknown attestation {k!r} (known: {', '.join(KINDS)})")
    return tuple(dict.fromkeys(kinds))


def statement(image: str, digest: str, predicate_type: str, predicate: dict[str, Any]) -> dict[str, Any]:
    """A Statement v1 whose one subject is ``image`` (repository, no tag) at ``digest``."""
    algo, _, hexd = check_digest(digest).partition(":")
    return {"_type": STATEMENT_TYPE, "subject": [{"name": image, "digest": {algo: hexd}}],
            "predicateType": predicate_type, "predicate": predicate}


def canonical(doc: dict[str, Any]) -> bytes:
    """The payload bytes: compact JSON with sorted keys (stable, so re-signing is reproducible)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rfc3339(value: dt.datetime | str) -> str:
    if isinstance(value, str):
        return value
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class BuildInfo:
    """What the provenance records; Jenkins gives most of it (``JOB_URL``, ``BUILD_URL``,
    ``GIT_URL``, ``GIT_COMMIT``, ``GIT_BRANCH``). ``base_image`` is ``name@sha256:…``;
    ``requirements_digest`` the hex SHA-256 of the pinned requirements file (empty: none)."""

    builder_id: str
    repository: str
    commit: str
    ref: str
    service: str
    environment: str
    build_url: str
    started_on: dt.datetime | str
    finished_on: dt.datetime | str
    base_image: str = ""
    requirements_file: str = "requirements.txt"
    requirements_digest: str = ""

    @classmethod
    def from_json(cls, doc: Any, where: str) -> BuildInfo:
        """From a JSON mapping with these field names; BadInput names a missing field."""
        if not isinstance(doc, dict):
            raise BadInput(where, "must be a JSON object")
        required = ("builder_id", "repository", "commit", "ref", "service", "environment", "build_url",
                    "started_on", "finished_on")
        missing = [k for k in required if not isinstance(doc.get(k), str) or not doc.get(k)]
        if missing:
            raise BadInput(where, f"missing or empty: {', '.join(missing)}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(doc) - known)
        if unknown:
            raise BadInput(where, f"unknown field(s): {', '.join(unknown)}")
        return cls(**{k: v for k, v in doc.items() if isinstance(v, str)})


def provenance_predicate(info: BuildInfo) -> dict[str, Any]:
    """SLSA provenance v1: builder = the Jenkins job, external parameters = what a person chose."""
    deps: list[dict[str, Any]] = []
    if info.base_image:
        name, sep, digest = info.base_image.partition("@")
        if not sep:
            raise BadInput("provenance", f"base image {info.base_image!r} is not pinned by digest (name@sha256:…)")
        algo, _, hexd = check_digest(digest, "provenance: base image").partition(":")
        deps.append({"uri": f"oci://{name}", "digest": {algo: hexd}, "name": "base-image"})
    if info.requirements_digest:
        deps.append({"uri": f"git+{info.repository}@{info.commit}#{info.requirements_file}",
                     "digest": {"sha256": info.requirements_digest}, "name": "requirements"})
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"repository": info.repository, "commit": info.commit, "ref": info.ref,
                                   "service": info.service, "environment": info.environment},
            "internalParameters": {},
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": {"id": info.builder_id},
            "metadata": {"invocationId": info.build_url, "startedOn": _rfc3339(info.started_on),
                         "finishedOn": _rfc3339(info.finished_on)},
            "byproducts": [],
        },
    }


def sbom_predicate(doc: Any, where: str = "--sbom") -> dict[str, Any]:
    """The CycloneDX JSON document itself (as trivy writes it); BadInput when it is not CycloneDX."""
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise BadInput(where, "not a CycloneDX JSON document (bomFormat is not 'CycloneDX')")
    return doc


def verdict_predicate(verdict: Any, *, policy_bytes: bytes, policy_label: str = "",
                      db_updated_at: str = "", now: dt.datetime | None = None,
                      where: str = "--verdict") -> dict[str, Any]:
    """The gate's verdict from its ``verdict.json`` (:func:`scanners.formats.json.verdict_json`).

    Records the policy file's SHA-256 and environment, the vulnerability DB's age in hours
    (``db_updated_at``: Trivy's metadata UpdatedAt; unknown → None), findings by severity
    (summed over tools), the blocking count and the exit code; ``passed`` is exit code 0.
    """
    if not isinstance(verdict, dict):
        raise BadInput(where, "must be a JSON object (the gate's verdict.json)")
    exit_code, env, counts = verdict.get("exit_code"), verdict.get("environment"), verdict.get("counts")
    if not isinstance(exit_code, int) or isinstance(exit_code, bool) or not isinstance(env, str) \
            or not isinstance(counts, dict):
        raise BadInput(where, "not a gate verdict.json (needs exit_code, environment, counts)")
    by_severity: dict[str, int] = {}
    by_tool = counts.get("by_tool") or {}
    if isinstance(by_tool, dict):
        for severities in by_tool.values():
            if isinstance(severities, dict):
                for sev, n in severities.items():
                    if isinstance(n, int):
                        by_severity[sev] = by_severity.get(sev, 0) + n
    age_hours = None
    if db_updated_at:
        try:
            stamp = dt.datetime.fromisoformat(db_updated_at.replace("Z", "+00:00"))
        except ValueError:
            raise BadInput(where, f"vulnerability DB UpdatedAt {db_updated_at!r} is not a time") from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        age_hours = round(((now or dt.datetime.now(dt.timezone.utc)) - stamp).total_seconds() / 3600, 2)
    return {
        "passed": exit_code == 0,
        "status": verdict.get("status") if isinstance(verdict.get("status"), str) else "",
        "exitCode": exit_code,
        "environment": env,
        "policy": {"label": policy_label or str(verdict.get("policy") or ""),
                   "digest": {"sha256": sha256_of(policy_bytes)}},
        "vulnerabilityDb": {"updatedAt": db_updated_at or None, "ageHours": age_hours},
        "counts": {"bySeverity": dict(sorted(by_severity.items())),
                   "blocking": int(counts.get("blocking") or 0), "total": int(counts.get("total") or 0)},
        "generatedAt": verdict.get("generated_at") if isinstance(verdict.get("generated_at"), str) else "",
    }
