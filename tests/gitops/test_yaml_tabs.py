"""Issue 20 item 8: tabs between YAML tokens, as kustomize reads them.

A tab before a trailing comment (``newTag: v1<TAB># note``) is valid YAML 1.2 and ``kubectl
kustomize`` builds it; PyYAML and ruamel.yaml refuse it. gantry reads such a kustomization, pins it
(the tabs stay) and refuses, naming the line and the reason, the tabs kustomize refuses too.
Every case here is built by the real ``kubectl kustomize`` first, so the expectations follow it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from gitops.effect import Intent, apply_intents, containers
from gitops.kustomize import render_kustomize
from gitops.layout import init_repo
from gitops.yamlrt import LineDoc
from pipeline_lib.cli import main
from pipeline_lib.core.catalog import parse_catalog
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.yamlload import load_yaml_text
from tests.conftest import git
from tests.gitops.conftest import clone, digest

CATALOG = """
version: 1
defaults: {aws_account_id: "123456789012", registry_region: ap-northeast-2, gitops_repo: x}
environments:
  dev: {platform: jenkins, aws_region: ap-northeast-2, domain: dev.example.com, namespace: shop-dev}
services:
  - name: web
    repo: o/web
    ecr_repository: shop/web
    manifest_path: apps/web
    environments:
      dev: {}
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
"""
WEB = "Deployment/shop/web:.spec.template.spec.containers[web]"
# the case: an images: entry whose lines end in <TAB># comment, and more tabs kustomize reads
TABBED = ("resources:\t[../../base]\t# the shared base\n"
          "images:\t# pins\n"
          "  - name: web\t# the storefront\n"
          "    newName: registry.example.com/shop/web\t\t# mirrored\n"
          "    newTag: v1.4.0\t# pinned by hand\n"
          "namespace: shop \t # space, tab, space\n")


def overlay(root: Path, kustomization: str) -> Path:
    base = root / "apps/web/base"
    base.mkdir(parents=True, exist_ok=True)
    (base / "deployment.yaml").write_text(DEPLOYMENT)
    (base / "kustomization.yaml").write_text("resources: [deployment.yaml]\n")
    path = root / "apps/web/overlays/dev/kustomization.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(kustomization)
    return path


def kubectl_build(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "kustomize", str(path.parent)], capture_output=True, text=True, timeout=60)


def intent(reference: str) -> Intent:
    cat = parse_catalog(yaml.safe_load(CATALOG), "test")
    web = cat.service("web")
    return Intent(web, web.environment("dev"), reference)


def test_tab_before_trailing_comment_is_pinned_and_kept(tmp_path: Path) -> None:
    path = overlay(tmp_path, TABBED)
    assert kubectl_build(path).returncode == 0  # kustomize builds it ...
    before = containers(render_kustomize(path.parent, "test"))
    assert before[WEB] == "registry.example.com/shop/web:v1.4.0"
    ref = f"registry.example.com/shop/web:v1.5.0@{digest('5')}"
    (applied,) = apply_intents(tmp_path, [intent(ref)])  # ... and gantry pins it
    assert applied.changed and applied.running.tag == "v1.4.0"
    assert containers(render_kustomize(path.parent, "test"))[WEB] == ref
    # only the pin lines changed; every tab and comment is still there
    assert path.read_text() == TABBED.replace(
        "    newTag: v1.4.0\t# pinned by hand\n",
        f"    newTag: v1.5.0\t# pinned by hand\n    digest: {digest('5')}\n")


def test_cli_bump_of_a_tabbed_kustomization_commits(tmp_path: Path, capsys) -> None:
    cat_path = tmp_path / "catalog.yaml"
    cat_path.write_text(CATALOG)
    cat = parse_catalog(yaml.safe_load(CATALOG), "test")
    bare = tmp_path / "g.git"
    init_repo(bare, cat, list(cat.services), "dev", "registry.example.com")
    work = clone(bare, tmp_path / "w")
    overlay(work, TABBED)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "hand-written overlay with tabs")
    git(work, "push", "-q", "origin", "main")
    rc = main(["gitops", "bump", "--catalog", str(cat_path), "--repo", bare.as_uri(), "--env", "dev",
               "--service", "web", "--image", "registry.example.com/shop/web", "--digest", digest("6"),
               "--tag", "v1.6.0", "--mode", "commit"])
    assert rc == 0, capsys.readouterr().err
    text = git(bare, "show", "main:apps/web/overlays/dev/kustomization.yaml")
    assert "    newTag: v1.6.0\t# pinned by hand\n" in text and f"    digest: {digest('6')}\n" in text
    assert git(bare, "log", "-1", "--format=%s", "main").startswith("deploy(web): dev v1.4.0 -> v1.6.0")


# Each variant, built by the real kubectl first: what kustomize reads gantry reads the same;
# what it refuses gantry refuses naming the line (1-based) and the reason.
VARIANTS = {
    "after-colon": ("  - name:\tweb\n    newTag: v1.4.0\n", "v1.4.0", None),
    "before-colon": ("  - name\t: web\n    newTag: v1.4.0\n", "v1.4.0", None),
    "trailing-tab": ("  - name: web\n    newTag: v1.4.0\t\n", "v1.4.0", None),
    "quoted-then-comment": ("  - name: web\n    newTag: \"v1.4.0\"\t# quoted\n", "v1.4.0", None),
    "flow": ("  - {\tname: web,\tnewTag: v1.4.0\t}\t# flow\n", "v1.4.0", None),
    "indentation": ("  - name: web\n\tnewTag: v1.4.0\n", None, (5, "tab in indentation")),
    "comment-line-indented-by-tab": ("  - name: web\n    newTag: v1.4.0\n\t# note\n", None, (6, "tab in indentation")),
    "after-dash": ("  -\tname: web\n    newTag: v1.4.0\n", None, (4, "tab between values")),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_tabs_follow_kustomize(tmp_path: Path, name: str) -> None:
    images, tag, refused = VARIANTS[name]
    text = "resources: [../../base]\nnamespace: shop\nimages:\n" + images
    path = overlay(tmp_path, text)
    built = kubectl_build(path)
    if refused is None:
        assert built.returncode == 0, built.stderr
        assert f"image: web:{tag}" in built.stdout
        doc = LineDoc(text, "k.yaml")
        assert doc.data()["images"] == [{"name": "web", "newTag": tag}]
        assert load_yaml_text(text, "k.yaml")["images"] == [{"name": "web", "newTag": tag}]
    else:
        assert built.returncode != 0  # kustomize refuses it too
        line, reason = refused
        for read in (lambda: LineDoc(text, "k.yaml"), lambda: load_yaml_text(text, "k.yaml")):
            with pytest.raises(GantryError) as info:
                read()
            assert info.value.where == f"k.yaml:{line}" and reason in info.value.what
            assert info.value.exit_code == 2


def test_a_tab_kustomize_keeps_inside_a_value_is_refused_naming_the_line(tmp_path: Path) -> None:
    # kustomize builds this one as the tag "v1.4.0<TAB>x"; gantry cannot read that plain value the
    # same way, so it refuses, naming the line and the reason, and leaves the file alone
    text = "resources: [../../base]\nimages:\n  - name: web\n    newTag: v1.4.0\tx\n"
    path = overlay(tmp_path, text)
    built = kubectl_build(path)
    assert built.returncode == 0
    assert [d["spec"]["template"]["spec"]["containers"][0]["image"] for d in yaml.safe_load_all(built.stdout)] == \
        ["web:v1.4.0\tx"]
    with pytest.raises(GantryError) as info:
        apply_intents(tmp_path, [intent(f"registry.example.com/shop/web:v2@{digest('2')}")])
    assert info.value.where == "apps/web/overlays/dev/kustomization.yaml:4"
    assert "tab between values (column 19)" in info.value.what and info.value.exit_code == 2
    assert path.read_text() == text


def test_gitops_check_follows_a_tabbed_kustomization(tmp_path: Path) -> None:
    # `gantry gitops check` renders only root kustomizations: the overlay's tabbed resources: line
    # must still mark the base as included (before, the unreadable overlay made the base a root)
    from gitops.validate import root_kustomizations
    path = overlay(tmp_path, TABBED)
    assert kubectl_build(path).returncode == 0
    assert root_kustomizations(tmp_path) == ["apps/web/overlays/dev"]
