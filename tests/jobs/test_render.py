"""Rendering: generated projects stay in sync with the catalog; XML equals `jenkins-jobs test`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.cli import main
from pipeline_lib.jenkins.client import load_settings
from pipeline_lib.jobs.generate import check_generated, expected_job_names, generate_projects, loadtest_job_name
from pipeline_lib.jobs.render import jjb_files, render_jobs

from .conftest import JOBS_DIR, PROJECT_ROOT

JJB = Path(sys.executable).parent / "jenkins-jobs"
JJB_INI = "[job_builder]\nquery_plugins_info=False\n[jenkins]\nurl=http://127.0.0.1:9\nquery_plugins_info=False\n"


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _jenkins_jobs_test(tmp_path: Path, path: str, cwd: Path) -> subprocess.CompletedProcess:
    ini = tmp_path / "jenkins_jobs.ini"
    ini.write_text(JJB_INI)
    return subprocess.run([str(JJB), "--conf", str(ini), "test", "--config-xml", "-o", str(tmp_path / "out"), path],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_generated_projects_match_the_catalog() -> None:
    """jobs/projects.generated.yaml is committed; it fails here when it drifts from the catalog."""
    catalog = load_catalog(JOBS_DIR / "catalog.yaml")
    check_generated(catalog, JOBS_DIR, "jobs/catalog.yaml")
    assert (JOBS_DIR / "projects.generated.yaml").read_text() == generate_projects(catalog, "jobs/catalog.yaml")


def test_render_is_byte_identical_to_jenkins_jobs_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jjb_only = tmp_path / "jjb"
    jjb_only.mkdir()
    for f in jjb_files(JOBS_DIR, exclude=[JOBS_DIR / "catalog.yaml"]):
        shutil.copy(f, jjb_only / f.name)
    proc = _jenkins_jobs_test(tmp_path, str(jjb_only), tmp_path)
    assert proc.returncode == 0, proc.stderr
    monkeypatch.chdir(PROJECT_ROOT)
    assert main(["jobs", "render", "-o", str(tmp_path / "out2")]) == 0
    ours, theirs = _tree(tmp_path / "out2"), _tree(tmp_path / "out")
    assert ours.keys() == theirs.keys()
    assert ours == theirs
    catalog = load_catalog(JOBS_DIR / "catalog.yaml")
    assert sorted(str(Path(n) / "config.xml") for n in expected_job_names(catalog)) == sorted(ours)


def test_every_pipeline_job_points_at_the_jenkinsfile() -> None:
    jobs = render_jobs(jjb_files(JOBS_DIR, exclude=[JOBS_DIR / "catalog.yaml"]))
    catalog = load_catalog(JOBS_DIR / "catalog.yaml")
    watches = [j for j in jobs if j.name.endswith("/watch")]   # gantry watch: an inline pipeline, see below
    assert sorted(j.name for j in watches) == ["dev/watch", "event/watch", "prod/watch"]
    for job in watches:
        script = ET.fromstring(job.xml).findtext("definition/script")
        assert f"gantry watch --env {job.name.split('/')[0]} " in script
        assert ET.fromstring(job.xml).findtext(".//hudson.triggers.TimerTrigger/spec") == "H H * * *"
    pipelines = [j for j in jobs if not j.is_folder and j not in watches
                 and j.name != loadtest_job_name(catalog)]
    assert len(pipelines) == sum(len(s.environments) + 1 for s in catalog.services)
    for job in pipelines:
        root = ET.fromstring(job.xml)
        assert root.tag == "flow-definition"
        definition = root.find("definition")
        assert definition.get("class") == "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition"
        assert definition.findtext("scriptPath") == "Jenkinsfile"
        assert (PROJECT_ROOT / definition.findtext("scriptPath")).is_file()
        service = catalog.service(job.name.split("/")[1].removesuffix("-pr"))
        assert definition.findtext("scm/userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/url") == \
            f"{catalog.github_url}/{service.repo}.git"
        names = [p.findtext("name") for p in root.iter() if p.tag.endswith("ParameterDefinition")]
        assert names == ["IMAGE_TAG", "TARGET_ENV", "COMMIT_SHA", "BRANCH", "GIT_REF", "PR_NUMBER"]
        assert root.find("properties/jenkins.model.BuildDiscarderProperty") is not None
        if not job.name.endswith("-pr"):
            assert definition.findtext("lightweight") == "true"
            assert root.find(".//com.cloudbees.jenkins.GitHubPushTrigger") is not None


def test_documented_jenkins_jobs_command_on_jobs_dir(tmp_path: Path) -> None:
    """`jenkins-jobs test --config-xml -o out jobs/`, as release engineers run it."""
    proc = _jenkins_jobs_test(tmp_path, "jobs/", PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr  # the catalog sits in jobs/ under `_catalog:`, which JJB skips
    ours = render_jobs(jjb_files(JOBS_DIR, exclude=[JOBS_DIR / "catalog.yaml"]))
    assert {j.name: j.xml for j in ours} == {str(p.parent.relative_to(tmp_path / "out")): p.read_bytes()
                                             for p in (tmp_path / "out").rglob("config.xml")}


def test_ini_example_is_a_valid_jjb_ini() -> None:
    settings = load_settings(JOBS_DIR / "jenkins_jobs.ini.example", env={})
    assert settings.url.startswith("https://")


def test_broken_template_yaml_is_one_line_with_file_and_line(jobs_copy: Path, capsys, monkeypatch) -> None:
    templates = jobs_copy / "templates.yaml"
    lines = templates.read_text().splitlines()
    idx = next(i for i, line in enumerate(lines) if "project-type: pipeline" in line)
    lines[idx] = "    project-type: [pipeline"
    templates.write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(jobs_copy.parent)
    assert main(["jobs", "render", "--jobs-dir", "jobs", "-o", "out"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"gantry: {templates}:") and "invalid YAML" in err[0]
    assert not (jobs_copy.parent / "out").exists()


def test_unknown_macro_is_reported_with_file_and_line(jobs_copy: Path, capsys) -> None:
    templates = jobs_copy / "templates.yaml"
    templates.write_text(templates.read_text().replace("      - gantry-job-properties:", "      - no-such-macro:", 1))
    assert main(["jobs", "render", "--jobs-dir", str(jobs_copy), "-o", str(jobs_copy.parent / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[0].startswith(f"gantry: {templates}:")
    assert "no-such-macro" in err[0]


def test_catalog_drift_refuses_to_render(jobs_copy: Path, capsys) -> None:
    catalog = jobs_copy / "catalog.yaml"
    assert main(["jobs", "render", "--jobs-dir", str(jobs_copy), "-o", str(jobs_copy.parent / "out")]) == 0
    catalog.write_text(catalog.read_text().replace("name: product-api", "name: products-api"))
    assert main(["jobs", "render", "--jobs-dir", str(jobs_copy), "-o", str(jobs_copy.parent / "out")]) == 1
    err = capsys.readouterr().err
    assert "projects.generated.yaml: out of date" in err and "gantry jobs generate" in err
    assert main(["jobs", "generate", "--jobs-dir", str(jobs_copy)]) == 0
    assert main(["jobs", "generate", "--check", "--jobs-dir", str(jobs_copy)]) == 0
    assert main(["jobs", "render", "--jobs-dir", str(jobs_copy), "-o", str(jobs_copy.parent / "out")]) == 0
    assert (jobs_copy.parent / "out" / "prod" / "products-api" / "config.xml").is_file()


def test_broken_catalog_sends_nothing_to_jenkins(jobs_copy: Path, jenkins_env, capsys) -> None:
    catalog = jobs_copy / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("    services:\n", "    services:\n      - name: Bad Name\n", 1))
    assert main(["jobs", "update", "--jobs-dir", str(jobs_copy)]) == 2
    err = capsys.readouterr().err
    assert f"gantry: {catalog}: services[0]" in err
    assert "Traceback" not in err
    assert sum(jenkins_env.state.requests.values()) == 0


def test_render_cache_is_exact_and_invalidated_by_any_change(jobs_copy: Path, _render_cache: Path) -> None:
    from pipeline_lib.jobs.render import render_jobs_cached
    files = jjb_files(jobs_copy, exclude=[jobs_copy / "catalog.yaml"])
    fresh = render_jobs(files)
    # the cache directory is the caller's (the CLI passes $GANTRY_CACHE_DIR)
    assert render_jobs_cached(files, cache=_render_cache) == fresh            # fills the cache
    assert len(list(_render_cache.glob("jobs-render-*.json"))) == 1
    assert render_jobs_cached(files, cache=_render_cache) == fresh            # served from it
    defaults = jobs_copy / "defaults.yaml"
    defaults.write_text(defaults.read_text().replace("keep-builds: 100", "keep-builds: 7"))
    changed = render_jobs_cached(files, cache=_render_cache)
    assert changed != fresh and b"<numToKeep>7</numToKeep>" in changed[1].xml
    assert changed == render_jobs(files)
