"""Issue 12, cases 11-12: views are rendered, diffed and updated; JJB's real error is printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_lib.cli import main
from tests.support.localjenkins import LocalJenkins

JJB = Path(sys.executable).parent / "jenkins-jobs"
VIEWS = """\
- view:
    name: shop
    view-type: list
    description: 'Managed by gantry: shop jobs'
    regex: 'dev/.*'
- view:
    name: dev/pipelines
    view-type: list
    description: 'Managed by gantry: pipelines in the dev folder'
    job-name: [storefront]
"""


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["jobs", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture()
def with_views(jobs_copy: Path) -> Path:
    (jobs_copy / "views.yaml").write_text(VIEWS)
    return jobs_copy


def test_case11_render_writes_views_like_jenkins_jobs(with_views: Path, tmp_path: Path, capsys) -> None:
    rc, out, err = _run(capsys, "render", "--jobs-dir", str(with_views), "-o", str(tmp_path / "g"))
    assert rc == 0, err
    assert "and 2 views" in out
    proc = subprocess.run([str(JJB), "test", "--config-xml", "-o", str(tmp_path / "j"),
                           str(with_views / "views.yaml")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for rel in ("shop/config.xml", "dev/pipelines/config.xml"):
        assert (tmp_path / "g" / rel).read_bytes() == (tmp_path / "j" / rel).read_bytes()


def test_case11_diff_and_update_views(with_views: Path, jenkins_env: LocalJenkins, capsys) -> None:
    jobs = ["--jobs-dir", str(with_views)]
    rc, out, _ = _run(capsys, "diff", *jobs)
    assert rc == 1 and "+++ rendered/view/shop/config.xml\n@@ -0,0 " in out and "2 to create" not in out
    rc, out, err = _run(capsys, "update", *jobs)
    assert rc == 0, err
    lines = out.splitlines()
    assert "create view shop" in lines and "create view dev/pipelines" in lines
    # views come after every job (a list view names jobs)
    assert max(i for i, ln in enumerate(lines) if ln.startswith("create ") and " view " not in f" {ln} ") < \
        min(i for i, ln in enumerate(lines) if ln.startswith("create view "))
    assert "<includeRegex>dev/.*</includeRegex>" in jenkins_env.view_config("shop")
    assert "<string>storefront</string>" in jenkins_env.view_config("dev/pipelines")
    assert jenkins_env.count("POST", "createView") == 2

    rc, out, _ = _run(capsys, "diff", *jobs)
    assert rc == 0 and re.search(r"0 to create, 0 to update, \d+ unchanged, 0 orphaned", out)

    # a view edited by hand is drift, and update resets it
    jenkins_env.state.views["shop"] = jenkins_env.view_config("shop").replace("dev/.*", ".*")
    rc, out, _ = _run(capsys, "diff", *jobs)
    assert rc == 1 and "jenkins/view/shop/config.xml" in out and "1 to update" in out
    rc, out, _ = _run(capsys, "update", *jobs)
    assert rc == 0 and "update view shop" in out.splitlines()
    assert "<includeRegex>dev/.*</includeRegex>" in jenkins_env.view_config("shop")

    # a managed view no longer defined is an orphan; unmanaged views (the controller's "all") are not
    (with_views / "views.yaml").write_text(VIEWS.split("- view:\n    name: dev/pipelines")[0])
    rc, out, _ = _run(capsys, "diff", *jobs)
    # like `jenkins-jobs update --delete-old`, only the controller's top-level views are listed
    assert rc == 0 and "orphan view" not in out
    jenkins_env.state.views["old-shop"] = jenkins_env.view_config("shop")
    # another team's JJB view: JJB's comment but not gantry's line, so never gantry's to delete
    jenkins_env.state.views["their-view"] = jenkins_env.view_config("shop").replace("Managed by gantry: ", "")
    rc, out, _ = _run(capsys, "diff", *jobs)
    assert "orphan view old-shop: managed by gantry/JJB but no longer defined" in out
    assert "orphan view all" not in out and "their-view" not in out
    rc, out, _ = _run(capsys, "update", "--prune", *jobs)
    assert rc == 0 and "delete view old-shop" in out.splitlines()
    assert "old-shop" not in jenkins_env.state.views and "all" in jenkins_env.state.views
    assert "their-view" in jenkins_env.state.views


def test_case12_duplicate_macro_is_jjbs_message_at_the_duplicate(tmp_path: Path, capsys) -> None:
    jobs = tmp_path / "dup"
    jobs.mkdir()
    (jobs / "a.yaml").write_text("- builder:\n    name: hello\n    builders:\n      - shell: echo a\n")
    (jobs / "b.yaml").write_text("- job:\n    name: j\n    builders: [hello]\n\n"
                                 "- builder:\n    name: hello\n    builders:\n      - shell: echo b\n")
    proc = subprocess.run([str(JJB), "test", str(jobs)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    located = [ln for ln in proc.stderr.splitlines() if re.match(r"^/\S+:\d+:\d+: ", ln)]
    real = next(ln for ln in located if "Duplicate macro" in ln)  # JJB's own wording and place
    previous = next(ln for ln in located if "Previous macro definition" in ln)
    rc, _, err = _run(capsys, "render", "--no-catalog", "--jobs-dir", str(jobs), "-o", str(tmp_path / "o"))
    assert rc == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(f"gantry: {real}")
    assert line.endswith(f"(previous definition: {previous.split(': ')[0]})")
    assert str(jobs / "b.yaml") in line.split("(")[0]


@pytest.mark.parametrize("files,wording", [
    ({"a.yaml": "- job:\n    name: x\n- job:\n    name: x\n"}, "Duplicate job"),
    ({"a.yaml": "- view:\n    name: v\n- view:\n    name: v\n"}, "Duplicate view"),
    ({"a.yaml": "- job:\n    name: x\n    builders: [nope]\n"}, "nope"),
])
def test_case12_every_jjb_error_is_one_line_with_jjbs_words(tmp_path: Path, capsys, files: dict[str, str],
                                                            wording: str) -> None:
    jobs = tmp_path / "in"
    jobs.mkdir()
    for name, text in files.items():
        (jobs / name).write_text(text)
    proc = subprocess.run([str(JJB), "test", str(jobs)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and wording in proc.stderr
    rc, _, err = _run(capsys, "render", "--no-catalog", "--jobs-dir", str(jobs), "-o", str(tmp_path / "o"))
    assert rc == 2
    (line,) = err.strip().splitlines()
    assert wording in line and re.match(rf"^gantry: {re.escape(str(jobs))}/a\.yaml:\d+:\d+: ", line)
