"""Interop: gantry's bundles verified by an independent implementation, npm ``@sigstore/verify``
(pinned in package.json), keyed and offline: the trust material holds only the public key, and the
Verifier expects no transparency-log entry, no timestamp and no SCT (``tlogThreshold: 0`` …).
Node 20 runs it with an engine warning (the package asks for Node 22+)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline_lib.attest.bundle import dumps, sign_statement
from pipeline_lib.attest.keys import public_pem
from pipeline_lib.attest.statement import provenance_predicate, statement
from tests.support.paths import PROJECT_ROOT

from .helpers import IMAGE, build_info, new_key, signed

SCRIPT = Path(__file__).with_name("sigstore_verify.js")
MODULE = PROJECT_ROOT / "node_modules" / "@sigstore" / "verify"


def _node() -> str:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        pytest.skip("node/npm are not installed")
    if not MODULE.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PROJECT_ROOT, check=True,
                       capture_output=True, timeout=300)
    return node


def _run(node: str, pub: Path, files: list[Path]) -> list[dict]:
    proc = subprocess.run([node, str(SCRIPT), str(pub), *map(str, files)], capture_output=True, text=True,
                          timeout=120, cwd=PROJECT_ROOT)
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == len(files), proc.stdout + proc.stderr
    return lines


def test_package_is_pinned() -> None:
    pkg = json.loads((PROJECT_ROOT / "package.json").read_text())
    assert pkg["devDependencies"]["@sigstore/verify"] == "4.1.3"


def test_100_bundles_verify_with_sigstore_js_and_a_tampered_one_does_not(tmp_path: Path) -> None:
    node = _node()
    signer = new_key(tmp_path / "key")
    pub = tmp_path / "key" / "gantry.pub"
    assert pub.read_text() == public_pem(signer.public_key)
    files: list[Path] = []
    # 33 full sets (provenance, sbom, verdict) over 33 digests + 1 provenance = 100 bundles
    for i in range(34):
        digest = "sha256:" + f"{i:064x}"
        bundles = signed(signer, digest=digest) if i < 33 else \
            {"provenance": dumps(sign_statement(statement(IMAGE, digest, "https://slsa.dev/provenance/v1",
                                                          provenance_predicate(build_info())), signer))}
        for kind, data in bundles.items():
            f = tmp_path / f"{i:02d}-{kind}.sigstore.json"
            f.write_bytes(data)
            files.append(f)
    assert len(files) == 100
    results = _run(node, pub, files)
    assert [r["file"] for r in results if not r["ok"]] == [], results[:3]

    doc = json.loads(files[0].read_bytes())
    payload = bytearray(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    payload[10] ^= 0x01
    doc["dsseEnvelope"]["payload"] = base64.b64encode(bytes(payload)).decode()
    tampered = tmp_path / "tampered.sigstore.json"
    tampered.write_bytes(dumps(doc))
    other = new_key(tmp_path / "other")
    foreign = tmp_path / "foreign.sigstore.json"
    foreign.write_bytes(signed(other)["provenance"])
    bad = _run(node, pub, [tampered, foreign])
    assert [r["ok"] for r in bad] == [False, False]
    assert "SIGNATURE_ERROR" in bad[0]["error"]
    assert "PUBLIC_KEY_ERROR" in bad[1]["error"]       # the other key is not in the trust material
