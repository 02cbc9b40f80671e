"""Verify an image's evidence: which bundles are valid, trusted, about this digest, and enough.

Rules (each failure is one problem line, ``<kind>: <source>: <what>``):

- a bundle must parse as a keyed Sigstore v0.3 DSSE bundle with exactly one signature (the
  bundle spec's rule: a second signature, good or bad, is refused), payload type
  ``application/vnd.in-toto+json``, signature over the DSSE PAE by the key its hint names;
- that key must be one of the *trusted* keys (per environment: a dev key proves nothing for prod);
- the statement must be in-toto Statement v1 and list the image digest among its subjects
  (an attestation copied from another digest, or naming an image only by tag, is refused);
- every *required* kind needs at least one such attestation; an invalid bundle is a problem even
  when another one is valid (fail closed); a bundle of a trusted shape but an untrusted key only
  counts when nothing trusted covers its kind (key rotation leaves old signatures behind);
- the verdict: the newest verdict for the target environment must say passed (exit code 0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from pipeline_lib.core.reference import check_digest

from .bundle import BundleError, parse
from .dsse import IN_TOTO_PAYLOAD_TYPE, pae
from .keys import key_hint, verify_signature
from .statement import KIND_OF, KINDS, STATEMENT_TYPE


class Invalid(ValueError):
    """One bundle failed a check; ``untrusted`` when only the key's trust is missing."""

    def __init__(self, what: str, *, untrusted: bool = False, claimed: str | None = None) -> None:
        super().__init__(what)
        self.untrusted = untrusted
        self.claimed = claimed


@dataclass
class Attestation:
    """A verified statement: its kind, predicate and the key that signed it."""

    kind: str
    predicate_type: str
    predicate: dict[str, Any]
    statement: dict[str, Any]
    hint: str
    source: str


def trusted_keys(keys: list[ec.EllipticCurvePublicKey]) -> dict[str, ec.EllipticCurvePublicKey]:
    """hint → key."""
    return {key_hint(k): k for k in keys}


def _claimed_type(payload: bytes) -> str | None:
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    t = doc.get("predicateType") if isinstance(doc, dict) else None
    return t if isinstance(t, str) else None


def verify_bundle(data: bytes, digest: str, trusted: dict[str, ec.EllipticCurvePublicKey],
                  source: str = "bundle") -> Attestation:
    """One bundle → its verified :class:`Attestation` about ``digest``; :class:`Invalid` otherwise."""
    digest = check_digest(digest)
    try:
        b = parse(data)
    except BundleError as exc:
        raise Invalid(str(exc)) from None
    claimed = _claimed_type(b.payload)
    if b.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise Invalid(f"payloadType {b.payload_type!r} is not {IN_TOTO_PAYLOAD_TYPE}", claimed=claimed)
    if len(b.signatures) != 1:
        raise Invalid(f"{len(b.signatures)} signatures: a Sigstore bundle carries exactly one", claimed=claimed)
    sig = b.signatures[0]
    if sig.keyid and sig.keyid != b.hint:
        raise Invalid(f"signature keyid {sig.keyid[:12]} is not the bundle's key {b.hint[:12]}", claimed=claimed)
    key = trusted.get(b.hint)
    if key is None:
        raise Invalid(f"signed by key {b.hint[:12]}, which is not trusted here", untrusted=True, claimed=claimed)
    if not verify_signature(key, sig.sig, pae(b.payload_type, b.payload)):
        raise Invalid(f"signature does not verify with key {b.hint[:12]} (payload or signature altered)",
                      claimed=claimed)
    try:
        st = json.loads(b.payload)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("signed payload is not JSON", claimed=claimed) from None
    if not isinstance(st, dict) or st.get("_type") != STATEMENT_TYPE:
        raise Invalid(f"payload is not an in-toto Statement v1 (_type {st.get('_type') if isinstance(st, dict) else None!r})",
                      claimed=claimed)
    ptype, predicate, subjects = st.get("predicateType"), st.get("predicate"), st.get("subject")
    if not isinstance(ptype, str) or not isinstance(predicate, dict) or not isinstance(subjects, list):
        raise Invalid("statement lacks predicateType, predicate or subject", claimed=claimed)
    algo, _, hexd = digest.partition(":")
    named = [s.get("digest", {}).get(algo) for s in subjects if isinstance(s, dict) and isinstance(s.get("digest"), dict)]
    if not any(named):
        raise Invalid("statement subject names no sha256 digest (an image only by tag is not evidence)",
                      claimed=claimed)
    if hexd not in named:
        raise Invalid(f"statement is about {algo}:{named[0][:12]}…, not {digest[:19]}… (copied from another image)",
                      claimed=claimed)
    kind = KIND_OF.get(ptype, "")
    return Attestation(kind, ptype, predicate, st, b.hint, source)


@dataclass
class Evidence:
    """What :func:`check_evidence` found: ``verified`` kind → attestations, ``problems`` lines."""

    digest: str
    verified: dict[str, list[Attestation]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "ok": self.ok, "problems": self.problems, "ignored": self.ignored,
                "verified": {k: [{"predicateType": a.predicate_type, "key": a.hint, "source": a.source}
                                 for a in v] for k, v in sorted(self.verified.items())}}


def _verdict_problem(verdicts: list[Attestation], environment: str | None) -> str | None:
    relevant = [a for a in verdicts if environment is None or a.predicate.get("environment") == environment]
    if not relevant:
        envs = ", ".join(sorted({str(a.predicate.get("environment")) for a in verdicts}))
        return f"verdict: no gate verdict for {environment} (gated for {envs} only; a verdict of " \
               f"another environment's policy is not evidence)"
    newest = max(relevant, key=lambda a: str(a.predicate.get("generatedAt") or ""))
    p = newest.predicate
    if p.get("passed") is not True or p.get("exitCode") != 0:
        return (f"verdict: {newest.source}: the gate did not pass under {p.get('environment')}'s policy "
                f"(exit code {p.get('exitCode')}, {p.get('counts', {}).get('blocking', '?')} blocking)")
    return None


def check_evidence(digest: str, bundles: list[tuple[str, bytes]], trusted: dict[str, ec.EllipticCurvePublicKey],
                   require: tuple[str, ...] = tuple(KINDS), environment: str | None = None) -> Evidence:
    """Verify every bundle found for ``digest`` and decide whether ``require`` is covered.

    ``bundles``: (source label, bytes); ``environment``: the target environment the verdict must
    be for (None: any). Never raises for bad evidence: every fault is a line in ``problems``.
    """
    digest = check_digest(digest)
    ev = Evidence(digest)
    untrusted: dict[str, list[str]] = {}
    for source, data in bundles:
        try:
            att = verify_bundle(data, digest, trusted, source)
        except Invalid as exc:
            kind = KIND_OF.get(exc.claimed or "", "attestation")
            if exc.untrusted:
                untrusted.setdefault(kind, []).append(f"{kind}: {source}: {exc}")
            else:
                ev.problems.append(f"{kind}: {source}: {exc}")
            continue
        if not att.kind:
            ev.ignored.append(f"{source}: predicate type {att.predicate_type} is not one gantry requires")
            continue
        ev.verified.setdefault(att.kind, []).append(att)
    for kind in require:
        if kind in ev.verified:
            continue
        if kind in untrusted:
            ev.problems.extend(untrusted[kind])
        else:
            ev.problems.append(f"{kind}: missing: no valid {KINDS[kind]} attestation for {digest[:19]}…")
    for kind, lines in untrusted.items():
        if kind not in require or kind in ev.verified:
            ev.ignored.extend(lines)
    if "verdict" in require and "verdict" in ev.verified:
        problem = _verdict_problem(ev.verified["verdict"], environment)
        if problem:
            ev.problems.append(problem)
    return ev
