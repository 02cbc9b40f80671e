"""DSSE (Dead Simple Signing Envelope) v1: the pre-authentication encoding and the envelope.

Source of the rule: https://github.com/secure-systems-lab/dsse/blob/master/protocol.md —
``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` with LEN the decimal
byte length; the signature is over the PAE, never over the payload alone.
"""

from __future__ import annotations

import base64

#: the in-toto payload type (https://github.com/in-toto/attestation/blob/main/spec/v1/envelope.md)
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """The bytes a DSSE signature covers."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def b64(data: bytes) -> str:
    """Standard base64 with padding (what the DSSE and Sigstore bundle JSON forms use)."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Decode standard or URL-safe base64 (DSSE accepts both); ValueError when it is not base64."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    s = text.strip().replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    return base64.b64decode(s, validate=True)
