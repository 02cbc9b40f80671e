"""`gantry infra check` on the real infra/ (passes) and on broken copies (clear failures)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipeline_lib.cli import main
from pipeline_lib.infra.check import run_check
from tests.support.signals import group_members, reap, sigint_default, sigint_ignored

from .conftest import CATALOG, INFRA, PROJECT_ROOT, edit

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_full_check_passes_on_infra(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    t0 = time.monotonic()
    rc = main(["infra", "check"])
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    for step in ("fmt: ok", "validate: ok", "structure: ok", "drift: ok", "checkov: ok", "plan: ok"):
        assert step in out
    assert "0 failed" in out
    for env in ("dev", "prod", "event"):
        assert f"{env} " in out.split("plan: ok", 1)[1]            # every env root was planned
    assert not list(INFRA.rglob("zz_gantry*")) and not list(INFRA.rglob(".terraform"))  # infra/ untouched
    print(f"full infra check: {time.monotonic() - t0:.1f}s")


def test_syntax_error_is_reported_with_its_file(infra_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = infra_copy / "modules" / "rds" / "main.tf"
    edit(broken, 'resource "aws_db_subnet_group" "this" {', 'resource "aws_db_subnet_group" "this" {{')
    rc = main(["infra", "check", "--infra", str(infra_copy), "--catalog", str(CATALOG),
               "--steps", "fmt,structure"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert f"gantry: infra check: fmt: {broken}:4: Argument or block definition required" in err
    assert f"gantry: infra check: structure: {broken}:4: HCL syntax error at column 40" in err
    assert err.count("HCL syntax error") == 1
    assert "Traceback" not in err


def test_missing_multi_az_flag_fails_structure(infra_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prod = infra_copy / "envs" / "prod" / "main.tf"
    edit(prod, "  multi_az              = true\n  backup_retention_days = 35", "  backup_retention_days = 35")
    rc = main(["infra", "check", "--infra", str(infra_copy), "--catalog", str(CATALOG), "--steps", "structure"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert f'structure: {prod}: module "rds": multi_az must be true, is <unset> (prod RDS is Multi-AZ)' in err


def test_module_that_hardcodes_multi_az_off_fails(infra_copy: Path) -> None:
    edit(infra_copy / "modules" / "redis" / "main.tf", "multi_az_enabled           = var.multi_az",
         "multi_az_enabled           = false")
    report = run_check(infra_copy, CATALOG, ("structure",))
    assert [f.what for f in report.findings] == [
        "aws_elasticache_replication_group.this: multi_az_enabled must be var.multi_az, is false "
        "(Redis Multi-AZ follows the caller)"]


def test_event_stack_must_not_outlive_the_event(infra_copy: Path) -> None:
    edit(infra_copy / "modules" / "ecs-fargate" / "main.tf",
         "    ignore_changes = [desired_count] # owned by the autoscaler",
         "    ignore_changes  = [desired_count]\n    prevent_destroy = true")
    edit(infra_copy / "envs" / "event" / "main.tf", "  deletion_protection   = false\n", "")
    whats = [f.what for f in run_check(infra_copy, CATALOG, ("structure",)).findings]
    assert any("prevent_destroy in the event stack" in w for w in whats), whats
    assert any('module "rds": deletion_protection must be false' in w for w in whats), whats


def test_catalog_drift_fails_with_the_key(infra_copy: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG.read_text(encoding="utf-8").replace(
        "ecr_repository: shop/product-api", "ecr_repository: shop/products"), encoding="utf-8")
    rc = main(["infra", "check", "--infra", str(infra_copy), "--catalog", str(catalog), "--steps", "drift"])
    out, err = capsys.readouterr()
    assert rc == 1
    prod = infra_copy / "envs" / "prod" / "catalog.auto.tfvars.json"
    assert (f"gantry: infra check: drift: {prod}: services.product-api.ecr_repository: file has "
            '"shop/product-api", catalog gives "shop/products"') in err
    assert "ecr_replication_rule" not in err  # same prefix "shop/": the rule did not change
    # sync repairs it, and the check passes again
    assert main(["infra", "sync", "--infra", str(infra_copy), "--catalog", str(catalog)]) == 0
    assert main(["infra", "check", "--infra", str(infra_copy), "--catalog", str(catalog), "--steps", "drift"]) == 0


def test_committed_tfvars_match_the_catalog() -> None:
    assert run_check(INFRA, CATALOG, ("drift",)).ok


def test_validate_reports_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "infra" / "modules" / "tiny"
    root.mkdir(parents=True)
    (root / "main.tf").write_text(
        'terraform {\n  required_providers {\n    aws = {\n      source  = "hashicorp/aws"\n'
        '      version = "5.100.0"\n    }\n  }\n}\n\nresource "aws_s3_bucket" "b" {\n'
        '  bucket   = "x"\n  no_such_argument = true\n}\n', encoding="utf-8")
    report = run_check(tmp_path / "infra", None, ("validate",))
    assert [f.line() for f in report.findings] == [
        f"validate: {root}/main.tf:12: Unsupported argument "
        '(An argument named "no_such_argument" is not expected here.)']


def test_unknown_step_and_missing_dir_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infra", "check", "--steps", "fmt,lint"]) == 2
    assert main(["infra", "check", "--infra", str(tmp_path / "nope"), "--steps", "fmt"]) == 2
    err = capsys.readouterr().err
    assert "gantry: infra check: --steps: unknown step 'lint'" in err
    assert f"gantry: {tmp_path / 'nope'}: no such directory" in err


def test_new_replica_region_is_drift_in_the_rule(infra_copy: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG.read_text(encoding="utf-8").replace(
        "replica_regions: [ap-northeast-1]", "replica_regions: [ap-northeast-1, ap-southeast-1]"), encoding="utf-8")
    report = run_check(infra_copy, catalog, ("structure", "drift"))
    lines = [f.line() for f in report.findings]
    assert any("drift:" in ln and "ecr_replication_rule.destinations" in ln for ln in lines), lines
    assert any("structure:" in ln and "ECR replication goes to ['ap-northeast-1'], the catalog says "
               "['ap-northeast-1', 'ap-southeast-1']" in ln for ln in lines), lines


@pytest.mark.slow
def test_plan_catches_the_dms_endpoint_conflict(infra_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The conflict as it was: host and port from prod's state next to the secret. validate passes
    (the values are unknown then); plan, with prod's outputs known, names the endpoint."""
    dms = infra_copy / "modules" / "dms"
    edit(dms / "main.tf", "  database_name                   = var.target_db.database\n",
         "  server_name                     = var.target_db.server_name\n"
         "  port                            = var.target_db.port\n"
         "  database_name                   = var.target_db.database\n")
    text = (dms / "variables.tf").read_text(encoding="utf-8")
    field = "    kms_key_arn = string # the key the secret is encrypted with\n"
    assert text.count(field) == 2
    (dms / "variables.tf").write_text(text.replace(
        field, field + "    server_name = optional(string)\n    port = optional(number)\n"), encoding="utf-8")
    read = "    kms_key_arn = data.terraform_remote_state.prod.outputs.db.kms_key_arn\n"
    edit(infra_copy / "envs" / "event" / "main.tf", read, read +
         "    server_name = data.terraform_remote_state.prod.outputs.db.address\n"
         "    port        = data.terraform_remote_state.prod.outputs.db.port\n")
    rc = main(["infra", "check", "--infra", str(infra_copy), "--catalog", str(CATALOG), "--steps", "validate,plan"])
    out, err = capsys.readouterr()
    assert rc == 1, out + err
    assert "validate: ok" in out
    lines = [ln for ln in err.splitlines() if ln.startswith("gantry: infra check: plan: ")]
    assert len(lines) == 1, err                                  # dev and prod still plan
    assert lines[0].startswith(f"gantry: infra check: plan: {infra_copy}/envs/event: "
                               "module.dms.aws_dms_endpoint.target: Conflicting configuration arguments — ")
    # the provider names the pair either way round ("server_name": conflicts with secrets_manager_arn, …)
    assert "conflicts with" in lines[0] and "secrets_manager_arn" in lines[0], lines[0]
    assert f"({infra_copy}/modules/dms/main.tf:" in lines[0]
    assert not list(infra_copy.rglob("zz_gantry*"))              # overrides went to a temp copy only


@pytest.mark.parametrize("signame, preexec, code, message", [
    # Ctrl-C; SIGINT back to default in the child: under Jenkins (nohup, background) it arrives ignored
    ("SIGINT", sigint_default, 130, "gantry: interrupted"),
    # a Jenkins abort / pod eviction, with SIGINT ignored as in a Jenkins sh step
    ("SIGTERM", sigint_ignored, 143, "gantry: terminated by SIGTERM; its processes were stopped"),
])
def test_interrupted_plan_leaves_no_process(tmp_path: Path, signame: str, preexec, code: int, message: str) -> None:
    """Ctrl-C or SIGTERM during the plan step (terraform runs in worker threads, moto is a server):
    exit 130/143 with one line, and no terraform, provider or moto process is left."""
    import os
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "pipeline_lib.cli", "infra", "check", "--steps", "plan"],
                            cwd=PROJECT_ROOT, env={**os.environ, "TMPDIR": str(tmp_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (running := [p for p in _pids_under(tmp_path) if "terraform" in _cmd(p)]):
            assert time.monotonic() < deadline and proc.poll() is None, "terraform never started"
            time.sleep(0.2)
        assert any("moto.server" in _cmd(p) for p in _pids_under(tmp_path))
        proc.send_signal(getattr(signal, signame))
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err
        assert err.strip().splitlines() == [message], err
        assert _pids_under(tmp_path) == [], running
        assert group_members(proc.pid) == []
    finally:
        reap(proc)


def _cmd(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids_under(tmp: Path) -> list[str]:
    """Processes whose working directory, command line or stdout (moto's log) is under ``tmp``."""
    import os

    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            paths = [os.readlink(f"/proc/{pid}/cwd"), os.readlink(f"/proc/{pid}/fd/1"), _cmd(pid)]
        except OSError:
            continue
        if any(str(tmp) in x for x in paths):
            found.append(pid)
    return found
