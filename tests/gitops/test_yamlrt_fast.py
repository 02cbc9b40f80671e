"""Issue 21: :class:`gitops.yamlrt.LineDoc` edits that update the parsed nodes in place (no new
parse) leave exactly the nodes a fresh parse of the new text gives, and the quick plain-scalar
check (``_PLAIN_SURE``) accepts only strings the full check accepts.

Edits run over the real-file corpus (tests/fixtures/gitops-corpus/, see test_corpus.py) and over
small documents at the edges of the in-place conditions (CRLF, no final newline, comments, empty
last values, explicit keys, block and multi-line scalars, flow collections, aliases, indentless
sequences, several documents, tabs).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from gitops.manifest import ImagePin, pin_kustomize
from gitops.yamlrt import _LETTERS, _PLAIN_SURE, LineDoc, Node, _plain_checked
from pipeline_lib.core.errors import GantryError
from tests.gitops.conftest import digest
from tests.support.paths import FIXTURES

CORPUS = sorted(p for p in (FIXTURES / "gitops-corpus").rglob("*") if p.is_file())
VALUES = ("v2.0-rc1", "1.10", "yes", "it's", "a: b", digest("c"))


def _tree(node: Node | None) -> object:
    if node is None:
        return None
    return (node.kind, node.start, node.end, node.value, node.style, node.anchor, node.flow,
            [(_tree(k), _tree(v)) for k, v in node.pairs], [_tree(i) for i in node.items])


def _assert_as_parsed(doc: LineDoc, what: str) -> None:
    fresh = LineDoc(doc.text, doc.where)
    assert _tree(doc.root) == _tree(fresh.root), what
    assert doc.aliased == fresh.aliased, what
    assert {a: _tree(n) for a, n in doc.anchors.items()} == {a: _tree(n) for a, n in fresh.anchors.items()}, what


def _mappings(node: Node | None, path: list[str | int]) -> list[list[str | int]]:
    """Paths of the mappings under ``node`` (keys unique strings), document order."""
    out: list[list[str | int]] = []
    if node is None:
        return out
    if node.kind == "map":
        keys = [k.value for k, _ in node.pairs if k.kind == "scalar"]
        if (node.flow or node.pairs) and len(set(keys)) == len(keys) == len(node.pairs):
            out.append(path)
        for k, v in node.pairs:
            out += _mappings(v, path + [k.value]) if k.kind == "scalar" else []
    elif node.kind == "seq":
        for i, item in enumerate(node.items):
            out += _mappings(item, path + [i])
    return out


def _edit_all(text: str, where: str, limit: int, per_mapping: int = 99, appends_first: bool = True) -> int:
    """In up to ``limit`` mappings (first, last, spread between): append two keys and replace (up
    to ``per_mapping``) scalar values, in that order or the other; every edit checked against a
    fresh parse. Returns the edits made."""
    paths = _mappings(LineDoc(text, where).root, [])
    if len(paths) > limit:
        step = (len(paths) - 1) / (limit - 1)
        paths = [paths[round(i * step)] for i in range(limit)]
    edits = 0
    for n, path in enumerate(paths):
        doc = LineDoc(text, where)
        mapping = doc.find(path)
        assert mapping is not None
        keys = [k.value for k, v in mapping.pairs if v.kind == "scalar"]
        replace = [(key, VALUES[(n + i) % len(VALUES)]) for i, key in enumerate(keys[:per_mapping])]
        append = [(key, value) for key, value in (("newTag", VALUES[n % len(VALUES)]),
                                                  ("zz key", VALUES[(n + 3) % len(VALUES)]))
                  if mapping.get(key) is None]
        for key, value in append + replace if appends_first else replace + append:
            before = doc.text
            try:
                doc.set(path, key, value)
            except GantryError:  # refused: an aliased anchor (text kept), a line after a block scalar
                if doc.text == before:
                    continue
                break
            edits += 1
            _assert_as_parsed(doc, f"{where} {path} set {key}")
    return edits


@pytest.mark.parametrize("path", CORPUS, ids=[p.name[:60] for p in CORPUS])
def test_corpus_edits_leave_the_nodes_a_parse_gives(path: Path) -> None:
    assert _edit_all(path.read_bytes().decode("utf-8"), path.name, limit=3, per_mapping=2) > 0


EDGE = {
    "crlf": "images:\r\n  - name: a  # c\r\n    newName: b\r\n",
    "no-final-newline": "images:\n  - name: a\n    newName: b",
    "comment-lines-after": "a:\n  b: 1  # x\n  # trailing\n\n# end\nc: 2\n",
    "empty-last-value": "a:\n  b: 1\n  c:\nd: 2\n",
    "empty-last-value-comment": "a:\n  b: 1\n  c:   # nothing\nd: 2\n",
    "empty-seq-item": "a:\n  b: 1\n  c:\n  -\n  - x\n  -\nd: 2\n",
    "explicit-key": "a:\n  ? b\n  : 1\n  ? c\nd: 2\n",
    "first-key-explicit": "a:\n  ? b\n  : 1\n  c: 2\n",
    "block-scalar-last": "a:\n  b: |\n    line\n\n  c: >-\n    folded\n    text\n\nd: 2\n",
    "multiline-plain-last": "a:\n  b: one\n    two\n    three\nd: 2\n",
    "multiline-quoted-last": "a:\n  b: 'one\n    two'\n  c: \"x\n    y\"  # q\nd: 2\n",
    "flow-last": "a:\n  b: [1, 2,\n    3]\n  c: {x: 1}\nd: 2\n",
    "alias-last": "x: &v 1\na:\n  b: *v\n  c: &w ok\ny: *w\n",
    "props": "a:\n  b: !!str 5\n  c: &k v\n",
    "indentless": "a:\n  b:\n  - 1\n  - 2\nc:\n- k: 1\n  l: 2\n",
    "nested-seqs": "- - a: 1\n    b: 2\n  - c: 3\n- d: 4\n",
    "documents": "--- # first\na: 1\nb: 2\n...\n---\nc: 3\n",
    "empty-first-document": "---\n---\na: 1\nb: x\n",
    "tabs": "a:\n  b: 1\t# tab\n  c: 2\n",
    "quoted-keys": "'a': {}\n\"b c\": 'd'\ne: \"f\"\n",
    "flow-root": "{a: 1, b: x}\n",
    "deep-last": "a:\n  b:\n    c:\n      d: 1\ne: 2\n",
    "utf8": "a:\n  é: ü  # ß\n  b: x\n",
}


@pytest.mark.parametrize("name", sorted(EDGE))
def test_edge_edits_leave_the_nodes_a_parse_gives(name: str) -> None:
    assert _edit_all(EDGE[name], name, limit=10) > 0
    assert _edit_all(EDGE[name], name, limit=10, appends_first=False) > 0


def test_pin_of_a_layout_overlay_needs_no_new_parse() -> None:
    """The overlay ``gantry gitops init`` writes is pinned in place (the parsed root stays)."""
    text = ("# svc in dev\nkind: Kustomization\nresources:\n  - ../../base\nimages:\n"
            "  - name: svc  # the image name used in base/deployment.yaml\n    newName: reg/shop/svc\n")
    doc = LineDoc(text, "k.yaml")
    root = doc.root
    assert pin_kustomize(doc, 0, ImagePin("reg/shop/svc2", "t1", digest("a")))
    assert doc.root is root
    _assert_as_parsed(doc, "overlay")
    assert doc.text == text.replace("reg/shop/svc\n", f"reg/shop/svc2\n    newTag: t1\n    digest: {digest('a')}\n")


def test_quick_plain_check_accepts_only_what_the_full_check_accepts() -> None:
    rng = random.Random(21)
    alphabet = "abcdefnoxyzENOTY0123456789._/+@-:"
    samples = {"sha256:" + "0" * 64, "v1.2.3", "a:b", "e1", "n1", "y:1", "on-1", "a/b:c", "A+B", "a@b",
               "no.", "true1", "Null_", "inf.", "a.nan", "x_:y", "off-", "Yes.", "a--", "b:1:2", "o0"}
    samples |= {rng.choice("abcdefnoxyzENOTY") + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
                for _ in range(1500)}
    sure = [s for s in samples if _PLAIN_SURE.fullmatch(s) and not _LETTERS.fullmatch(s)]
    assert len(sure) > 500
    for s in sure:
        assert _plain_checked(s, False) and _plain_checked(s, True), s
