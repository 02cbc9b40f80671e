"""`gantry jobs diff|update` against a local server speaking the Jenkins remote-access API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline_lib.cli import main
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.settingsmodel import Settings
from pipeline_lib.jenkins.client import JenkinsClient, JenkinsSettings, load_settings
from tests.support.localjenkins import LocalJenkins
from pipeline_lib.jobs.sync import normalize_xml

from .conftest import PROJECT_ROOT

N_JOBS = 19  # 3 folders + 12 service jobs + event/loadtest + 3 environment watch jobs for the shipped catalog


@pytest.fixture(autouse=True)
def _in_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["jobs", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_first_update_creates_folders_before_jobs_then_nothing_to_do(jenkins_env: LocalJenkins, capsys) -> None:
    rc, out, err = _run(capsys, "update", "--workers", "4")
    assert rc == 0, err
    lines = out.splitlines()
    creates = [line.split()[1] for line in lines if line.startswith("create ")]
    assert len(creates) == N_JOBS
    for i, name in enumerate(creates):
        if "/" in name:
            assert name.split("/")[0] in creates[:i], f"{name} created before its folder"
    assert lines[-1] == f"{N_JOBS} created, 0 updated, 0 unchanged, 0 deleted, 0 orphaned"
    assert jenkins_env.state.items["dev"].folder
    assert "<scriptPath>Jenkinsfile</scriptPath>" in jenkins_env.config("prod/storefront")
    assert jenkins_env.crumbs_issued >= 1

    jenkins_env.reset_counts()
    rc, out, err = _run(capsys, "update")
    assert rc == 0
    assert out.splitlines()[-1] == f"0 created, 0 updated, {N_JOBS} unchanged, 0 deleted, 0 orphaned"
    assert jenkins_env.count("POST", "config.xml") == 0 and jenkins_env.count("POST", "createItem") == 0
    assert jenkins_env.count("GET", "config.xml") == N_JOBS  # compared with the live XML, not a cache

    rc, out, _ = _run(capsys, "diff")
    assert rc == 0
    assert out.strip() == f"0 to create, 0 to update, {N_JOBS} unchanged, 0 orphaned"


def test_job_changed_by_hand_is_detected_and_reset(jenkins_env: LocalJenkins, capsys) -> None:
    assert _run(capsys, "update")[0] == 0
    original = jenkins_env.config("dev/storefront")
    edited = original.replace("<numToKeep>100</numToKeep>", "<numToKeep>3</numToKeep>")
    # Jenkins rewrites what it saves: XML 1.1 declaration, versioned plugin ids, other layout.
    edited = edited.replace('<?xml version="1.0" encoding="utf-8"?>', "<?xml version='1.1' encoding='UTF-8'?>")
    edited = edited.replace('plugin="workflow-job"', 'plugin="workflow-job@1436.vfa_244484591f"')
    jenkins_env.put("dev/storefront", edited)
    cosmetic = jenkins_env.config("dev/order-api").replace("  <", "    <").replace(
        'plugin="workflow-job"', 'plugin="workflow-job@1436.vfa_244484591f"')
    jenkins_env.put("dev/order-api", cosmetic)

    rc, out, _ = _run(capsys, "diff")
    assert rc == 1
    assert "--- jenkins/dev/storefront/config.xml" in out and "+++ rendered/dev/storefront/config.xml" in out
    assert re.search(r"^-\s*<numToKeep>3</numToKeep>$", out, flags=re.M)
    assert re.search(r"^\+\s*<numToKeep>100</numToKeep>$", out, flags=re.M)
    assert "dev/order-api" not in out  # only cosmetic differences: unchanged
    assert out.splitlines()[-1] == f"0 to create, 1 to update, {N_JOBS - 1} unchanged, 0 orphaned"

    jenkins_env.reset_counts()
    rc, out, _ = _run(capsys, "update")
    assert rc == 0 and "update dev/storefront" in out
    assert jenkins_env.count("POST", "config.xml") == 1
    assert normalize_xml(jenkins_env.config("dev/storefront")) == normalize_xml(original)


def test_orphans_are_reported_and_deleted_only_with_prune(jenkins_env: LocalJenkins, capsys) -> None:
    assert _run(capsys, "update")[0] == 0
    managed = jenkins_env.config("dev/order-api")
    jenkins_env.put("dev/retired-api", managed)
    jenkins_env.put("dev/retired-api-pr", managed)
    jenkins_env.put("dev/hand-made", "<flow-definition><description>made by a human</description></flow-definition>")
    jenkins_env.put("legacy", jenkins_env.config("dev").replace("dev environment", "legacy"), folder=True)
    jenkins_env.put("legacy/old", managed)

    rc, out, _ = _run(capsys, "diff")
    assert rc == 1
    assert out.splitlines()[-1] == f"0 to create, 0 to update, {N_JOBS} unchanged, 3 orphaned"

    rc, out, _ = _run(capsys, "update")
    assert rc == 0
    assert "orphan dev/retired-api (kept: pass --prune to delete it)" in out
    assert "dev/retired-api" in jenkins_env.state.items

    # 4 deletions (legacy/old goes with its folder) of the 20 items carrying gantry's marker: 20 %
    doomed = ["dev/retired-api", "dev/retired-api-pr", "legacy", "legacy/old"]
    for extra in ((), ("--dry-run",)):
        jenkins_env.reset_counts()
        rc, out, err = _run(capsys, "update", "--prune", *extra)
        assert rc == 2 and err.count("\n") == 1
        assert err.startswith("gantry: jobs update --prune: would delete 4 of the 23 items gantry manages (17%), "
                              "more than --max-deletion-percent 10: refused, nothing")
        assert [ln for ln in out.splitlines() if ln.startswith("would delete")] == [f"would delete {d} (refused)"
                                                                                   for d in doomed]
        assert jenkins_env.count("POST", "doDelete") == 0 and "dev/retired-api" in jenkins_env.state.items
    rc, out, err = _run(capsys, "update", "--prune", "--max-deletions", "3", "--max-deletion-percent", "100")
    assert rc == 2 and "would delete 4 items, more than --max-deletions 3" in err
    assert jenkins_env.count("POST", "doDelete") == 0

    rc, out, _ = _run(capsys, "update", "--prune", "--dry-run", "--max-deletion-percent", "25")
    assert rc == 0 and "would delete dev/retired-api" in out and "dev/retired-api" in jenkins_env.state.items
    assert "would delete legacy/old (inside legacy)" in out.splitlines()

    jenkins_env.reset_counts()
    rc, out, _ = _run(capsys, "update", "--prune", "--max-deletion-percent", "25")
    assert rc == 0
    assert {"delete dev/retired-api", "delete dev/retired-api-pr", "delete legacy",
            "delete legacy/old (inside legacy)"} <= set(out.splitlines())
    assert out.splitlines()[-1] == f"0 created, 0 updated, {N_JOBS} unchanged, 4 deleted, 0 orphaned"
    assert jenkins_env.count("POST", "doDelete") == 3  # legacy/old went with its folder
    assert "dev/hand-made" in jenkins_env.state.items  # not managed by gantry: never deleted
    assert not any(n.startswith(("legacy", "dev/retired")) for n in jenkins_env.state.items)


def test_dry_run_changes_nothing(jenkins_env: LocalJenkins, capsys) -> None:
    rc, out, _ = _run(capsys, "update", "--dry-run")
    assert rc == 0 and "would create dev/storefront" in out
    assert out.splitlines()[-1].startswith(f"{N_JOBS} would be created")
    assert jenkins_env.state.items == {}
    assert jenkins_env.count("POST", "createItem") == 0


def test_transient_5xx_are_retried(jenkins_env: LocalJenkins, capsys, monkeypatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    jenkins_env.fail_next = 3
    rc, out, err = _run(capsys, "update", "--workers", "1")
    assert rc == 0, err
    assert len(jenkins_env.state.items) == N_JOBS


def test_wrong_token_is_one_clear_line(jenkins_env: LocalJenkins, capsys, monkeypatch) -> None:
    monkeypatch.setenv("JENKINS_API_TOKEN", "wrong")
    rc, out, err = _run(capsys, "diff")
    assert rc == 2
    assert err.strip().count("\n") == 0
    assert err.startswith("gantry: jenkins 127.0.0.1:") and "HTTP 401" in err
    assert "wrong" not in err


def test_settings_from_jjb_ini_when_env_is_unset(jenkins: LocalJenkins, tmp_path: Path, capsys, monkeypatch) -> None:
    for var in ("JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    ini = tmp_path / "jenkins_jobs.ini"
    ini.write_text(f"[job_builder]\nignore_cache=True\n[jenkins]\nurl={jenkins.url}\nuser=release\n"
                   "password=s3cret-token\nquery_plugins_info=False\n")
    rc, out, err = _run(capsys, "update", "--conf", str(ini))
    assert rc == 0, err
    assert len(jenkins.state.items) == N_JOBS
    settings = load_settings(ini, env={"JENKINS_URL": "http://other:8080"})
    assert settings.url == "http://other:8080/" and settings.user == "release"
    assert "s3cret" not in repr(settings)


def test_bad_settings_are_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    for var in ("JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    rc, _, err = _run(capsys, "diff")
    assert rc == 2 and err.startswith("gantry: jenkins: no Jenkins URL")
    bad = tmp_path / "bad.ini"
    bad.write_text("[jenkins\nurl=x\n")
    rc, _, err = _run(capsys, "diff", "--conf", str(bad))
    assert rc == 2 and err.startswith(f"gantry: {bad}") and err.count("\n") == 1
    monkeypatch.setenv("JENKINS_URL", "ftp://example")
    rc, _, err = _run(capsys, "diff")
    assert rc == 2 and "http(s) URL" in err
    rc, _, err = _run(capsys, "update", "--workers", "0")
    assert rc == 2 and err.startswith("gantry: --workers")


def test_connection_refused_is_retried_then_reported() -> None:
    sleeps: list[float] = []
    client = JenkinsClient(JenkinsSettings("http://127.0.0.1:9/", timeout=2), retries=3, sleep=sleeps.append)
    with pytest.raises(GantryError) as info:
        client.list_jobs()
    assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2]  # exponential backoff
    assert info.value.where == "jenkins 127.0.0.1:9" and "list jobs" in info.value.what


def test_expired_crumb_is_fetched_again(jenkins_env: LocalJenkins, capsys) -> None:
    client = JenkinsClient(load_settings(settings=Settings.from_env()), retries=0)
    client.create("solo", "<flow-definition><description>x</description></flow-definition>")
    jenkins_env.crumb = "rotated"  # the controller restarted: old crumbs are refused
    client.reconfigure("solo", "<flow-definition><description>y</description></flow-definition>")
    assert "<description>y</description>" in jenkins_env.config("solo")
    assert jenkins_env.crumbs_issued == 2


def test_release_engineers_jenkins_jobs_update_agrees_with_gantry(jenkins: LocalJenkins, tmp_path: Path,
                                                                   capsys, monkeypatch) -> None:
    """`jenkins-jobs --conf jenkins_jobs.ini update jobs/` as documented; then gantry sees no drift."""
    import subprocess
    import sys
    ini = tmp_path / "jenkins_jobs.ini"
    example = (PROJECT_ROOT / "jobs" / "jenkins_jobs.ini.example").read_text()
    ini.write_text(example.replace("https://jenkins.flashshop.example", jenkins.url.rstrip("/"))
                   .replace("release-bot", "release").replace("CHANGE-ME-api-token", "s3cret-token"))
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("JENKINS_")}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run([str(Path(sys.executable).parent / "jenkins-jobs"), "--conf", str(ini), "update", "jobs/"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(jenkins.state.items) == N_JOBS
    for var in ("JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    rc, out, _ = _run(capsys, "diff", "--conf", str(ini))
    assert rc == 0, out
    assert out.strip() == f"0 to create, 0 to update, {N_JOBS} unchanged, 0 orphaned"


def test_bulk_config_reads_retry_5xx_and_report_missing_jobs(jenkins_env: LocalJenkins) -> None:
    sleeps: list[float] = []
    client = JenkinsClient(load_settings(settings=Settings.from_env()), retries=3, sleep=sleeps.append)
    jenkins_env.put("dev", "<com.cloudbees.hudson.plugins.folder.Folder><description>d</description>"
                           "</com.cloudbees.hudson.plugins.folder.Folder>", folder=True)
    jenkins_env.put("dev/caf\u00e9 api", "<flow-definition><description>\u00e9</description></flow-definition>",
                    folder=False)
    jenkins_env.fail_next = 2
    got = client.get_configs(["dev/caf\u00e9 api", "dev/missing", "nowhere/x"], workers=1)
    assert got["dev/caf\u00e9 api"].endswith("<description>\u00e9</description></flow-definition>")
    assert got["dev/missing"] is None and got["nowhere/x"] is None
    assert len(sleeps) == 2
    bad = JenkinsClient(JenkinsSettings(jenkins_env.url, "release", "wrong"), retries=0)
    with pytest.raises(GantryError) as info:
        bad.get_configs(["dev"])
    assert "HTTP 401" in info.value.what
