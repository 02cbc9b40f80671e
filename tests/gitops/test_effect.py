"""Issue 12, cases 6-10: a pin is checked by its effect (the render), and only the pin lines change."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml

from gitops.bump import BumpSpec, bump
from gitops.effect import containers, render_kustomize
from gitops.layout import init_repo
from gitops.pins import read_pins
from pipeline_lib.cli import main
from pipeline_lib.core.catalog import parse_catalog
from pipeline_lib.core.errors import GantryError
from tests.conftest import git
from tests.gitops.conftest import clone, digest

ECR = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"
CATALOG = """
version: 1
defaults: {aws_account_id: "123456789012", registry_region: ap-northeast-2, gitops_repo: x%s}
environments:
  dev: {platform: jenkins, aws_region: ap-northeast-2, domain: dev.example.com, namespace: shop-dev}
services:
  - name: web
    repo: o/web
    ecr_repository: shop/web
    manifest_path: apps/web
    environments:
      dev: {}
  - name: nginx
    repo: o/nginx
    ecr_repository: shop/nginx
    manifest_path: charts/nginx
    environments:
      dev: {manifest: charts/nginx/values.yaml, manifest_format: helm, values_key: image}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: web
        - name: sidecar
          image: busybox:1.36
"""
PIN_KEYS = ("newName:", "newTag:", "digest:", "registry:", "repository:", "tag:", "image:")


def catalog(branch: str | None = None):
    return parse_catalog(yaml.safe_load(CATALOG % (f", gitops_branch: {branch}" if branch else "")), "test")


def overlay(root: Path, kustomization: str | bytes, base_images: str = "") -> Path:
    base = root / "apps/web/base"
    base.mkdir(parents=True, exist_ok=True)
    (base / "deployment.yaml").write_text(DEPLOYMENT)
    (base / "kustomization.yaml").write_text("resources: [deployment.yaml]\n" + base_images)
    path = root / "apps/web/overlays/dev/kustomization.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(kustomization.encode() if isinstance(kustomization, str) else kustomization)
    return path


def spec(image: str = f"{ECR}/shop/web", tag: str | None = "v1.5.0", ch: str = "5", service: str = "web") -> BumpSpec:
    cat = catalog()
    env = cat.service(service).environment("dev")
    return BumpSpec(service, "dev", env.ecr_repository, env.manifest, env.manifest_format, env.values_key,
                    image, digest(ch), tag)


def rendered_images(root: Path) -> dict[str, str]:
    return containers(render_kustomize(root / "apps/web/overlays/dev", "test"))


def assert_only_pin_lines(before: bytes, after: bytes) -> int:
    """Every line that differs (removed or added) holds a pin key; returns how many lines changed."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    changed = 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        for line in a[i1:i2] + b[j1:j2]:
            assert line.lstrip(b" -{").startswith(tuple(k.encode() for k in PIN_KEYS)) or any(
                k.encode() in line for k in PIN_KEYS), f"non-pin line changed: {line!r}"
            changed += 1
    return changed


# -- case 6: the entry that takes effect -----------------------------------------------------------
ISSUE_6 = """\
resources: [../../base]
images:
  - name: web
    newName: registry.example.com/shop/web
  - name: registry.example.com/shop/web
    newTag: v1.4.0
"""


def test_case6_edits_the_entry_that_takes_effect(tmp_path: Path) -> None:
    path = overlay(tmp_path, ISSUE_6)
    assert rendered_images(tmp_path)["Deployment//web:.spec.template.spec.containers[web]"] == \
        "registry.example.com/shop/web:v1.4.0"
    s = spec("registry.example.com/shop/web")
    message, paths, _ = s.apply(tmp_path)
    images = rendered_images(tmp_path)
    assert images["Deployment//web:.spec.template.spec.containers[web]"] == \
        f"registry.example.com/shop/web:v1.5.0@{digest('5')}"
    assert images["Deployment//web:.spec.template.spec.containers[sidecar]"] == "busybox:1.36"
    # the message names the tag that was running (from the render), not the first entry's
    assert message.splitlines()[0].startswith("deploy(web): dev v1.4.0 -> v1.5.0")
    assert s.old.tag == "v1.4.0" and paths == ["apps/web/overlays/dev/kustomization.yaml"]
    assert_only_pin_lines(ISSUE_6.encode(), path.read_bytes())
    assert s.apply(tmp_path) is None  # idempotent: already runs the pin


def test_case6_refuses_when_no_entry_takes_effect(tmp_path: Path) -> None:
    # the base already renamed the image: the overlay's `web` entry matches nothing any more
    text = "resources: [../../base]\nimages:\n  - name: web\n    newTag: v1.4.0\n"
    path = overlay(tmp_path, text, "images:\n  - name: web\n    newName: registry.example.com/shop/web\n"
                                   "    newTag: v1.4.0\n")
    with pytest.raises(GantryError) as info:
        spec().apply(tmp_path)
    assert info.value.exit_code == 2
    assert "images[0] (name 'web'" in info.value.what and "registry.example.com/shop/web:v1.4.0" in info.value.what
    assert path.read_text() == text  # restored


def test_case6_cli_exit_2_and_no_commit(tmp_path: Path) -> None:
    cat_path = tmp_path / "catalog.yaml"
    cat_path.write_text(CATALOG % "")
    bare = tmp_path / "g.git"
    init_repo(bare, catalog(), [catalog().service("web")], "dev", ECR)
    work = clone(bare, tmp_path / "w")
    overlay(work, "resources: [../../base]\nimages:\n  - name: web\n    newTag: v1\n",
            "images:\n  - name: web\n    newName: registry.example.com/shop/web\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "renamed in base")
    git(work, "push", "-q", "origin", "main")
    head = git(bare, "rev-parse", "main")
    rc = main(["gitops", "bump", "--catalog", str(cat_path), "--repo", bare.as_uri(), "--env", "dev",
               "--service", "web", "--digest", digest("7"), "--tag", "v2", "--mode", "commit"])
    assert rc == 2 and git(bare, "rev-parse", "main") == head


# -- case 8: only the pinned lines change ----------------------------------------------------------
HAND_WRITTEN = {
    "crlf": b"resources:\r\n  - ../../base\r\nimages:\r\n  - name: web # the app\r\n    newTag: v1.4.0\r\n"
            b"\r\n# trailing comment\r\n",
    "license-header": b"# Copyright 2026 Example\n# SPDX-License-Identifier: Apache-2.0\n---\n"
                      b"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                      b"resources: [ ../../base ]\nimages:\n- name: web\n  newTag: 'v1.4.0'\n",
    "blank-after-entry": b"resources:\n  - ../../base\nimages:\n  - name: web\n    newName: old/web\n\n"
                         b"  # keep me here\n  - name: busybox\n    newTag: \"1.36\"\n\nnamespace: shop\n",
    "flow": b"resources: [../../base]\nimages:\n  - { name: web, newTag: v1.4.0 }\n  - { }\n"
            b"labels: [{ pairs: { app: web } }]\n",
    "anchors": b"commonAnnotations:\n  version: &tag v1.4.0\nresources: [../../base]\nimages:\n  - name: busybox\n"
               b"    newTag: *tag\n  - name: web\n    newTag: *tag\n",
    "several": b"resources: [../../base]\nimages:\n  - name: busybox\n    newTag: \"1.36\"\n  - name: web\n"
               b"    newName: \"old.example.com/web\"\n    newTag: \"1.10\"  # quoted: 1.10 is a float\n"
               b"    digest: sha256:" + b"0" * 64 + b"\n  - name: redis\n    newTag: '7'\n",
}


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_case8_only_pin_lines_change(tmp_path: Path, name: str) -> None:
    before = HAND_WRITTEN[name]
    path = overlay(tmp_path, before)
    other_before = {k: v for k, v in rendered_images(tmp_path).items() if not k.endswith("[web]")}
    s = spec(tag="1.10")
    assert s.apply(tmp_path) is not None
    after = path.read_bytes()
    assert 1 <= assert_only_pin_lines(before, after) <= 6
    assert after.count(b"\r\n") == after.count(b"\n") if b"\r\n" in before else b"\r" not in after
    images = rendered_images(tmp_path)
    (web,) = [k for k in images if k.endswith("[web]")]
    assert images.pop(web) == f"{ECR}/shop/web:1.10@{digest('5')}"
    assert images == other_before
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    for doc in (old, new):
        doc["images"] = [e for e in doc["images"] if e.get("name") != "web"]
    assert old == new  # every other value, alias and entry reads the same


# -- case 7: Helm values with a registry key -------------------------------------------------------
BITNAMI_VALUES = """\
## Bitnami style: the chart builds registry/repository@digest
image:
  registry: docker.io
  repository: bitnami/nginx
  tag: 1.25.3-debian-12-r0
  digest: ""
  pullPolicy: IfNotPresent
"""
TEMPLATE = ('image: {{ .Values.image.registry }}/{{ .Values.image.repository }}'
            '{{ if .Values.image.digest }}@{{ .Values.image.digest }}{{ else }}:{{ .Values.image.tag }}{{ end }}\n')


def chart(root: Path, template: str | None = TEMPLATE, values: str = BITNAMI_VALUES) -> Path:
    d = root / "charts/nginx"
    (d / "templates").mkdir(parents=True, exist_ok=True)
    (d / "values.yaml").write_text(values)
    if template is not None:
        (d / "Chart.yaml").write_text("apiVersion: v2\nname: nginx\nversion: 1.0.0\n")
        (d / "templates/deployment.yaml").write_text(template)
    return d / "values.yaml"


def test_case7_registry_and_repository_are_set_separately(tmp_path: Path) -> None:
    values = chart(tmp_path)
    s = spec(f"{ECR}/shop/nginx", tag="1.25.4", service="nginx")
    message, _, _ = s.apply(tmp_path)
    data = yaml.safe_load(values.read_text())["image"]
    assert data == {"registry": ECR, "repository": "shop/nginx", "tag": "1.25.4", "digest": digest("5"),
                    "pullPolicy": "IfNotPresent"}
    assert "docker.io/bitnami/nginx" not in message and "1.25.3-debian-12-r0 -> 1.25.4" in message
    assert s.warnings == []
    assert_only_pin_lines(BITNAMI_VALUES.encode(), values.read_bytes())


def test_case7_chart_that_ignores_the_digest_is_refused(tmp_path: Path) -> None:
    values = chart(tmp_path, template="image: {{ .Values.image.registry }}/{{ .Values.image.repository }}:"
                                      "{{ .Values.image.tag }}\n")
    with pytest.raises(GantryError) as info:
        spec(f"{ECR}/shop/nginx", service="nginx").apply(tmp_path)
    assert info.value.exit_code == 2 and "never read .digest" in info.value.what
    assert values.read_text() == BITNAMI_VALUES


def test_case7_global_image_registry_overrides_is_refused(tmp_path: Path) -> None:
    chart(tmp_path, values=BITNAMI_VALUES + "global:\n  imageRegistry: mirror.example.com\n")
    with pytest.raises(GantryError, match="global.imageRegistry") as info:
        spec(f"{ECR}/shop/nginx", service="nginx").apply(tmp_path)
    assert info.value.exit_code == 2


def test_case7_chart_outside_the_repo_warns(tmp_path: Path) -> None:
    chart(tmp_path, template=None)
    s = spec(f"{ECR}/shop/nginx", service="nginx")
    assert s.apply(tmp_path) is not None
    assert len(s.warnings) == 1 and "not checked" in s.warnings[0]


# -- case 10: Argo CD parameter overrides ----------------------------------------------------------
@pytest.mark.parametrize("fname,body", [
    (".argocd-source-web-dev.yaml", "kustomize:\n  images:\n  - registry.example.com/shop/web:v1.3.0\n"),
    (".argocd-source.yaml", "kustomize:\n  images:\n  - web=registry.example.com/shop/web:v1.3.0\n"),
])
def test_case10_argocd_override_is_refused(tmp_path: Path, fname: str, body: str) -> None:
    path = overlay(tmp_path, ISSUE_6)
    (path.parent / fname).write_text(body)
    with pytest.raises(GantryError) as info:
        spec("registry.example.com/shop/web").apply(tmp_path)
    assert info.value.exit_code == 2 and fname in info.value.where and "Argo CD parameter override" in info.value.what
    assert path.read_text() == ISSUE_6


def test_case10_override_of_another_image_is_left_alone(tmp_path: Path) -> None:
    path = overlay(tmp_path, ISSUE_6)
    (path.parent / ".argocd-source-web-dev.yaml").write_text("kustomize:\n  images:\n  - busybox:1.37\n")
    assert spec("registry.example.com/shop/web").apply(tmp_path) is not None


def test_case10_helm_parameter_override_is_refused(tmp_path: Path) -> None:
    values = chart(tmp_path)
    (values.parent / ".argocd-source-nginx-dev.yaml").write_text(
        "helm:\n  parameters:\n  - name: image.tag\n    value: 1.0.0\n")
    with pytest.raises(GantryError, match="helm.parameters image.tag") as info:
        spec(f"{ECR}/shop/nginx", service="nginx").apply(tmp_path)
    assert info.value.exit_code == 2


# -- case 9: one branch ----------------------------------------------------------------------------
def test_case9_the_catalog_branch_is_used_everywhere(tmp_path: Path, capsys) -> None:
    cat = catalog("gitops-live")
    cat_path = tmp_path / "catalog.yaml"
    cat_path.write_text(CATALOG % ", gitops_branch: gitops-live")
    bare = tmp_path / "g.git"
    init_repo(bare, cat, list(cat.services), "dev", ECR)
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/heads").split() == ["refs/heads/gitops-live"]
    result = bump(bare.as_uri(), catalog=cat, service="web", environment="dev", image=f"{ECR}/shop/web",
                  digest=digest("3"), tag="t3")
    assert result.changed and result.branch == "gitops-live"
    assert git(bare, "rev-parse", "gitops-live").strip() == result.commit
    assert read_pins(bare.as_uri(), cat, "dev")["web"].digest == digest("3")
    assert main(["gitops", "apps", "--catalog", str(cat_path), "--repo", "r"]) == 0
    assert "targetRevision: gitops-live" in capsys.readouterr().out
    assert main(["gitops", "apps", "--catalog", str(cat_path), "--repo", "r", "--revision", "main"]) == 2
    assert "gitops_branch" in capsys.readouterr().err
    assert main(["gitops", "apps", "--catalog", str(cat_path), "--repo", "r", "--revision", "main",
                 "--allow-other-revision"]) == 0


def test_a_render_failure_leaves_the_manifest_as_it_was(tmp_path: Path) -> None:
    # the first intent (kustomize) passes and is written; the second (a chart that ignores the keys
    # gantry writes) is refused: neither file stays edited
    path = overlay(tmp_path, ISSUE_6)
    from gitops.effect import Intent, apply_intents
    cat = catalog()
    web = cat.service("web")
    nginx_values = chart(tmp_path, template="no digest here\n")
    intents = [Intent(web, web.environment("dev"), f"registry.example.com/shop/web:v2@{digest('2')}"),
               Intent(cat.service("nginx"), cat.service("nginx").environment("dev"), f"{ECR}/shop/nginx@{digest('3')}")]
    with pytest.raises(GantryError) as info:
        apply_intents(tmp_path, intents)
    assert info.value.exit_code == 2 and "never read ." in info.value.what
    assert path.read_text() == ISSUE_6 and nginx_values.read_text() == BITNAMI_VALUES  # all or nothing
