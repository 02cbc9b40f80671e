"""The verifier: good evidence passes; each of the twelve tamper cases is refused, named by kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_lib.attest.verify import check_evidence, trusted_keys, verify_bundle, Invalid

from . import tamper
from .helpers import DIGEST, new_key, signed


@pytest.fixture(scope="module")
def good(keyset: tamper.Keys) -> dict[str, bytes]:
    return signed(keyset.prod)


def _prod(keyset: tamper.Keys) -> dict:
    return trusted_keys([keyset.prod.public_key])


def test_good_evidence_verifies(keyset: tamper.Keys, good: dict[str, bytes]) -> None:
    ev = check_evidence(DIGEST, [(k, v) for k, v in good.items()], _prod(keyset), environment="prod")
    assert ev.ok, ev.problems
    assert sorted(ev.verified) == ["provenance", "sbom", "verdict"]
    assert ev.to_json()["ok"] is True


@pytest.mark.parametrize("case", sorted(tamper.CASES))
def test_tampered_evidence_is_refused(case: str, keyset: tamper.Keys, good: dict[str, bytes]) -> None:
    bundles, kind = tamper.CASES[case](good, keyset)
    # dev's key is trusted for dev, not for prod: prod trusts only its own key
    ev = check_evidence(DIGEST, [(f"bundle{i}", b) for i, b in enumerate(bundles)], _prod(keyset),
                        environment="prod")
    assert not ev.ok
    assert any(line.startswith(f"{kind}: ") for line in ev.problems), ev.problems


def test_the_reasons_are_specific(keyset: tamper.Keys, good: dict[str, bytes]) -> None:
    def reason(case: str) -> str:
        bundles, _ = tamper.CASES[case](good, keyset)
        return " | ".join(check_evidence(DIGEST, [("b", b) for b in bundles], _prod(keyset), environment="prod").problems)
    assert "signature does not verify" in reason("payload-byte-changed")
    assert "not trusted" in reason("dev-key-for-prod")
    assert "exactly one" in reason("duplicated-signatures-one-bad")
    assert "copied from another image" in reason("copied-from-other-digest")
    assert "only by tag" in reason("tag-only-subject")
    assert "did not pass under prod" in reason("failed-gate-verdict")
    assert "missing" in reason("wrong-predicate-type")
    assert "payloadType" in reason("payload-type-changed")


def test_a_dev_key_is_good_for_dev_and_a_dev_verdict_is_not_evidence_for_prod(keyset: tamper.Keys) -> None:
    dev = signed(keyset.dev, environment="dev")
    dev_trust = trusted_keys([keyset.dev.public_key])
    assert check_evidence(DIGEST, list(dev.items()), dev_trust, environment="dev").ok
    both = trusted_keys([keyset.dev.public_key, keyset.prod.public_key])
    ev = check_evidence(DIGEST, list(dev.items()), both, environment="prod")
    assert ev.problems == [p for p in ev.problems if p.startswith("verdict: no gate verdict for prod")] and ev.problems


def test_an_old_untrusted_signature_beside_a_trusted_one_is_ignored(keyset: tamper.Keys, good: dict[str, bytes]) -> None:
    old = signed(keyset.stranger)
    ev = check_evidence(DIGEST, [*good.items(), *old.items()], _prod(keyset), environment="prod")
    assert ev.ok and len(ev.ignored) == 3


def test_verify_bundle_raises_invalid_for_garbage(keyset: tamper.Keys) -> None:
    with pytest.raises(Invalid, match="not JSON"):
        verify_bundle(b"{", DIGEST, _prod(keyset))
    with pytest.raises(Invalid, match="mediaType"):
        verify_bundle(b'{"mediaType": "application/json"}', DIGEST, _prod(keyset))
