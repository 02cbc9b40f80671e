"""Each scanner owns its options: declared in its module, built into ``gantry scan`` by the registry.

The real scanner modules' declarations must be consistent, ``gantry scan`` must show exactly them
(one group per scanner), and a scanner added the documented way (``tests/support/extrascanner.py``
plus one ``SCANNERS`` line) must work end to end without any other module knowing it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pipeline_lib.cli import build_parser, main
from pipeline_lib.commands.security import scan_options
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.settingsmodel import Settings
from pipeline_lib.stages import scan
from scanners import registry
from scanners.options import IMAGE_ARCHIVE, IMAGE_REFERENCE, SOURCE, Option
from tests.support import extrascanner
from tests.pipeline_lib.test_cli_imports import HEAVY
from tests.support.oci import image_layout


def _scan_parser() -> argparse.ArgumentParser:
    root = build_parser("scan")
    sub = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["scan"]


def _groups(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    return {g.title: [a.option_strings[0] for a in g._group_actions] for g in parser._action_groups
            if g.title not in ("positional arguments", "options")}


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser("scan").parse_args(["scan", *argv])


def test_the_declarations_are_consistent() -> None:
    assert registry.declaration_problems() == []


def test_gantry_scan_has_one_group_per_scanner_with_its_declared_flags() -> None:
    declared = {tool: [o.flag for o in registry.options(tool)] for tool in registry.tool_names()}
    assert _groups(_scan_parser()) == {tool: flags for tool, flags in declared.items() if flags}
    assert declared["checkov"] == []      # a scanner without options has no (empty) group


def _with(args: argparse.Namespace, **settings: str) -> argparse.Namespace:
    """``args`` with the settings the CLI would have read from an environment holding ``settings``."""
    args.settings = Settings(**settings)
    return args


def test_the_options_reach_the_stage_as_the_scanners_run_keywords() -> None:
    dc = scan_options(_with(_parse("dependency-check", "--src", ".", "--out", "o", "--dc-cli", "/opt/dc.sh",
                                   "--no-update", "--data-dir", "d")))
    assert dc.options == {"cli": "/opt/dc.sh", "data_dir": Path("d"), "suppression": None, "no_update": True,
                          "home": None, "nvd_api_key": None}      # the last two: the scanner's from_settings
    sonar = scan_options(_with(_parse("sonarqube", "--src", ".", "--out", "o", "--sonar-scanner", "pysonar",
                                      "--no-update")))      # another scanner's flag: accepted, not its option
    assert sonar.options == {"host_url": None, "project_key": None, "scanner": "pysonar", "token": None}
    t = scan_options(_with(_parse("trivy", "--src", ".", "--out", "o", "--scanners", "vuln, secret,", "--no-sbom",
                                  "--db-repository", "r.example/db:2", "--input", "i.tar", "--timeout", "5")))
    assert (t.tool, t.input, t.image, t.timeout) == ("trivy", Path("i.tar"), None, 5.0)
    assert t.options["scanners"] == ("vuln", "secret") and t.options["sbom"] is False
    assert t.options["db_repository"] == "r.example/db:2" and t.options["skip_db_update"] is None
    assert "policy" not in t.options and "env" not in t.options     # turned into the DB mirrors
    plain = scan_options(_parse("trivy", "--src", ".", "--out", "o"))
    assert plain.options["scanners"] == ("misconfig", "secret") and plain.options["sbom"] is True
    assert scan_options(_with(_parse("checkov", "--src", ".", "--out", "o"))).options == {"checkov": None}


def test_settings_fill_the_options_the_command_line_did_not_give() -> None:
    """A scanner's secrets and tool knobs come from the settings the CLI read (its ``from_settings``);
    a declared option given on the command line wins."""
    env = {"sonar_host_url": "https://sonar.example", "sonar_token": "s3cret"}
    sonar = scan_options(_with(_parse("sonarqube", "--src", ".", "--out", "o"), **env))
    assert (sonar.options["host_url"], sonar.options["token"]) == ("https://sonar.example", "s3cret")
    given = scan_options(_with(_parse("sonarqube", "--src", ".", "--out", "o", "--host-url", "https://other"), **env))
    assert given.options["host_url"] == "https://other"
    t = scan_options(_with(_parse("trivy", "--src", ".", "--out", "o", "--cache-dir", "c"),
                           trivy_bin="/opt/trivy", trivy_cache_dir="/var/cache/trivy"))
    assert (t.options["trivy"], t.options["cache_dir"]) == ("/opt/trivy", Path("c"))
    t = scan_options(_with(_parse("trivy", "--src", ".", "--out", "o"), xdg_cache_home="/x"))
    assert t.options["cache_dir"] == Path("/x/trivy")
    dc = scan_options(_with(_parse("dependency-check", "--src", ".", "--out", "o"),
                            dependency_check_home="/opt/dc", nvd_api_key="k"))
    assert (dc.options["home"], dc.options["nvd_api_key"]) == ("/opt/dc", "k")
    assert scan_options(_with(_parse("checkov", "--src", ".", "--out", "o"), checkov="/opt/checkov")).options == {
        "checkov": "/opt/checkov"}


def test_building_the_groups_imports_no_heavy_library() -> None:
    """``gantry scan --help`` imports every scanner module (their declarations): they stay light."""
    code = ("import json, sys; from pipeline_lib.cli import build_parser; build_parser('scan'); "
            "print(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    assert proc.returncode == 0, proc.stderr
    modules = set(json.loads(proc.stdout))
    assert set(registry.SCANNERS.values()) <= modules
    assert sorted({m.split(".")[0] for m in modules} & set(HEAVY)) == []


#: what `gantry scan trivy --input ARCHIVE --skip-db-update` must not load (issue 22, "a CLI that
#: starts fast": each costs milliseconds of every scan's start-up; the policy's YAML ~35 ms)
SCAN_PATH_UNUSED = ("yaml", "scanners.policy", "typing", "hashlib", "xml.etree.ElementTree")


def _options_in_a_fresh_process(*argv: str) -> tuple[dict, list[str]]:
    """``scan_options`` of ``gantry scan trivy ARGV`` in a new interpreter: (its DB options, which of
    :data:`SCAN_PATH_UNUSED` it imported)."""
    code = ("import json, sys; from pipeline_lib.cli import build_parser; "
            "from pipeline_lib.commands.security import scan_options; "
            f"o = scan_options(build_parser('scan').parse_args(['scan', 'trivy', *{list(argv)!r}])).options; "
            "print(json.dumps([{k: o[k] for k in ('db_repository', 'java_db_repository', 'skip_db_update')}, "
            f"[m for m in {SCAN_PATH_UNUSED!r} if m in sys.modules]]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    assert proc.returncode == 0, proc.stderr
    opts, loaded = json.loads(proc.stdout)
    return opts, loaded


def test_the_packaged_policy_is_read_only_when_a_mirror_it_names_could_be_used(tmp_path: Path) -> None:
    """The packaged policy gives the DB mirrors that no flag gives: with --skip-db-update Trivy
    downloads nothing, with both mirror flags it has nothing left to give; then it is not read.
    A --policy given is always read, so a bad one fails whatever the flags."""
    base = ["--src", str(tmp_path), "--out", str(tmp_path / "o")]
    opts, loaded = _options_in_a_fresh_process(*base, "--skip-db-update")
    assert opts == {"db_repository": None, "java_db_repository": None, "skip_db_update": True} and loaded == []
    opts, loaded = _options_in_a_fresh_process(*base, "--db-repository", "m.example/db:2",
                                               "--java-db-repository", "m.example/java-db:1")
    assert (opts["db_repository"], opts["java_db_repository"]) == ("m.example/db:2", "m.example/java-db:1")
    assert loaded == []
    _, loaded = _options_in_a_fresh_process(*base, "--db-repository", "m.example/db:2")   # the Java DB's mirror
    assert "scanners.policy" in loaded
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nvulnerability_db: {repository: mirror.example/trivy-db:2}\n")
    given = scan_options(_parse("trivy", *base, "--skip-db-update", "--policy", str(policy)))
    assert given.options["db_repository"] == "mirror.example/trivy-db:2"
    policy.write_text("version: 1\nvulnerability_db: {repositry: typo}\n")
    with pytest.raises(GantryError, match="repositry"):
        scan_options(_parse("trivy", *base, "--skip-db-update", "--policy", str(policy)))


def test_a_bad_option_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["scan", "trivy", "--src", ".", "--out", "o", "--env", "moon"])
    assert exit_.value.code == 2
    assert "gantry: scan: argument --env: invalid choice: 'moon'" in capsys.readouterr().err


def test_a_tool_that_does_not_scan_the_subject_is_refused(tmp_path: Path) -> None:
    assert registry.tools_for(IMAGE_ARCHIVE) == registry.tools_for(IMAGE_REFERENCE) == ("trivy",)
    assert registry.tools_for(SOURCE) == registry.tool_names()
    with pytest.raises(GantryError) as err:
        scan.run(scan.ScanOptions("checkov", tmp_path, tmp_path / "out", input=tmp_path / "image.tar"))
    assert str(err.value) == "scan: --input: checkov does not scan an image archive (scanners that do: trivy)"
    with pytest.raises(GantryError, match="--image: sonarqube does not scan an image reference"):
        scan.run(scan.ScanOptions("sonarqube", tmp_path, tmp_path / "out", image="alpine:3.19"))


def test_an_unknown_report_names_every_registered_format(tmp_path: Path) -> None:
    report = tmp_path / "x.json"
    report.write_text('{"something": "else"}')
    with pytest.raises(GantryError) as err:
        registry.parse_report(report)
    labels = registry.format_labels()
    assert "Checkov JSON" in labels and "Dependency-Check XML" in labels
    assert all(label in err.value.what for label in labels), err.value.what


# ------------------------------------------------------------------ a scanner added the documented way

@pytest.fixture()
def extra(monkeypatch: pytest.MonkeyPatch):
    """``extrascanner`` registered: one SCANNERS line (its formats on a copy of FORMATS, undone after)."""
    monkeypatch.setattr(registry, "FORMATS", dict(registry.FORMATS))
    monkeypatch.delitem(sys.modules, extrascanner.__name__)
    monkeypatch.setitem(registry.SCANNERS, extrascanner.TOOL, extrascanner.__name__)
    return registry.scanner(extrascanner.TOOL)


def test_an_added_scanner_gets_its_group_and_runs_through_the_cli(extra, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert registry.declaration_problems() == []
    assert _groups(_scan_parser())["extra-lint"] == ["--extra-word", "--extra-max", "--extra-kinds",
                                                     "--extra-quiet"]
    src = tmp_path / "src"
    (src / "conf").mkdir(parents=True)
    (src / "conf" / "secret.env").write_text("x")
    (src / "README").write_text("x")
    out = tmp_path / "scans"
    assert main(["scan", "extra-lint", "--src", str(src), "--out", str(out), "--extra-word", "secret"]) == 0
    assert capsys.readouterr().out.startswith("extra-lint: ok (1 findings) in ")
    assert json.loads((out / "extra-lint.outcome.json").read_text())["status"] == "ok"
    assert main(["findings", str(out / "extra-lint.json"), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["tool"], r["target"]) for r in rows] == [("extra-lint", "conf/secret.env")]
    report = tmp_path / "gate"                      # the gate weighs it as any other scanner's
    assert main(["gate", "--outcomes", str(out), "--report-dir", str(report)]) == 0   # LOW: below the default HIGH
    assert [r["tool"] for r in json.loads((report / "findings.json").read_text())] == ["extra-lint"]
    with pytest.raises(SystemExit) as exit_:
        main(["scan", "extra-lint", "--src", str(src), "--out", str(out), "--extra-max", "many"])
    assert exit_.value.code == 2
    assert "--extra-max: invalid number value: 'many'" in capsys.readouterr().err


def test_an_added_scanner_gets_an_oci_archive_as_the_layout_it_reads(extra, tmp_path: Path) -> None:
    layout, _ = image_layout(tmp_path / "layout", "hello")
    archive = tmp_path / "image.oci.tar"
    with tarfile.open(archive, "w") as tar:
        for p in sorted(layout.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(layout)), recursive=False)
    opts = scan.ScanOptions("extra-lint", tmp_path, tmp_path / "out", input=archive, options={"word": "sha256"})
    result = scan.run(opts)
    assert result.data["outcome"] == "ok", result.data
    assert json.loads((tmp_path / "out" / "extra-lint.json").read_text())["subject"] == "layout"
    assert result.data["findings"] == 1
    with pytest.raises(GantryError, match="--image: extra-lint does not scan an image reference "
                                          r"\(scanners that do: trivy\)"):
        scan.run(scan.ScanOptions("extra-lint", tmp_path, tmp_path / "out", image="alpine:3.19"))


def test_a_flag_two_scanners_declare_is_a_declaration_problem(extra, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extra, "OPTIONS", (*extra.OPTIONS, Option("--scanners", "scanners"),
                                           Option("--src", "src")))
    assert registry.declaration_problems() == [
        "extra-lint: --scanners is declared by trivy already",
        "extra-lint: --src is an option of gantry scan itself",
    ]
    monkeypatch.setattr(extra, "SUBJECTS", (SOURCE, "tarball"))
    assert "extra-lint: unknown subject 'tarball'" in registry.declaration_problems()
