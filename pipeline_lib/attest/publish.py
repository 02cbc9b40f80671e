"""Sign an image's evidence from the pipeline's files and publish it next to the image.

The inputs are what earlier stages wrote: a provenance facts file (JSON, :class:`.statement.BuildInfo`
fields), the Trivy stage's CycloneDX SBOM, the gate's ``verdict.json`` with the policy file it used
and the scan outcomes (``db_updated_at``: the vulnerability DB's age).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_lib.core.errors import BadInput, GantryError
from pipeline_lib.core.fileio import write_atomic
from pipeline_lib.core.reference import parse_repository

from .statement import BuildInfo, provenance_predicate, sbom_predicate, verdict_predicate


def read_json(path: Path, where: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{where} {path}", "no such file") from None
    except (OSError, ValueError) as exc:
        raise BadInput(f"{where} {path}", f"not readable JSON: {str(exc)[:160]}") from None


def db_updated_at(outcomes: Path | None) -> str:
    """The oldest ``db_updated_at`` of the ``*.outcome.json`` files in ``outcomes`` ("" if none)."""
    if outcomes is None:
        return ""
    stamps = []
    for f in sorted(Path(outcomes).glob("*.outcome.json")):
        doc = read_json(f, "--outcomes")
        if isinstance(doc, dict) and isinstance(doc.get("db_updated_at"), str) and doc["db_updated_at"]:
            stamps.append(doc["db_updated_at"])
    return min(stamps) if stamps else ""


@dataclass
class EvidenceFiles:
    """Where the predicates come from (None: that attestation is not made)."""

    provenance: Path | None = None
    sbom: Path | None = None
    verdict: Path | None = None
    policy: Path | None = None        # the gate's policy file (None: gantry's default policy)
    outcomes: Path | None = None      # scan outcomes directory


def predicates(files: EvidenceFiles, provenance: BuildInfo | None = None) -> dict[str, dict]:
    """kind → predicate; ``provenance`` (facts in hand) wins over ``files.provenance``."""
    out: dict[str, dict] = {}
    if provenance is not None:
        out["provenance"] = provenance_predicate(provenance)
    elif files.provenance:
        out["provenance"] = provenance_predicate(BuildInfo.from_json(read_json(files.provenance, "--provenance"),
                                                                     f"--provenance {files.provenance}"))
    if files.sbom:
        out["sbom"] = sbom_predicate(read_json(files.sbom, "--sbom"), f"--sbom {files.sbom}")
    if files.verdict:
        from scanners.policy import DEFAULT_POLICY, policy_label
        policy = files.policy or DEFAULT_POLICY
        try:
            policy_bytes = Path(policy).read_bytes()
        except OSError as exc:
            raise GantryError(f"--policy {policy}", f"cannot read: {exc.strerror or exc}") from None
        out["verdict"] = verdict_predicate(read_json(files.verdict, "--verdict"), policy_bytes=policy_bytes,
                                           policy_label=policy_label(files.policy),
                                           db_updated_at=db_updated_at(files.outcomes),
                                           where=f"--verdict {files.verdict}")
    return out


@dataclass
class Published:
    """What :func:`sign_image` did: one line per bundle, the key's hint, the seconds it took."""

    kinds: list[str]
    hint: str
    seconds: float
    lines: list[str] = field(default_factory=list)


def sign_image(image: str, digest: str, key: str, preds: dict[str, dict], *, out: Path | None = None,
               push: bool = True, client_for=None, key_password: str | None = None) -> Published:
    """Sign ``preds`` for ``image@digest`` (``host/repository``) with ``key`` (PEM path or
    ``awskms://…``); write the bundles to ``out/<kind>.sigstore.json`` and/or push them as referrers."""
    from .sign import attest_image, signer_for
    from .store import push_bundles
    started = time.monotonic()
    signer = signer_for(key, key_password)
    bundles = attest_image(image, digest, signer, preds)
    lines = []
    if out is not None:
        for kind, data in bundles.items():
            write_atomic(Path(out) / f"{kind}.sigstore.json", data)
            lines.append(f"sign: wrote {Path(out) / (kind + '.sigstore.json')}")
    if push:
        if client_for is None:
            from pipeline_lib.image.registry import registry_for as client_for
        name = parse_repository(image, "image sign")
        for p in push_bundles(client_for(name.host), name.repository, digest, bundles):
            lines.append(f"sign: {p.kind} -> {image}@{p.digest} (referrer of {digest[:19]}…, "
                         f"{'referrers API + ' if p.referrers_api else ''}tag schema)")
    seconds = time.monotonic() - started
    lines.append(f"sign: {len(bundles)} attestation(s) ({', '.join(bundles)}) signed by key {signer.hint[:12]} "
                 f"in {seconds:.2f}s")
    return Published(list(bundles), signer.hint, seconds, lines)


def _pinned_base(dockerfile: Path | None) -> str:
    """The first ``FROM name@sha256:…`` of the Dockerfile ("" when unpinned or unreadable)."""
    import re
    try:
        text = Path(dockerfile).read_text(encoding="utf-8") if dockerfile else ""
    except OSError:
        return ""
    m = re.search(r"(?im)^\s*FROM\s+(?:--platform=\S+\s+)?(\S+@sha256:[0-9a-f]{64})", text)
    return m.group(1) if m else ""


def build_info_from_env(env: dict[str, str], *, service: str, environment: str, started_on: Any,
                        finished_on: Any, context: Path | None = None, dockerfile: Path | None = None) -> BuildInfo:
    """Provenance facts from Jenkins' environment (``JOB_URL``, ``BUILD_URL``, ``GIT_URL``,
    ``GIT_COMMIT``, ``GIT_BRANCH``/``TAG_NAME``) and the build context: the Dockerfile's base image
    when pinned by digest, the SHA-256 of ``requirements.txt`` when there is one."""
    import hashlib
    missing = [k for k in ("JOB_URL", "BUILD_URL", "GIT_COMMIT") if not env.get(k)]
    if missing:
        raise BadInput("provenance", f"{', '.join(missing)} not set (Jenkins sets them; pass --provenance FILE)")
    req = Path(context) / "requirements.txt" if context else None
    req_digest = hashlib.sha256(req.read_bytes()).hexdigest() if req is not None and req.is_file() else ""
    return BuildInfo(builder_id=env["JOB_URL"], repository=env.get("GIT_URL", ""), commit=env["GIT_COMMIT"],
                     ref=env.get("TAG_NAME") or env.get("GIT_BRANCH", ""), service=service, environment=environment,
                     build_url=env["BUILD_URL"], started_on=started_on, finished_on=finished_on,
                     base_image=_pinned_base(dockerfile), requirements_digest=req_digest)
