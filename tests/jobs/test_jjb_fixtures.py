"""`gantry jobs render` is byte-identical to `jenkins-jobs test --config-xml` on JJB's own fixtures.

The fixtures (tests/fixtures/jjb/, provenance in tests/fixtures/SOURCES.md) are jenkins-job-builder's
test inputs for views, folders, job-groups, include-raw and jinja. Each is rendered alone by both
tools from the same directory and the output trees are compared byte for byte. JJB's view fixtures
hold one view's body (JJB's own view tests wrap it as a view's data); the test writes that wrapper
(``- view:`` with the body indented) into the input directory, leaving the fixture unchanged.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_lib.cli import main
from tests.support.paths import FIXTURES

JJB = Path(sys.executable).parent / "jenkins-jobs"
JJB_DIR = FIXTURES / "jjb"
YAMLPARSER = sorted((JJB_DIR / "yamlparser").glob("*.yaml"))
VIEWS = sorted((JJB_DIR / "views").glob("*.yaml"))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _compare(tmp_path: Path, indir: Path, conf: Path | None) -> dict[str, bytes]:
    conf_args = ["--conf", str(conf)] if conf else []
    proc = subprocess.run([str(JJB), *conf_args, "test", "--config-xml", "-o", str(tmp_path / "jjb"), str(indir)],
                          cwd=indir, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = _tree(tmp_path / "jjb")
    assert expected, "jenkins-jobs rendered nothing"
    import os
    cwd = os.getcwd()
    os.chdir(indir)  # include paths resolve from the working directory for both tools
    try:
        assert main(["jobs", "render", "--no-catalog", "--jobs-dir", str(indir), *conf_args,
                     "-o", str(tmp_path / "gantry")]) == 0
    finally:
        os.chdir(cwd)
    assert _tree(tmp_path / "gantry") == expected
    return expected


@pytest.mark.parametrize("fixture", YAMLPARSER, ids=[p.stem for p in YAMLPARSER])
def test_yamlparser_fixture_renders_like_jenkins_jobs(tmp_path: Path, fixture: Path) -> None:
    indir = tmp_path / "in"
    indir.mkdir()
    shutil.copy(fixture, indir)
    for companion in fixture.parent.iterdir():  # included scripts and templates, never other fixtures
        if companion.suffix not in (".yaml", ".conf"):
            shutil.copy(companion, indir)
    conf = fixture.with_suffix(".conf")
    _compare(tmp_path, indir, conf if conf.is_file() else None)


@pytest.mark.parametrize("fixture", VIEWS, ids=[p.stem for p in VIEWS])
def test_view_fixture_renders_like_jenkins_jobs(tmp_path: Path, fixture: Path) -> None:
    indir = tmp_path / "in"
    indir.mkdir()
    body = fixture.read_text(encoding="utf-8").splitlines()
    (indir / "view.yaml").write_text("- view:\n" + "".join(f"    {ln}\n" if ln.strip() else "\n" for ln in body))
    out = _compare(tmp_path, indir, None)
    assert all(xml.lstrip().startswith(b"<?xml") for xml in out.values())
