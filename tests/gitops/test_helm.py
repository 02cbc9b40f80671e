"""Helm values: a configurable key path, mapping or single-string image, comments kept."""

from __future__ import annotations

from pathlib import Path

import yaml

from gitops.bump import bump
from gitops.layout import init_repo
from pipeline_lib.core.catalog import parse_catalog
from tests.conftest import git
from tests.gitops.conftest import REGISTRY, clone, digest

CATALOG = """
version: 1
defaults: {aws_account_id: "123456789012", registry_region: ap-northeast-2, gitops_repo: x}
environments:
  event: {platform: ecs-fargate, aws_region: ap-northeast-2, domain: event.example.com}
services:
  - name: web
    repo: o/web
    ecr_repository: event/web
    manifest_path: event/web
    environments:
      event: {manifest: event/web/values.yaml, manifest_format: helm, values_key: app.container.image}
  - name: api
    repo: o/api
    ecr_repository: event/api
    manifest_path: event/api
    environments:
      event: {manifest: charts/api/values-event.yaml, manifest_format: helm, values_key: image}
"""


def test_helm_key_path_and_string_image(tmp_path: Path) -> None:
    catalog = parse_catalog(yaml.safe_load(CATALOG), "test")
    bare = tmp_path / "g.git"
    init_repo(bare, catalog, list(catalog.services), "event", REGISTRY)
    work = clone(bare, tmp_path / "w")
    values = work / "charts/api/values-event.yaml"
    values.write_text("# api values\nimage: old.example.com/event/api:1.0  # pinned by gantry\nreplicaCount: 2\n")
    git(work, "commit", "-qam", "string image")
    git(work, "push", "-q", "origin", "main")

    web = bump(bare.as_uri(), catalog=catalog, service="web", environment="event",
               image=f"{REGISTRY}/event/web", digest=digest("a"), tag="w1")
    api = bump(bare.as_uri(), catalog=catalog, service="api", environment="event",
               image=f"{REGISTRY}/event/api", digest=digest("b"), tag="a2")
    assert web.changed and api.changed
    assert (api.old_tag, api.old_digest) == ("1.0", None)
    after = clone(bare, tmp_path / "after")
    web_values = yaml.safe_load((after / "event/web/values.yaml").read_text())
    assert web_values["app"]["container"]["image"] == {"repository": f"{REGISTRY}/event/web", "tag": "w1",
                                                       "digest": digest("a")}
    api_text = (after / "charts/api/values-event.yaml").read_text()
    # the end-of-line comment stays on its line (ruamel keeps its column, or one space when the value grew)
    assert api_text == (f"# api values\nimage: {REGISTRY}/event/api:a2@{digest('b')}  # pinned by gantry\n"
                        "replicaCount: 2\n")
