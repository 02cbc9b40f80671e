"""``gantry image keygen|sign|verify|attestations`` against a real docker-registry 2.8, and
the no-network rule: verification opens no socket but to the loopback registry, and none at
all for ``--key`` verification of exported bundles (Python audit hooks, in a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_lib.cli import main
from pipeline_lib.image.registry import RegistryClient
from tests.support.paths import PROJECT_ROOT

from .helpers import SBOM, build_info, gate_verdict
from .registry_helpers import push_image

pytestmark = pytest.mark.integration


def _inputs(tmp: Path, environment: str = "prod", passing: bool = True) -> list[str]:
    info = build_info(environment)
    prov = {k: (v.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(v, "strftime") else v) for k, v in info.__dict__.items()}
    (tmp / "provenance.json").write_text(json.dumps(prov))
    (tmp / "verdict.json").write_text(json.dumps(gate_verdict(environment, passing)))
    (tmp / "outcomes").mkdir(exist_ok=True)
    (tmp / "outcomes" / "trivy.outcome.json").write_text(json.dumps({"tool": "trivy", "status": "ok",
                                                                     "db_updated_at": "2026-12-05T06:00:00Z"}))
    return ["--provenance", str(tmp / "provenance.json"), "--sbom", str(SBOM), "--verdict", str(tmp / "verdict.json"),
            "--outcomes", str(tmp / "outcomes")]


@pytest.fixture()
def keydir(tmp_path: Path, capsys) -> Path:
    assert main(["image", "keygen", "--out", str(tmp_path / "keys")]) == 0
    assert "gantry.key" in capsys.readouterr().out
    return tmp_path / "keys"


def test_sign_verify_export_round_trip(registry, keydir: Path, tmp_path: Path, capsys) -> None:
    repo, digest = push_image(RegistryClient(registry.host), tmp_path)
    ref = f"{registry.host}/{repo}@{digest}"
    assert main(["image", "sign", ref, "--key", str(keydir / "gantry.key"), *_inputs(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("tag schema") == 3
    assert main(["image", "verify", ref, "--key", str(keydir / "gantry.pub")]) == 0
    assert "provenance, sbom, verdict verified" in capsys.readouterr().out
    assert main(["image", "verify", ref, "--key", str(keydir / "gantry.pub"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and sorted(doc["verified"]) == ["provenance", "sbom", "verdict"]
    assert main(["image", "attestations", ref, "--out", str(tmp_path / "exported")]) == 0
    capsys.readouterr()
    names = sorted(p.name for p in (tmp_path / "exported").iterdir())
    assert names == ["provenance.sigstore.json", "sbom.sigstore.json", "verdict.sigstore.json"]
    assert main(["image", "verify", ref, "--key", str(keydir / "gantry.pub"), "--bundles",
                 str(tmp_path / "exported")]) == 0
    capsys.readouterr()
    # a key that did not sign: exit 1, one line per kind
    assert main(["image", "keygen", "--out", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    assert main(["image", "verify", ref, "--key", str(tmp_path / "other" / "gantry.pub")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("gantry: image verify: ") and "not trusted" in line for line in err)


def test_missing_evidence_is_1_and_bad_inputs_are_2(registry, keydir: Path, tmp_path: Path, capsys) -> None:
    repo, digest = push_image(RegistryClient(registry.host), tmp_path)
    ref = f"{registry.host}/{repo}@{digest}"
    assert main(["image", "sign", ref, "--key", str(keydir / "gantry.key"), "--sbom", str(SBOM)]) == 0
    capsys.readouterr()
    assert main(["image", "verify", ref, "--key", str(keydir / "gantry.pub"), "--require", "sbom"]) == 0
    assert main(["image", "verify", ref, "--key", str(keydir / "gantry.pub")]) == 1
    err = capsys.readouterr().err
    assert "provenance: missing" in err and "verdict: missing" in err and "sbom" not in err
    assert main(["image", "verify", ref, "--key", str(keydir / "gantry.key.nope")]) == 2
    assert main(["image", "verify", ref, "--key", str(keydir / "gantry.pub"), "--require", "magic"]) == 2
    assert main(["image", "verify", f"127.0.0.1:9/{repo}@{digest}", "--key", str(keydir / "gantry.pub")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("gantry: ") for line in err) and len(err) == 3


def test_sign_refuses_p384_and_unknown_images(registry, tmp_path: Path, capsys) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "p384.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    ref = f"{registry.host}/shop/none@sha256:{'0' * 64}"
    assert main(["image", "sign", ref, "--key", str(tmp_path / "p384.key"), "--sbom", str(SBOM)]) == 2
    assert "not P-256" in capsys.readouterr().err
    assert main(["image", "keygen", "--out", str(tmp_path / "k")]) == 0
    assert main(["image", "sign", ref, "--key", str(tmp_path / "k" / "gantry.key"), "--sbom", str(SBOM)]) == 2
    assert "no image" in capsys.readouterr().err


_AUDITED = r"""
import json, sys
events = []
def hook(event, args):
    if event == "socket.connect":
        events.append(["connect", repr(args[1])])
    elif event == "socket.__new__":
        events.append(["socket", int(args[1])])
sys.addaudithook(hook)
from pipeline_lib.cli import main
rc = main(sys.argv[1:])
with open(__import__("os").environ["AUDIT_OUT"], "w") as fh:
    json.dump({"rc": rc, "events": events}, fh)
"""


def _audited(tmp: Path, *argv: str) -> dict:
    out = tmp / "audit.json"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "AUDIT_OUT": str(out)}
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(k, None)
    subprocess.run([sys.executable, "-c", _AUDITED, *argv], env=env, cwd=PROJECT_ROOT, timeout=120,
                   capture_output=True, check=False)
    return json.loads(out.read_text())


def test_verification_opens_no_socket_but_to_the_loopback_registry(registry, keydir: Path, tmp_path: Path,
                                                                     capsys) -> None:
    repo, digest = push_image(RegistryClient(registry.host), tmp_path)
    ref = f"{registry.host}/{repo}@{digest}"
    assert main(["image", "sign", ref, "--key", str(keydir / "gantry.key"), *_inputs(tmp_path)]) == 0
    assert main(["image", "attestations", ref, "--out", str(tmp_path / "exported")]) == 0
    capsys.readouterr()
    online = _audited(tmp_path, "image", "verify", ref, "--key", str(keydir / "gantry.pub"))
    assert online["rc"] == 0
    connects = [e[1] for e in online["events"] if e[0] == "connect"]
    assert connects and all(c == repr(("127.0.0.1", registry.port)) for c in connects), connects
    offline = _audited(tmp_path, "image", "verify", ref, "--key", str(keydir / "gantry.pub"),
                       "--bundles", str(tmp_path / "exported"))
    assert offline["rc"] == 0 and offline["events"] == []
