"""The streaming JSON reader agrees with json.loads at every chunk boundary."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_lib.core.errors import GantryError
from scanners import jsonstream
from scanners.jsonstream import JsonStream
from scanners.registry import parse_report
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "trivy"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


def walk(text: str, chunk: int) -> dict:
    js = JsonStream(io.StringIO(text), "doc", chunk=chunk)
    out: dict = {}
    for key in js.iter_object(""):
        if key == "items":
            out[key] = [js.value() for _ in js.iter_array("items")]
        else:
            out[key] = js.value()
    js.end()
    return out


@settings(max_examples=150, deadline=None)
@given(items=st.lists(json_values, max_size=6), other=json_values, chunk=st.integers(1, 17),
       indent=st.sampled_from([None, 1, 2]))
def test_stream_equals_json_loads(items, other, chunk, indent):
    doc = {"before": other, "items": items, "after": [other]}
    text = json.dumps(doc, indent=indent)
    assert walk(text, chunk) == json.loads(text)


@pytest.mark.parametrize("chunk", [1, 3, 64, 4096])
def test_trivy_fixtures_same_at_any_chunk(chunk, monkeypatch):
    paths = sorted(FIXTURES.glob("*.json"))
    before = {p.name: [f.to_json() for f in parse_report(p, licenses=True).findings]
              for p in paths if "cdx" not in p.name}
    monkeypatch.setattr(jsonstream, "CHUNK", chunk)
    after = {p.name: [f.to_json() for f in parse_report(p, licenses=True).findings]
             for p in paths if "cdx" not in p.name}
    assert after == before


@pytest.mark.parametrize("text", ['{"items": [1, 2', '{"items": [1, 2]', '{"a": "unterminated', '{"a": 1,', "{"])
def test_truncated_documents(text):
    with pytest.raises(GantryError, match="truncated"):
        walk(text, 4)


@pytest.mark.parametrize("text", ['{"items": [1 2]}', '{"a" 1}', '{"a": 1} x', '[1]', '{"a": tru}x'])
def test_invalid_documents(text):
    with pytest.raises(GantryError):
        walk(text, 4)


@pytest.mark.parametrize("chunk", [2, 1 << 20])
@pytest.mark.parametrize("doc,needle", [
    ('{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": "oops"}]}', "Vulnerabilities: expected a list"),
    ('{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": [42]}]}', "Vulnerabilities[0]: expected an object"),
    ('{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"PkgName": "p"}], "Target": "x"}]}', "missing VulnerabilityID"),
    ('{"SchemaVersion": 2, "Results": [{"Target": 7}]}', "Target must be a string"),
    ('{"SchemaVersion": 2, "Results": [{"Target": "x", "Secrets": [{"RuleID": "r"}]}, 5]}', "expected a JSON object"),
])
def test_errors_same_on_both_paths(doc, needle, chunk, tmp_path, monkeypatch):
    """Whole-element decoding (fits the buffer) and the streaming walk report the same problems."""
    monkeypatch.setattr(jsonstream, "CHUNK", chunk)
    path = tmp_path / "r.json"
    path.write_text(doc)
    with pytest.raises(GantryError, match=re.escape(needle)):
        parse_report(path)


def test_target_after_entries_streamed(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonstream, "CHUNK", 3)
    path = tmp_path / "r.json"
    path.write_text('{"SchemaVersion": 2, "Results": [{"Secrets": [{"RuleID": "aws-access-key-id", '
                    '"Severity": "CRITICAL"}], "Target": "deploy.sh"}]}')
    (f,) = parse_report(path).findings
    assert f.target == "deploy.sh" and f.severity == "CRITICAL"
