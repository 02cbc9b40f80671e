"""``gantry event loadtest`` input errors (trial defects): one line naming the option, exit 2, in a
dry run too; the verdict JSON is printed with ``--format json`` when the run cannot be judged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline_lib.cli import main
from pipeline_lib.core.catalog import parse_catalog, unwrap
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.process import free_port
from tests.support.paths import PROJECT_ROOT

CATALOG = PROJECT_ROOT / "jobs" / "catalog.yaml"


def _loadtest(capsys, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["event", "loadtest", "--catalog", str(CATALOG), "--users", "1", "--duration", "5s", *extra])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.mark.parametrize("dry", [(), ("--dry-run",)])
def test_out_that_cannot_be_a_directory_is_one_line(tmp_path: Path, capsys, dry: tuple[str, ...]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    target = f"http://127.0.0.1:{free_port()}"
    code, _, err = _loadtest(capsys, "--target", target, "--out", str(afile), *dry)
    assert code == 2 and err == f"gantry: event loadtest: --out: {afile}: cannot create the directory: " \
                                "it or a parent is a file\n"
    code, _, err = _loadtest(capsys, "--target", target, "--out", str(afile / "r"), *dry)
    assert code == 2 and err.startswith(f"gantry: event loadtest: --out: {afile / 'r'}: cannot create the directory")
    assert err.count("\n") == 1


@pytest.mark.parametrize(("args", "message"), [
    (("--target", ""), "--target: is empty (an unset variable?)"),
    (("--target", "  "), "--target: is empty (an unset variable?)"),
    (("--duration", "999999h"), "--duration: '999999h' is longer than 30 days"),
    (("--duration", "25h"), "--duration: '25h' is longer than 24h"),
    (("--progress-interval", "soon"), "--progress-interval: 'soon' is not a duration"),
])
def test_bad_options_name_the_subcommand_and_option(capsys, args: tuple[str, ...], message: str) -> None:
    code, out, err = _loadtest(capsys, "--dry-run", *args)
    assert code == 2 and out == "" and err.startswith(f"gantry: event loadtest: {message}") and err.count("\n") == 1


def test_unreachable_target_names_url_and_reason_and_prints_the_verdict(tmp_path: Path, capsys) -> None:
    target = f"http://127.0.0.1:{free_port()}"
    code, out, err = _loadtest(capsys, "--target", target, "--out", str(tmp_path / "r"), "--format", "json")
    line = f"event loadtest: --target {target}: GET / failed: ConnectionError (Connection refused)"
    assert code == 2 and err == f"gantry: {line}\n"
    verdict = json.loads(out)
    assert verdict["passed"] is False and verdict["error"] == line
    assert verdict == json.loads((tmp_path / "r" / "loadtest.json").read_text())


@pytest.mark.parametrize(("change", "message"), [
    ({"duration": "99999h"}, "event.load.duration: must be at most 24h, got '99999h'"),
    ({"mix": [{"name": "cart", "path": "/cart", "weight": 1, "method": "POST", "json": "str"}]},
     "event.load.mix[0].json: must be a JSON object or array (a mapping or list of plain data), got a string"),
    ({"mix": [{"name": "", "path": "/cart", "weight": 1}]},
     "event.load.mix[0].name: must be a non-empty string, got an empty string"),
])
def test_catalog_load_profile_limits(change: dict, message: str) -> None:
    data = yaml.safe_load(CATALOG.read_text())
    unwrap(data)["event"]["load"].update(change)
    with pytest.raises(GantryError) as exc:
        parse_catalog(data, "catalog.yaml")
    assert exc.value.problems == [f"catalog.yaml: {message}"]


def test_cost_history_has_json(tmp_path: Path, capsys) -> None:
    assert main(["event", "cost", "--history", "--ledger", str(tmp_path / "none.json"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ledger": str(tmp_path / "none.json"), "events": []}
