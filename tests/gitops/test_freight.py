"""Freight records and their ID, revocation from the CLI, the catalog's ``promotion:`` section, the
Argo CD stand-in's answers (validated against Argo CD's swagger) and the soak arithmetic."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from gitops import trailers
from gitops.argostatus import AppStatus, Deployment, soak
from gitops.freight import Item, from_json, freight_id, make
from pipeline_lib.cli import main
from pipeline_lib.core.catalog import parse_catalog, unwrap
from pipeline_lib.core.errors import BadInput, GantryError
from pipeline_lib.core.yamlload import load_yaml_file
from pipeline_lib.localparts.argocd import LocalArgoCD
from tests.conftest import git
from tests.support.argocd import check_shape
from tests.support.paths import PROJECT_ROOT

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
COMMIT = "a" * 40
T0 = datetime(2026, 12, 6, tzinfo=timezone.utc)


def test_freight_id_is_the_documented_hash_and_order_free() -> None:
    items = [Item("storefront", "r/s", D1), Item("order-api", "r/o", D2)]
    expected = hashlib.sha256(f"order-api@{D2}\nstorefront@{D1}\n{COMMIT}".encode()).hexdigest()[:12]
    assert freight_id(items, COMMIT) == freight_id(items[::-1], COMMIT) == expected
    assert freight_id(items, "b" * 40) != expected


def test_a_hand_edited_record_is_refused() -> None:
    doc = make("dev", COMMIT, [Item("storefront", "r/s", D1)], now=T0).to_json()
    assert from_json(doc, "x.json").id == doc["id"]
    doc["items"][0]["digest"] = D2
    with pytest.raises(BadInput, match="does not match its content"):
        from_json(doc, "x.json")
    with pytest.raises(GantryError, match="items"):
        from_json({"id": "0" * 12}, "x.json")


def test_revoke_from_the_cli(gitops_repo: Path, capsys, monkeypatch) -> None:
    from gitops.bump import bump
    from pipeline_lib.core.catalog import load_catalog
    pinned = bump(gitops_repo.as_uri(), catalog=load_catalog(PROJECT_ROOT / "jobs" / "catalog.yaml"),
                  service="storefront", environment="dev", image="127.0.0.1:5000/shop/storefront", digest=D1,
                  freight=True)
    assert pinned.freight and git(gitops_repo, "show", "--name-only", "--format=", "main").split() == [
        ".gantry/freight/" + pinned.freight + ".json", "apps/storefront/overlays/dev/kustomization.yaml"]
    assert ("Freight", pinned.freight) in trailers.parse(git(gitops_repo, "log", "-1", "--format=%B", "main"))
    freight = make("dev", git(gitops_repo, "rev-parse", "main~1"), [Item("storefront", "r/s", D1)], now=T0)
    assert freight.id == pinned.freight            # the ID: sorted service@digest lines + the tip pinned on
    monkeypatch.setenv("GANTRY_ACTOR", "alice")
    argv = ["gitops", "revoke", "--repo", gitops_repo.as_uri(), "--freight", freight.id, "--reason", "bad base image"]
    before = git(gitops_repo, "rev-parse", "main")
    assert main([*argv, "--dry-run"]) == 0 and git(gitops_repo, "rev-parse", "main") == before
    assert main(argv) == 0
    assert f"freight {freight.id} revoked" in capsys.readouterr().out
    found = trailers.parse(git(gitops_repo, "log", "-1", "--format=%B", "main"))
    assert found == [("Gantry-Action", "revoke"), ("Freight", freight.id), ("By", "alice"), ("Reason", "bad base image")]
    assert main([*argv, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["already"]["by"] == "alice"
    assert main(["gitops", "revoke", "--repo", gitops_repo.as_uri(), "--freight", "0" * 12, "--reason", "x"]) == 2
    assert "no freight 000000000000" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:
        main(["gitops", "revoke", "--freight", "nothex", "--reason", "x"])
    assert bad.value.code == 2 and "'nothex' is not a freight ID" in capsys.readouterr().err


@pytest.mark.parametrize(("section", "message"), [
    ({"soak": "30 minutes"}, "promotion.soak: '30 minutes' is not a duration"),
    ({"soak": 30}, "promotion.soak: must be a string"),
    ({"source": "qa"}, "promotion.source: environment 'qa' is not defined"),
    ({"soaks": "1m"}, "promotion.soaks: unknown key"),
])
def test_catalog_promotion_section_is_validated(section: dict, message: str) -> None:
    data = unwrap(load_yaml_file(PROJECT_ROOT / "jobs" / "catalog.yaml"))
    data["promotion"] = section
    with pytest.raises(GantryError) as exc:
        parse_catalog(data, "catalog.yaml")
    assert message in str(exc.value)
    data["promotion"] = {"soak": "2h"}
    assert parse_catalog(data, "catalog.yaml").promotion.soak_seconds == 7200


def test_the_argocd_stand_in_answers_like_the_api() -> None:
    with LocalArgoCD("file:///gitops.git", token="t0k") as argocd:
        argocd.deploy("storefront-dev", "apps/storefront/overlays/dev", "c" * 40, at=T0)
        argocd.deploy("storefront-dev", "apps/storefront/overlays/dev", "d" * 40, at=T0 + timedelta(minutes=5))
        url = f"{argocd.url}/api/v1/applications/storefront-dev"
        assert requests.get(url, timeout=5).status_code == 401
        assert requests.get(url.replace("storefront", "ghost"), headers={"Authorization": "Bearer t0k"},
                            timeout=5).status_code == 404
        body = requests.get(url, headers={"Authorization": "Bearer t0k"}, timeout=5).json()
    check_shape(body)
    assert body["status"]["sync"] == {**body["status"]["sync"], "status": "Synced", "revision": "d" * 40}
    assert [h["revision"] for h in body["status"]["history"]] == ["c" * 40, "d" * 40]


def test_soak_counts_from_the_first_accepted_deployment_and_the_last_health_change() -> None:
    good = {"p" * 40, "q" * 40}
    status = AppStatus("a-dev", "Synced", "q" * 40, "Healthy", None,
                       history=(Deployment(0, "o" * 40, T0), Deployment(1, "p" * 40, T0 + timedelta(minutes=10)),
                                Deployment(2, "q" * 40, T0 + timedelta(minutes=20))))
    verdict = soak(status, "p" * 40, good.__contains__, 1800, T0 + timedelta(minutes=41))
    assert verdict.ok and verdict.since == T0 + timedelta(minutes=10)
    healed = AppStatus(**{**status.__dict__, "health_since": T0 + timedelta(minutes=30)})
    assert not soak(healed, "p" * 40, good.__contains__, 1800, T0 + timedelta(minutes=41)).ok
    moved = AppStatus(**{**status.__dict__, "sync_revision": "o" * 40})
    assert "not at pppppppppppp" in soak(moved, "p" * 40, good.__contains__, 60, T0 + timedelta(hours=5)).problem
    degraded = AppStatus(**{**status.__dict__, "health": "Degraded"})
    assert soak(degraded, "p" * 40, good.__contains__, 60, T0 + timedelta(hours=5)).failed


def test_one_build_of_several_services_is_one_freight(gitops_repo: Path) -> None:
    """Edits of one build (same build URL) committed together share one freight; another build's don't."""
    from gitops.freight import read
    from gitops.git import checkout
    from gitops.writeback import PinEdit, write_edits
    from pipeline_lib.core.catalog import load_catalog
    catalog = load_catalog(PROJECT_ROOT / "jobs" / "catalog.yaml")

    def edit(service: str, digest: str, build: str) -> PinEdit:
        env = catalog.service(service).environment("dev")
        return PinEdit(service, "dev", env.ecr_repository, env.manifest, env.manifest_format, env.values_key,
                       f"127.0.0.1:5000/{env.ecr_repository}", digest, build_url=build, freight=True)
    services = [s.name for s in catalog.services_in("dev")][:3]
    results = write_edits(gitops_repo.as_uri(), "main", [edit(services[0], D1, "https://ci/job/42/"),
                                                          edit(services[1], D2, "https://ci/job/42/"),
                                                          edit(services[2], D1, "https://ci/job/43/")])
    assert results[0].freight == results[1].freight != results[2].freight and results[0].commit == results[2].commit
    wd = checkout(gitops_repo.as_uri(), "main", gitops_repo.parent / "look")
    both = read(wd, results[0].freight)
    assert both.services == services[:2] and both.commit == results[0].commit
    assert read(wd, results[2].freight).services == [services[2]]
