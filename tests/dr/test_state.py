"""The DR state file: read, written, followed by bump; an unreadable one is an error, never "primary"."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.drstate import RegistryState, read_state, state_rel, write_state
from pipeline_lib.core.errors import GantryError
from tests.gitops.conftest import PROJECT_ROOT, gantry

SEOUL = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"
TOKYO = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com"


def test_round_trip_and_follow(tmp_path: Path) -> None:
    state = RegistryState("prod", "ap-northeast-1", TOKYO, "ap-northeast-2", SEOUL, "2026-11-30T05:00:00Z", "failover")
    assert write_state(tmp_path, state) == state_rel("prod") == ".gantry/dr/prod.yaml"
    assert read_state(tmp_path, "prod") == state
    assert read_state(tmp_path, "dev") is None
    assert state.failed_over
    assert state.follow(f"{SEOUL}/shop/storefront") == f"{TOKYO}/shop/storefront"
    assert state.follow("127.0.0.1:5000/shop/storefront") == "127.0.0.1:5000/shop/storefront"
    back = RegistryState("prod", "ap-northeast-2", SEOUL, "ap-northeast-2", SEOUL)
    assert not back.failed_over and back.follow(f"{SEOUL}/shop/x") == f"{SEOUL}/shop/x"


@pytest.mark.parametrize("text", ["{not yaml", "- a list\n", "environment: prod\nactive_region: ap-northeast-1\n",
                                  f"environment: dev\nactive_region: r\nactive_registry: {TOKYO}\n"
                                  f"primary_region: r\nprimary_registry: {SEOUL}\n"])
def test_an_unreadable_state_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / state_rel("prod")
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(GantryError) as err:
        read_state(tmp_path, "prod")
    assert err.value.exit_code == 2 and err.value.where == ".gantry/dr/prod.yaml"


@pytest.mark.parametrize(("args", "message"), [
    (["failover", "--to", "ap-northeast-2"], "--to ap-northeast-2 is the primary registry region: use 'gantry dr failback'"),
    (["failover", "--to", "us-east-1"], "--to us-east-1 is not a replica region (catalog replica_regions: ap-northeast-1)"),
    (["failback", "--registry-for", "us-east-1=127.0.0.1:1"], "region(s) us-east-1 are neither"),
])
def test_bad_input_is_exit_2(args: list[str], message: str) -> None:
    proc = gantry("dr", *args, "--env", "prod", "--catalog", str(PROJECT_ROOT / "jobs" / "catalog.yaml"))
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stderr.count("\n") == 1
