"""Issue 12, case 8 over real files: pinning any image of a real kustomization or values file
changes only the lines that hold the pin, and every other value reads the same.

The corpus (tests/fixtures/gitops-corpus/, provenance in tests/fixtures/SOURCES.md) is kustomization
files with ``images:`` and Helm values files (Bitnami-style ``registry`` keys among them) from public
repositories, bytes unchanged. Every ``images:`` entry of every kustomization and every image mapping
(a mapping with a ``repository`` key) of every values file is pinned in turn.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitops.manifest import ImagePin, kustomize_entries, pin_helm, pin_kustomize
from gitops.yamlrt import LineDoc
from pipeline_lib.core.catalog import ServiceEnvironment
from tests.gitops.conftest import digest
from tests.support.paths import FIXTURES

CORPUS = FIXTURES / "gitops-corpus"
KUSTOMIZE = sorted((CORPUS / "kustomize").iterdir())
HELM = sorted((CORPUS / "helm").iterdir())
ECR = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"
PIN_KEYS = ("newName", "newTag", "digest", "registry", "repository", "tag")


def _load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def _changed_lines(before: str, after: str) -> list[str]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op != "equal":
            out += a[i1:i2] + b[j1:j2]
    return out


def _assert_pin_lines_only(before: str, after: str, where: str) -> None:
    changed = _changed_lines(before, after)
    assert changed, f"{where}: nothing changed"
    for line in changed:
        key = line.strip().lstrip("- ").split(":", 1)[0].strip("'\"")
        assert key in PIN_KEYS, f"{where}: a line outside the pin changed: {line!r}"
    assert len(changed) <= 8, f"{where}: {len(changed)} lines changed"


@pytest.mark.parametrize("path", KUSTOMIZE, ids=[p.name[:60] for p in KUSTOMIZE])
def test_kustomization_corpus_pins_change_only_pin_lines(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")
    original = _load(text)
    entries = kustomize_entries(LineDoc(text, path.name))
    pinned = 0
    for index, entry in enumerate(entries):
        if not entry.get("name"):
            continue
        pin = ImagePin(f"{ECR}/corpus/img{index}", "1.10", digest("a"))
        doc = LineDoc(text, path.name)
        assert pin_kustomize(doc, index, pin)
        _assert_pin_lines_only(text, doc.text, f"{path.name} images[{index}]")
        expected = copy.deepcopy(original)
        want = {k: v for k, v in expected["images"][index].items() if k not in ("newName", "newTag", "digest")}
        want.update(newName=pin.name, newTag="1.10", digest=pin.digest)
        expected["images"][index] = want
        after = _load(doc.text)
        assert after == expected, f"{path.name} images[{index}]"
        assert list(after["images"][index]) [:len(entry)] == [k for k in entry if k in after["images"][index]]
        pinned += 1
    assert pinned >= 1


def _image_paths(node: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Key paths of every mapping holding a ``repository`` string (an image), dots excluded."""
    out = []
    if isinstance(node, dict):
        if isinstance(node.get("repository"), str) and node["repository"]:
            out.append(path)
        for key, value in node.items():
            if isinstance(key, str) and "." not in key:
                out += _image_paths(value, path + (key,))
    return out


@pytest.mark.parametrize("path", HELM, ids=[p.name[:60] for p in HELM])
def test_values_corpus_pins_change_only_pin_lines(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")
    original = _load(text)
    paths = [p for p in _image_paths(original) if p]
    assert paths
    for keys in paths:
        values_key = ".".join(keys)
        env = ServiceEnvironment("dev", path.name, "corpus/app", "helm", values_key)
        pin = ImagePin(f"{ECR}/corpus/app", "1.10", digest("b"))
        doc = LineDoc(text, path.name)
        changed, written = pin_helm(doc, env, pin)
        assert changed
        _assert_pin_lines_only(text, doc.text, f"{path.name} {values_key}")
        expected = copy.deepcopy(original)
        node = expected
        for key in keys:
            node = node[key]
        if "registry" in node:
            node.update(registry=ECR, repository="corpus/app")
        else:
            node["repository"] = pin.name
        node.update(tag="1.10", digest=pin.digest)
        assert _load(doc.text) == expected, f"{path.name} {values_key}"
        assert ("registry" in written) == ("registry" in node)
