"""The pre-write evidence check of bump, promote, failover and event deploy.

:func:`check_before_write` reads the catalog's ``signing:`` policy for the *target* environment,
fetches the digest's bundles from the registry the cluster will pull from and verifies them with
that environment's trusted keys (the verdict must have passed under that environment's policy).
``required``: CheckFailed (exit 1), one problem line each, before anything is written; the
registry unreachable or no trusted key: exit 2 (cannot evaluate). ``warn``: the same findings as
warnings, never a failure. ``off``: nothing is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import BadInput, CheckFailed, GantryError
from pipeline_lib.core.reference import check_digest, parse_repository

# keys/verify (cryptography) are imported when evidence is checked: a bump whose environment has
# `signing: off` (or that only queues for a GitOps batch) does not pay their start-up.


@dataclass
class EvidenceDecision:
    """What the check found: ``mode`` (required | warn | off), ``verified`` kinds, ``warnings``."""

    environment: str
    mode: str
    registry: str = ""
    verified: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: ``<kind> <registry>/<repository>@<bundle digest prefix>`` of each verified attestation
    sources: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if self.mode == "off":
            return f"evidence not checked for {self.environment} (signing: off)"
        if self.warnings:
            return f"evidence for {self.environment}: {len(self.warnings)} problem(s), not enforced (warn)"
        return f"evidence verified for {self.environment}: {', '.join(self.verified)} in {self.registry}"


def trusted_for(catalog: Catalog, environment: str) -> dict:
    from .keys import load_public_key
    from .verify import trusted_keys
    policy = catalog.signing_for(environment)
    return trusted_keys([load_public_key(p, f"catalog signing.{environment}.trusted_keys") for p in policy.trusted_keys])


def check_before_write(catalog: Catalog, environment: str, image: str, digest: str, *, what: str,
                       client_for=None) -> EvidenceDecision:
    """Verify ``image@digest`` (``host/repository``) for ``environment``; raise CheckFailed when
    required evidence is missing or invalid. ``client_for(host)`` makes the registry client
    (default: :func:`pipeline_lib.image.registry.registry_for`)."""
    policy = catalog.signing_for(environment)
    decision = EvidenceDecision(environment, policy.evidence)
    if policy.evidence == "off":
        return decision
    check_digest(digest)
    name = parse_repository(image, what)
    decision.registry = name.host
    try:
        trusted = trusted_for(catalog, environment) if policy.trusted_keys else {}   # no key: no crypto import
        if not trusted:
            raise BadInput(f"catalog signing.{environment}",
                           f"no trusted public key: cannot verify evidence (evidence is {policy.evidence} in "
                           f"{environment}{'' if policy.configured else ' by default'}: list trusted_keys there, "
                           f"or opt out with evidence: \"off\")")
        if client_for is None:
            from pipeline_lib.image.registry import registry_for as client_for
        from .store import verify_in_registry
        ev = verify_in_registry(client_for(name.host), name.repository, digest, trusted, policy.require, environment)
    except GantryError as exc:
        if policy.evidence == "required":
            raise
        decision.warnings.append(f"{what}: evidence not checked: {exc}")
        return decision
    decision.verified = sorted(ev.verified)
    decision.sources = sorted(f"{kind} {a.source}" for kind, atts in ev.verified.items() for a in atts)
    if ev.problems:
        lines = [f"{what}: {image}@{digest[:19]}… for {environment}: {p}" for p in ev.problems]
        if policy.evidence == "required":
            raise CheckFailed(what, f"{len(ev.problems)} evidence problem(s) for {image}@{digest[:19]}…: "
                                    f"nothing written", problems=lines)
        decision.warnings.extend(lines)
    return decision


def check_all(catalog: Catalog, environment: str, images: list[tuple[str, str]], *, what: str,
              client_for=None) -> list[EvidenceDecision]:
    """:func:`check_before_write` for several ``(host/repository, digest)``; one CheckFailed with
    every problem line of every image (nothing is written for any of them)."""
    decisions, lines = [], []
    for image, digest in images:
        try:
            decisions.append(check_before_write(catalog, environment, image, digest, what=what, client_for=client_for))
        except CheckFailed as exc:
            lines.extend(exc.problems or [str(exc)])
    if lines:
        raise CheckFailed(what, f"{len(lines)} evidence problem(s): nothing written", problems=lines)
    return decisions
