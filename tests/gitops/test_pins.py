"""``gantry gitops pins``: the digests the GitOps repo pins, and the event stack's tfvars from them."""

from __future__ import annotations

import json
from pathlib import Path

from gitops.bump import bump, default_image
from tests.gitops.conftest import PROJECT_ROOT, digest, gantry

CATALOG = str(PROJECT_ROOT / "jobs" / "catalog.yaml")


def pin_event(catalog, bare: Path, services: list[str]) -> dict[str, str]:
    pinned = {}
    for i, name in enumerate(services):
        d = digest("abcdef"[i])
        bump(bare.as_uri(), catalog=catalog, service=name, environment="event",
             image=default_image(catalog, name, "event"), digest=d, tag=f"v1.{i}")
        pinned[name] = d
    return pinned


def test_event_tfvars_name_every_pinned_digest(catalog, gitops_repo: Path, tmp_path: Path) -> None:
    event_services = [s.name for s in catalog.services_in("event")]
    assert event_services == ["storefront", "event-api"]
    pinned = pin_event(catalog, gitops_repo, event_services)
    out = tmp_path / "images.auto.tfvars.json"
    proc = gantry("gitops", "pins", "--catalog", CATALOG, "--env", "event", "--repo", gitops_repo.as_uri(),
                  "--format", "json", "--tfvars", str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == {"image_digests": pinned, "image_registry": catalog.registry_host}
    shown = json.loads(proc.stdout)
    assert {k: v["digest"] for k, v in shown.items()} == pinned
    assert shown["event-api"]["tag"] == "v1.1"


def test_a_service_without_a_digest_writes_nothing(catalog, gitops_repo: Path, tmp_path: Path) -> None:
    pin_event(catalog, gitops_repo, ["storefront"])
    out = tmp_path / "images.auto.tfvars.json"
    proc = gantry("gitops", "pins", "--catalog", CATALOG, "--env", "event", "--repo", gitops_repo.as_uri(),
                  "--tfvars", str(out))
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("gantry: gitops pins: no digest pinned in event for: event-api "
                                   "(run 'gantry gitops bump --env event' first)")
    assert not out.exists()


def test_lifecycle_create_pins_images_before_apply(catalog, gitops_repo: Path, tmp_path: Path) -> None:
    """The event runner's create step writes the tfvars from the GitOps repo, then applies."""
    from datetime import datetime, timezone

    from pipeline_lib.event.lifecycle import Handler, LifecycleConfig

    pinned = pin_event(catalog, gitops_repo, ["storefront", "event-api"])
    root = tmp_path / "event"
    root.mkdir()
    calls = tmp_path / "calls"
    tf = tmp_path / "terraform"
    tf.write_text(f'#!/bin/sh\necho "$* $(cat images.auto.tfvars.json | tr -d " \\n")" >> {calls}\n')
    tf.chmod(0o755)
    cfg = LifecycleConfig(event_name="sale", event_end=datetime.now(timezone.utc), event_root=root,
                          terraform_cmd=(str(tf),), gitops_repo=gitops_repo.as_uri(),
                          catalog_path=Path(CATALOG), window_seconds=1, retry_interval=0.1)
    outcome = Handler(cfg, log=lambda _m: None).run("create")
    assert outcome.actions[0] == f"image digests: 2 pinned from the GitOps repo (registry {catalog.registry_host})"
    assert json.loads((root / "images.auto.tfvars.json").read_text()) == {"image_digests": pinned,
                                                                            "image_registry": catalog.registry_host}
    applied = calls.read_text().splitlines()[-1]
    assert applied.startswith("apply -auto-approve") and pinned["event-api"] in applied
