"""One Dependency-Check run written as JSON, XML and SARIF is one run (issue 20, item 1).

``multi-module-maven.json`` is a real report; ``.xml`` and ``.sarif`` are the same run rendered
as Dependency-Check's templates write those formats (tests/fixtures/SOURCES.md). The real Trivy
case (one scan as JSON and SARIF) is tests/trivy/test_one_run_many_formats.py.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from scanners.formats import write_all
from scanners.policy import load_policy
from scanners.registry import parse_report
from tests.support.gate import evaluate_files
from tests.support.paths import FIXTURES

DC = FIXTURES / "dependency-check"
ONE_RUN = [DC / "multi-module-maven.json", DC / "multi-module-maven.xml", DC / "multi-module-maven.sarif"]


def _fps(path: Path) -> Counter:
    return Counter((f.id, f.fingerprint) for f in parse_report(path).findings)


def test_the_three_formats_give_the_same_fingerprints() -> None:
    json_fps = _fps(ONE_RUN[0])
    assert sum(json_fps.values()) == 40
    names = Counter(i for i, _ in json_fps)
    assert names["CVE-2014-0114"] > 1     # one vulnerability in several dependencies: distinct findings
    for path in ONE_RUN[1:]:
        assert _fps(path) == json_fps, path.name


def test_the_three_formats_of_one_run_count_once(tmp_path) -> None:
    alone = evaluate_files(ONE_RUN[:1], policy=load_policy(None))
    both = evaluate_files(ONE_RUN, policy=load_policy(None))
    assert len(both.findings) == len(alone.findings) == 40
    assert both.counts() == alone.counts()
    highs = alone.counts()["dependency-check"]["HIGH"]
    strict = tmp_path / "policy.yaml"
    strict.write_text(f"version: 1\ndefaults:\n  fail_on: null\n  max: {{HIGH: {highs}}}\n")
    assert evaluate_files(ONE_RUN, policy=load_policy(strict)).exit_code == 0
    # a baseline from the JSON: the SARIF of the same run introduces and fixes nothing
    base = write_all(alone, tmp_path / "main")["findings.json"]
    verdict = evaluate_files(ONE_RUN[2:], policy=load_policy(None), baseline=base)
    assert not [e for e in verdict.findings if e.new] and not verdict.warnings


def test_another_run_stays_apart(tmp_path) -> None:
    """The same project scanned again later (another reportDate) is another run: counted too."""
    doc = json.loads(ONE_RUN[0].read_text())
    doc["projectInfo"]["reportDate"] = "2023-02-03T09:00:00.000Z"
    later = tmp_path / "later.json"
    later.write_text(json.dumps(doc))
    assert _fps(later) == _fps(ONE_RUN[0])           # same findings, same fingerprints …
    for files in ([ONE_RUN[0], later], [*ONE_RUN, later]):
        assert len(evaluate_files(files, policy=load_policy(None)).findings) == 80   # … but two runs
    # another project (other dependency files): another run as well, even for the SARIF form
    sarif = json.loads(ONE_RUN[2].read_text())
    for art in sarif["runs"][0]["artifacts"]:
        art["location"]["uri"] = art["location"]["uri"].replace("/to/path/", "/other/project/")
    other = tmp_path / "other.sarif"
    other.write_text(json.dumps(sarif))
    assert len(evaluate_files([ONE_RUN[0], other], policy=load_policy(None)).findings) == 80
