"""``gantry watch`` input errors and a new environment (trial defects): unusable directories are one
line naming the path, an empty ``--ledger`` is refused, a ledger without ``environment`` says so,
and a service the overlays pin no digest for yet is skipped and listed, not "cannot evaluate"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops.layout import init_repo
from pipeline_lib.cli import main
from pipeline_lib.core.catalog import load_catalog
from tests.support.paths import FIXTURES, PROJECT_ROOT

CATALOG = PROJECT_ROOT / "jobs" / "catalog.yaml"
REPORT = FIXTURES / "trivy" / "alpine-3.9-image.json"


def gantry(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:   # argparse's own refusals
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("flag", ["--sbom-cache", "--report-dir"])
def test_a_directory_option_that_is_a_file_is_one_line_naming_it(tmp_path: Path, capsys, flag: str) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    for dry in ((), ("--dry-run",)):
        code, _, err = gantry(capsys, "watch", "--env", "dev", "--catalog", str(CATALOG), "--repo",
                              (tmp_path / "none.git").as_uri(), flag, str(afile), "--skip-db-update",
                              "--ledger", str(tmp_path / "led.json"), *dry)
        assert code == 2 and err == f"gantry: watch: {flag}: {afile}: cannot create the directory: " \
                                    "it or a parent is a file\n"


def test_ledger_import_refuses_an_empty_ledger_and_a_ledger_below_a_file(tmp_path: Path, capsys) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    base = ("watch", "ledger-import", str(REPORT), "--env", "dev", "--service", "storefront", "--catalog", str(CATALOG))
    code, _, err = gantry(capsys, *base, "--ledger", "")
    assert code == 2 and err.count("\n") == 1 and "argument --ledger: is empty" in err
    code, _, err = gantry(capsys, *base, "--ledger", str(afile / "led.json"))
    assert code == 2 and err == f"gantry: {afile / 'led.json'}: cannot write: a parent path is a file, not a directory\n"


def test_a_ledger_without_environment_says_so(tmp_path: Path, capsys) -> None:
    ledger = tmp_path / "led.json"
    ledger.write_text(json.dumps({"version": 1, "findings": []}))
    code, _, err = gantry(capsys, "watch", "ledger-import", str(REPORT), "--env", "dev", "--service", "storefront",
                          "--catalog", str(CATALOG), "--ledger", str(ledger))
    assert code == 2 and err == f"gantry: {ledger}: environment is missing or not a name (expected 'dev')\n"


def test_services_without_a_pinned_digest_are_skipped_not_cannot_evaluate(tmp_path: Path, capsys) -> None:
    catalog = load_catalog(CATALOG)
    bare = tmp_path / "gitops.git"
    init_repo(bare, catalog, catalog.services_in("dev"), "dev", "127.0.0.1:5000")   # nothing deployed yet
    code, out, err = gantry(capsys, "watch", "--env", "dev", "--catalog", str(CATALOG), "--repo", bare.as_uri(),
                            "--ledger", str(tmp_path / "led.json"), "--skip-db-update", "--format", "json")
    report = json.loads(out)
    names = [s.name for s in catalog.services_in("dev")]
    assert code == 0, err
    assert [(s["service"], s["skipped"], s["problems"]) for s in report["services"]] == \
        [(n, "no digest pinned in dev: not deployed", []) for n in names]
    assert report["summary"] == f"dev: 0 digest(s), 0 new blocking finding(s), 0 fixed; not deployed (no digest " \
                                f"pinned), skipped: {', '.join(names)}"
