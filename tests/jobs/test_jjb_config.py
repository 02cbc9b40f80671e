"""Issue 20, items 9-10: gantry reads the JJB tree and ini exactly as `jenkins-jobs` does, and
`--prune` never deletes what the same configuration generates.

The inputs are written here: the shipped ``jobs/`` (catalog, generated projects, templates) plus
a ``teams/`` tree of hand-written JJB YAML in subdirectories, an ``attic/`` and a hidden
``.drafts/`` directory that the ini's ``exclude`` leaves out, and a ``jenkins_jobs.ini`` with
``recursive=True``. Every ``[job_builder]`` option set there changes the output of this tree:

- ``retain_anchors``: ``teams/payments`` uses an anchor defined in ``teams/common`` (an
  undefined alias without it);
- ``allow_empty_variables``: the team templates use ``{owner}``, which no project sets;
- ``allow_duplicates``: ``payments/shared-lint`` is defined twice, the last file read wins.

``keep_descriptions`` cannot change this tree (the shipped ``global`` defaults give every job a
description); a plain JJB directory shows it. ``search/notes`` overrides the description without
gantry's line: JJB's comment only, so not gantry's to delete.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_lib.cli import main
from pipeline_lib.jobs.render import jjb_files, jjb_options, render_jobs
from pipeline_lib.jobs.sync import is_managed
from tests.support.localjenkins import LocalJenkins

from .conftest import JOBS_DIR

JJB = Path(sys.executable).parent / "jenkins-jobs"

TEAM_FILES = {
    "teams/common/anchors.yaml": """\
- _team-anchors:
    description: &team-desc |-
      Managed by gantry: a team job from teams/ in the jobs tree.
- job-template:
    id: team-folder
    name: '{team}'
    project-type: folder
    description: *team-desc
- job-template:
    id: team-build
    name: '{team}/{component}-build'
    description: *team-desc
    builders:
      - shell: 'make -C {component} build  # owner: {owner}'
- job-template:
    id: team-test
    name: '{team}/{component}-test'
    description: *team-desc
    builders:
      - shell: 'make -C {component} test  # owner: {owner}'
""",
    "teams/payments/project.yaml": """\
- project:
    name: payments-folder
    team: payments
    jobs: [team-folder]
- project:
    name: payments
    team: payments
    component: [ledger, refunds, payouts, invoices, fx, risk, wallet, tax]
    jobs: [team-build, team-test]
- job:
    name: payments/shared-lint
    description: *team-desc
    builders:
      - shell: 'echo first definition'
""",
    "teams/search/jobs.yml": """\
- project:
    name: search-folder
    team: search
    jobs: [team-folder]
- project:
    name: search
    team: search
    component: [indexer, query, ranking, crawler]
    jobs: [team-build, team-test]
""",
    "teams/search/nested/more.yaml": """\
- project:
    name: search-extra
    team: search
    component: [suggest, spell]
    jobs: [team-build, team-test]
- job:
    name: payments/shared-lint
    description: 'Managed by gantry: the shared lint job, last definition.'
    builders:
      - shell: 'echo last definition'
- job:
    name: search/notes
    description: Notes the search team keeps by hand in the UI.
    builders:
      - shell: 'echo no description'
""",
    "attic/old.yaml": """\
- job:
    name: attic-job
    description: 'Managed by gantry: excluded by the ini.'
""",
    ".drafts/draft.yaml": "- job: [this is not a job: it must never be read\n",
}
# 19 catalog items (event/loadtest and the 3 environments' watch jobs included); payments: folder + 16 + shared-lint; search: folder + 8 + 4 + notes
N_ITEMS = 19 + 18 + 14
INI = """\
[job_builder]
ignore_cache=True
recursive=True
exclude=attic{sep}.*
allow_duplicates=True
allow_empty_variables=True
retain_anchors=True
keep_descriptions=True

[jenkins]
url={url}
user=release
password=s3cret-token
query_plugins_info=False
"""


def make_tree(root: Path) -> Path:
    jobs = root / "jobs"
    shutil.copytree(JOBS_DIR, jobs, ignore=shutil.ignore_patterns("*.example", "__pycache__"))
    for rel, text in TEAM_FILES.items():
        (jobs / rel).parent.mkdir(parents=True, exist_ok=True)
        (jobs / rel).write_text(text, encoding="utf-8")
    return jobs


def write_ini(path: Path, url: str = "http://127.0.0.1:9", **changes: str) -> Path:
    text = INI.format(sep=os.pathsep, url=url.rstrip("/"))
    for key, value in changes.items():
        text = "\n".join(f"{key}={value}" if ln.startswith(f"{key}=") else ln for ln in text.splitlines()) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["jobs", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _jjb(*argv: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JENKINS_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"))
    return subprocess.run([str(JJB), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # both tools resolve relative exclude globs from the working directory
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/jenkins_jobs/jenkins_jobs.ini of the user
    return make_tree(tmp_path)


# -- item 9: the same files, the same options, the same jobs --------------------------------------

@pytest.mark.parametrize("text", [
    "",
    "[job_builder]\nrecursive=True\n",
    "[job_builder]\nrecursive=yes\nexclude=attic\n",
    f"[job_builder]\nrecursive=on\nexclude=attic{os.pathsep}.*{os.pathsep}teams/search\n",
    "[job_builder]\nrecursive=0\nexclude=\n",
    "[jenkins]\nurl=http://x\n",
    "[jenkins]\nquery_plugins_info=True\n",
    "[job_builder]\nrecursive=true\n[jenkins]\nurl=http://x\nquery_plugins_info=false\n",
    "[job_builder]\nupdate=jobs\n",
    "[job_builder]\nupdate=views\nrecursive=False\n",
])
def test_path_options_are_what_jjbconfig_reads(tmp_path: Path, text: str) -> None:
    from jenkins_jobs.config import JJBConfig

    ini = tmp_path / "jenkins_jobs.ini"
    ini.write_text(text)
    cfg = JJBConfig(str(ini))
    opts = jjb_options(ini)
    assert (opts.recursive, list(opts.excludes)) == (cfg.recursive, cfg.excludes)
    assert opts.query_plugins_info == (cfg.builder["plugins_info"] is None)  # None: JJB asks Jenkins
    assert opts.update == (cfg.builder["update"] or "all")  # jenkins_jobs.cli.entry's default
    assert opts.conf == ini


def test_bad_or_missing_ini_is_one_line(tmp_path: Path) -> None:
    from pipeline_lib.core.errors import GantryError

    with pytest.raises(GantryError) as info:
        jjb_options(tmp_path / "nope.ini")
    assert "no such file" in info.value.what
    bad = tmp_path / "bad.ini"
    bad.write_text("[job_builder]\nrecursive=maybe\n")
    with pytest.raises(GantryError) as info:
        jjb_options(bad)
    assert info.value.where == f"{bad}: [job_builder] recursive"
    with pytest.raises(ValueError):  # JJB refuses it too
        from jenkins_jobs.config import JJBConfig
        JJBConfig(str(bad))
    bad.write_text("[job_builder\n")
    with pytest.raises(GantryError) as info:
        jjb_options(bad)
    assert "invalid JJB configuration" in info.value.what


def test_recursive_ini_renders_what_jenkins_jobs_test_renders(tree: Path, tmp_path: Path, capsys) -> None:
    ini = write_ini(tmp_path / "jenkins_jobs.ini")
    proc = _jjb("--conf", str(ini), "test", "--config-xml", "-o", str(tmp_path / "jjb"), str(tree),
                cwd=tmp_path, home=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = _tree(tmp_path / "jjb")
    rc, out, err = _run(capsys, "render", "--jobs-dir", str(tree), "--conf", str(ini), "-o", str(tmp_path / "g"))
    assert rc == 0, err
    assert out.strip() == f"rendered {N_ITEMS} jobs and 0 views to {tmp_path / 'g'}"
    assert _tree(tmp_path / "g") == expected
    assert len(expected) == N_ITEMS
    # what each option did, as JJB did it
    lint = expected["payments/shared-lint/config.xml"].decode()
    assert "echo last definition" in lint and "echo first definition" not in lint      # allow_duplicates
    assert "# owner: </command>" in expected["search/spell-test/config.xml"].decode()  # allow_empty_variables
    assert "a team job from teams/" in expected["payments/fx-build/config.xml"].decode()  # retain_anchors
    assert b"Managed by gantry" not in expected["search/notes/config.xml"]
    assert not any(k.startswith("attic") for k in expected)                           # exclude


def test_without_recursive_the_subdirectories_are_not_read_by_either_tool(tree: Path, tmp_path: Path,
                                                                           capsys) -> None:
    ini = write_ini(tmp_path / "jenkins_jobs.ini", recursive="False")
    proc = _jjb("--conf", str(ini), "test", "--config-xml", "-o", str(tmp_path / "jjb"), str(tree),
                cwd=tmp_path, home=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rc, _, err = _run(capsys, "render", "--jobs-dir", str(tree), "--conf", str(ini), "-o", str(tmp_path / "g"))
    assert rc == 0, err
    assert _tree(tmp_path / "g") == _tree(tmp_path / "jjb")
    assert len(_tree(tmp_path / "g")) == 19


@pytest.mark.parametrize("option,value", [("retain_anchors", "False"), ("allow_empty_variables", "False"),
                                          ("allow_duplicates", "False")])
def test_an_option_turned_off_fails_in_both_tools(tree: Path, tmp_path: Path, capsys, option: str,
                                                  value: str) -> None:
    ini = write_ini(tmp_path / "jenkins_jobs.ini", **{option: value})
    proc = _jjb("--conf", str(ini), "test", "--config-xml", "-o", str(tmp_path / "jjb"), str(tree),
                cwd=tmp_path, home=tmp_path)
    assert proc.returncode != 0
    rc, _, err = _run(capsys, "render", "--jobs-dir", str(tree), "--conf", str(ini), "-o", str(tmp_path / "g"))
    assert rc == 2 and err.count("\n") == 1 and err.startswith("gantry: ")


def test_exclude_patterns_and_symlinked_files_follow_jjb(tree: Path, tmp_path: Path) -> None:
    ini = write_ini(tmp_path / "jenkins_jobs.ini", exclude=f"attic{os.pathsep}.*{os.pathsep}nested")
    (tree / "teams" / "again.yaml").symlink_to(tree / "teams" / "search" / "jobs.yml")  # read once
    files = jjb_files(tree, exclude=[tree / "catalog.yaml"], conf=ini)
    rel = [os.path.relpath(f, tree.resolve()) for f in files]
    assert rel == ["defaults.yaml", "macros.yaml", "projects.generated.yaml", "templates.yaml",
                   "teams/again.yaml", "teams/common/anchors.yaml", "teams/payments/project.yaml"]
    from jenkins_jobs.config import JJBConfig
    from jenkins_jobs.loader import enum_expanded_paths
    from jenkins_jobs.utils import recurse_path

    cfg = JJBConfig(str(ini))  # what jenkins_jobs.cli.entry hands to load_files
    theirs = enum_expanded_paths([Path(d) for d in recurse_path(str(tree), cfg.excludes)])
    assert [Path(f).resolve() for f in files] == [p for p in theirs if p.name != "catalog.yaml"]
    names = {j.name for j in render_jobs(files, conf=ini)}
    assert "search/indexer-build" in names and "search/spell-build" not in names


def test_keep_descriptions_in_a_plain_jjb_directory(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    plain = tmp_path / "plain"
    (plain / "sub").mkdir(parents=True)
    (plain / "sub" / "a.yaml").write_text("- job:\n    name: bare\n    builders: [{shell: 'true'}]\n")
    outputs = {}
    for keep in ("True", "False"):
        ini = tmp_path / f"keep-{keep}.ini"
        ini.write_text(f"[job_builder]\nrecursive=True\nkeep_descriptions={keep}\n")
        proc = _jjb("--conf", str(ini), "test", "--config-xml", "-o", str(tmp_path / f"jjb-{keep}"), str(plain),
                    cwd=tmp_path, home=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        rc, _, err = _run(capsys, "render", "--no-catalog", "--jobs-dir", str(plain), "--conf", str(ini),
                          "-o", str(tmp_path / f"g-{keep}"))
        assert rc == 0, err
        outputs[keep] = _tree(tmp_path / f"g-{keep}")
        assert outputs[keep] == _tree(tmp_path / f"jjb-{keep}")
    assert b"<description>" not in outputs["True"]["bare/config.xml"]
    assert b"Managed by Jenkins Job Builder" in outputs["False"]["bare/config.xml"]


# -- item 10: prune against what `jenkins-jobs update` just created --------------------------------

def test_prune_after_jenkins_jobs_update_with_the_recursive_ini_deletes_nothing(
        tree: Path, tmp_path: Path, jenkins: LocalJenkins, capsys, monkeypatch) -> None:
    for var in ("JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    ini = write_ini(tmp_path / "jenkins_jobs.ini", url=jenkins.url)
    proc = _jjb("--conf", str(ini), "update", str(tree), cwd=tmp_path, home=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    created = set(jenkins.state.items)
    assert len(created) == N_ITEMS and "search/spell-test" in created and not any("attic" in n for n in created)
    managed = {n for n in created if is_managed(jenkins.config(n))}
    assert managed == created - {"search/notes"}  # JJB's comment, not gantry's line

    rc, out, err = _run(capsys, "diff", "--jobs-dir", str(tree), "--conf", str(ini))
    assert rc == 0, out + err
    assert out.strip() == f"0 to create, 0 to update, {N_ITEMS} unchanged, 0 orphaned"

    jenkins.reset_counts()
    rc, out, err = _run(capsys, "update", "--prune", "--jobs-dir", str(tree), "--conf", str(ini))
    assert rc == 0, err
    assert out.splitlines()[-1] == f"0 created, 0 updated, {N_ITEMS} unchanged, 0 deleted, 0 orphaned"
    assert jenkins.count("POST", "doDelete") == 0 and set(jenkins.state.items) == created

    # one job dropped from a subdirectory's YAML: exactly that one is pruned
    more = tree / "teams" / "search" / "nested" / "more.yaml"
    more.write_text(more.read_text().replace("component: [suggest, spell]", "component: [suggest]"))
    rc, out, err = _run(capsys, "update", "--prune", "--jobs-dir", str(tree), "--conf", str(ini))
    assert rc == 0, err
    assert [ln for ln in out.splitlines() if ln.startswith("delete")] == ["delete search/spell-build",
                                                                          "delete search/spell-test"]
    assert set(jenkins.state.items) == created - {"search/spell-build", "search/spell-test"}


def test_prune_refuses_when_the_rendered_set_misses_the_subdirectories(
        tree: Path, tmp_path: Path, jenkins: LocalJenkins, capsys, monkeypatch) -> None:
    """The reported incident: the ini gantry is given does not recurse, JJB's did. The 31 items of
    teams/ look orphaned; prune refuses, lists the 30 it would delete (``search/notes`` is not
    gantry's, so the ``search`` folder holding it is kept) and deletes nothing, dry run or not."""
    for var in ("JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    ini = write_ini(tmp_path / "jenkins_jobs.ini", url=jenkins.url)
    assert _jjb("--conf", str(ini), "update", str(tree), cwd=tmp_path, home=tmp_path).returncode == 0
    created = set(jenkins.state.items)
    flat = write_ini(tmp_path / "flat.ini", url=jenkins.url, recursive="False")
    for extra in (["--dry-run"], []):
        rc, out, err = _run(capsys, "update", "--prune", "--jobs-dir", str(tree), "--conf", str(flat), *extra)
        assert rc == 2, out
        assert err == ("gantry: jobs update --prune: would delete 30 items, more than --max-deletions 5: refused, "
                       f"nothing {'would be ' if extra else ''}changed; check the list, then raise the limit if "
                       "these deletions are intended\n")
        listed = [ln for ln in out.splitlines() if ln.startswith("would delete ")]
        assert len(listed) == 30 and len(set(listed)) == 30
        assert {"would delete payments (refused)", "would delete payments/fx-build (refused)",
                "would delete search/spell-test (refused)"} <= set(listed)
        assert "would delete search (refused)" not in listed and not any("notes" in ln for ln in listed)
        assert "orphan search (kept" not in out  # nothing but the refusal is reported
        assert set(jenkins.state.items) == created
        assert jenkins.count("POST", "doDelete") == 0


# -- query_plugins_info: rendered with the controller's plugin versions, as jenkins-jobs does -----

NIGHTLY = """\
- job:
    name: payments/nightly
    description: 'Managed by gantry: nightly reconciliation.'
    properties:
      - priority-sorter:
          priority: 3
"""
PRIORITY_SORTER_2 = {"shortName": "PrioritySorter", "longName": "Jenkins Priority Sorter Plugin", "version": "2.9"}


def test_query_plugins_info_renders_with_the_controllers_plugin_versions(
        tree: Path, tmp_path: Path, jenkins: LocalJenkins, capsys, monkeypatch) -> None:
    for var in ("JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    (tree / "teams" / "payments" / "nightly.yaml").write_text(NIGHTLY)
    jenkins.plugins.append(PRIORITY_SORTER_2)  # 2.x: PriorityJobProperty, not 3.x's JobInclusionJobProperty
    ini = write_ini(tmp_path / "jenkins_jobs.ini", url=jenkins.url)
    ini.write_text(ini.read_text().replace("query_plugins_info=False", "query_plugins_info=True"))
    proc = _jjb("--conf", str(ini), "update", str(tree), cwd=tmp_path, home=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "strategy.PriorityJobProperty" in jenkins.config("payments/nightly")

    jenkins.reset_counts()
    rc, out, err = _run(capsys, "diff", "--jobs-dir", str(tree), "--conf", str(ini))
    assert rc == 0, out + err
    assert out.strip() == f"0 to create, 0 to update, {N_ITEMS + 1} unchanged, 0 orphaned"
    assert jenkins.count("GET", "pluginManager/api/json") == 1
    rc, out, err = _run(capsys, "update", "--prune", "--jobs-dir", str(tree), "--conf", str(ini))
    assert rc == 0 and out.splitlines()[-1].endswith(" 0 deleted, 0 orphaned"), out + err

    # `render` asks the controller too, and writes what `jenkins-jobs test` writes with that ini
    proc = _jjb("--conf", str(ini), "test", "--config-xml", "-o", str(tmp_path / "jjb"), str(tree),
                cwd=tmp_path, home=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rc, _, err = _run(capsys, "render", "--jobs-dir", str(tree), "--conf", str(ini), "-o", str(tmp_path / "g"))
    assert rc == 0 and err == "", err
    assert _tree(tmp_path / "g") == _tree(tmp_path / "jjb")

    # the controller upgrades the plugin: the same files now render 3.x's XML, so that job drifts
    jenkins.plugins[-1] = dict(PRIORITY_SORTER_2, version="3.6.0")
    rc, out, _ = _run(capsys, "diff", "--jobs-dir", str(tree), "--conf", str(ini))
    assert rc == 1 and "+++ rendered/payments/nightly/config.xml" in out
    assert "strategy.JobInclusionJobProperty" in out and "1 to update" in out


def test_query_plugins_info_when_the_controller_is_unreachable(tree: Path, tmp_path: Path, capsys,
                                                               monkeypatch) -> None:
    """`jenkins-jobs test` fails without the plugin list it was told to ask for; so does gantry, in one line."""
    from pipeline_lib.jenkins.client import JenkinsClient

    for var in ("JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setitem(JenkinsClient.__init__.__kwdefaults__, "sleep", lambda s: None)  # retried without waiting
    ini = write_ini(tmp_path / "jenkins_jobs.ini")  # http://127.0.0.1:9: connection refused (retried first)
    ini.write_text(ini.read_text().replace("query_plugins_info=False", "query_plugins_info=True"))
    proc = _jjb("--conf", str(ini), "test", "--config-xml", "-o", str(tmp_path / "jjb"), str(tree),
                cwd=tmp_path, home=tmp_path)
    assert proc.returncode != 0 and "Connection refused" in proc.stderr
    for command in (["render", "-o", str(tmp_path / "g")], ["diff"]):
        rc, out, err = _run(capsys, *command, "--jobs-dir", str(tree), "--conf", str(ini))
        assert rc == 2 and err == "gantry: jenkins 127.0.0.1:9: read the plugin list: connection refused\n"
    assert not (tmp_path / "g").exists()


def test_update_option_limits_what_is_managed_as_jenkins_jobs_does(
        tree: Path, tmp_path: Path, jenkins: LocalJenkins, capsys, monkeypatch) -> None:
    """`[job_builder] update=jobs` leaves views alone, `update=views` leaves jobs alone (and so
    never prunes a job, whatever the rendered job set)."""
    for var in ("JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    (tree / "teams" / "views.yaml").write_text("- view:\n    name: payments-all\n    view-type: list\n"
                                               "    description: 'Managed by gantry: payments'\n"
                                               "    regex: 'payments/.*'\n")
    jobs_ini = write_ini(tmp_path / "jobs.ini", url=jenkins.url)
    jobs_ini.write_text(jobs_ini.read_text().replace("[jenkins]", "update=jobs\n\n[jenkins]"))
    assert _jjb("--conf", str(jobs_ini), "update", str(tree), cwd=tmp_path, home=tmp_path).returncode == 0
    assert "payments-all" not in jenkins.state.views and len(jenkins.state.items) == N_ITEMS
    rc, out, err = _run(capsys, "diff", "--jobs-dir", str(tree), "--conf", str(jobs_ini))
    assert rc == 0 and out.strip() == f"0 to create, 0 to update, {N_ITEMS} unchanged, 0 orphaned", out + err

    views_ini = write_ini(tmp_path / "views.ini", url=jenkins.url, recursive="False")  # no job from teams/
    views_ini.write_text(views_ini.read_text().replace("[jenkins]", "update=views\n\n[jenkins]"))
    rc, out, err = _run(capsys, "update", "--prune", "--jobs-dir", str(tree), "--conf", str(views_ini))
    assert rc == 0, err
    assert out.splitlines() == ["0 created, 0 updated, 0 unchanged, 0 deleted, 0 orphaned"]  # the view is in teams/
    assert len(jenkins.state.items) == N_ITEMS
    views_ini.write_text(views_ini.read_text().replace("recursive=False", "recursive=True"))
    rc, out, err = _run(capsys, "update", "--prune", "--jobs-dir", str(tree), "--conf", str(views_ini))
    assert rc == 0 and out.splitlines() == ["create view payments-all",
                                            "1 created, 0 updated, 0 unchanged, 0 deleted, 0 orphaned"], out + err
    bad = write_ini(tmp_path / "bad.ini", url=jenkins.url)
    bad.write_text(bad.read_text().replace("[jenkins]", "update=everything\n\n[jenkins]"))
    rc, _, err = _run(capsys, "diff", "--jobs-dir", str(tree), "--conf", str(bad))
    assert rc == 2 and err == f"gantry: {bad}: [job_builder] update: must be all, jobs or views, got 'everything'\n"


def test_every_shipped_job_carries_gantrys_marker() -> None:
    """jobs/defaults.yaml and jobs/templates.yaml give each rendered item gantry's line, which
    JJB's output carries too: what `jenkins-jobs update jobs/` creates, gantry can prune later."""
    jobs = render_jobs(jjb_files(JOBS_DIR, exclude=[JOBS_DIR / "catalog.yaml"]))
    assert len(jobs) == 19 and all(is_managed(j.xml) for j in jobs)
    assert not is_managed(jobs[0].xml.replace(b"Managed by gantry", b"Managed by hand"))
    assert not is_managed(jobs[0].xml.replace(b"&lt;!-- Managed by Jenkins Job Builder --&gt;", b""))
