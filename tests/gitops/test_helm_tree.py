"""Issue 20 item 7: the Helm effect check follows Helm's chart tree.

A parent chart (kube-prometheus-stack's shape: the operator's image in the parent, node-exporter a
dependency vendored as ``charts/*.tgz``) is built here from templates written for these tests,
the archives with :mod:`tarfile` as ``helm package`` lays them out (one top directory). A values
key is checked against the templates that read it: the parent's for a top-level key, the
subchart's (inside its archive) for a key under the subchart's name; a digest only some *other*
chart's template reads is not a pin.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import yaml

from gitops.effect import Intent, apply_intents
from gitops.layout import init_repo
from pipeline_lib.cli import main
from pipeline_lib.core.catalog import parse_catalog
from pipeline_lib.core.errors import GantryError
from tests.conftest import git
from tests.gitops.conftest import clone, digest

ECR = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"
CATALOG = """
version: 1
defaults: {aws_account_id: "123456789012", registry_region: ap-northeast-2, gitops_repo: x}
environments:
  dev: {platform: jenkins, aws_region: ap-northeast-2, domain: dev.example.com, namespace: shop-dev}
services:
  - name: operator
    repo: o/operator
    ecr_repository: shop/operator
    manifest_path: charts/monitoring
    environments:
      dev: {manifest: charts/monitoring/values.yaml, manifest_format: helm, values_key: image}
  - name: node-exporter
    repo: o/node-exporter
    ecr_repository: shop/node-exporter
    manifest_path: charts/monitoring
    environments:
      dev: {manifest: charts/monitoring/values-dev.yaml, manifest_format: helm, values_key: %s}
"""
PARENT_CHART = """\
apiVersion: v2
name: monitoring
version: 1.0.0
dependencies:
  - name: prometheus-node-exporter
    version: 4.1.0
    repository: https://prometheus-community.github.io/helm-charts%s
"""
VALUES = """\
# the operator: the parent chart's own image (its template pins by .sha, never by .digest)
image:
  registry: quay.io
  repository: prometheus-operator/prometheus-operator
  tag: v0.75.0
  digest: ""
%s:
  image:
    registry: quay.io
    repository: prometheus/node-exporter
    tag: v1.8.1
    digest: ""
"""
# the parent's operator Deployment: the image line reads .sha, so a digest never reaches it
OPERATOR = """\
{{- $registry := .Values.global.imageRegistry | default .Values.image.registry -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-operator
spec:
  template:
    spec:
      containers:
        - name: operator
          {{- if .Values.image.sha }}
          image: "{{ $registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}@sha256:{{ .Values.image.sha }}"
          {{- else }}
          image: "{{ $registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          {{- end }}
          imagePullPolicy: IfNotPresent
"""
# node-exporter's helper: the digest wins over the tag
NODE_EXPORTER_HELPERS = """\
{{/* The image to use: registry/repository@digest, else :tag */}}
{{- define "prometheus-node-exporter.image" -}}
{{- $registry := .Values.global.imageRegistry | default .Values.image.registry -}}
{{- if .Values.image.digest }}
{{- printf "%s/%s@%s" $registry .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s/%s:%s" $registry .Values.image.repository (default (printf "v%s" .Chart.AppVersion) .Values.image.tag) }}
{{- end }}
{{- end }}
"""
# a helper that never prints the digest (the daemonset still mentions it, in an annotation)
TAG_ONLY_HELPERS = """\
{{- define "prometheus-node-exporter.image" -}}
{{- printf "%s/%s:%s" .Values.image.registry .Values.image.repository .Values.image.tag }}
{{- end }}
"""
DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ .Release.Name }}-node-exporter
spec:
  template:
    metadata:
      annotations:
        image-digest: {{ .Values.image.digest | quote }}
    spec:
      containers:
        - name: node-exporter
          image: {{ include "prometheus-node-exporter.image" . }}
"""


def tgz(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def node_exporter(helpers: str, top: str = "prometheus-node-exporter") -> dict[str, str]:
    return {f"{top}/Chart.yaml": "apiVersion: v2\nname: prometheus-node-exporter\nversion: 4.1.0\nappVersion: 1.8.1\n",
            f"{top}/values.yaml": "image:\n  registry: quay.io\n  repository: prometheus/node-exporter\n",
            f"{top}/templates/_helpers.tpl": helpers,
            f"{top}/templates/daemonset.yaml": DAEMONSET}


def monitoring(root: Path, helpers: str = NODE_EXPORTER_HELPERS, packaging: str = "tgz", alias: str = "",
               operator: str = OPERATOR, extra: dict[str, bytes] | None = None) -> Path:
    """charts/monitoring with node-exporter vendored as ``packaging`` (tgz, dir or none)."""
    chart = root / "charts/monitoring"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(PARENT_CHART % (f"\n    alias: {alias}" if alias else ""))
    (chart / "templates/operator.yaml").write_text(operator)
    key = alias or "prometheus-node-exporter"
    (chart / "values.yaml").write_text(VALUES % key)
    (chart / "values-dev.yaml").write_text(VALUES % key)
    sub = node_exporter(helpers)
    if packaging == "tgz":
        (chart / "charts").mkdir()
        (chart / "charts/prometheus-node-exporter-4.1.0.tgz").write_bytes(tgz(sub))
    elif packaging == "dir":
        for name, text in sub.items():
            (chart / "charts" / name).parent.mkdir(parents=True, exist_ok=True)
            (chart / "charts" / name).write_text(text)
    for name, data in (extra or {}).items():
        (chart / name).parent.mkdir(parents=True, exist_ok=True)
        (chart / name).write_bytes(data)
    return chart


def intent(service: str, reference: str, key: str = "prometheus-node-exporter.image") -> Intent:
    cat = parse_catalog(yaml.safe_load(CATALOG % key), "test")
    svc = cat.service(service)
    return Intent(svc, svc.environment("dev"), reference)


def test_parent_key_is_not_pinned_by_a_digest_only_the_subchart_reads(tmp_path: Path) -> None:
    chart = monitoring(tmp_path)
    before = (chart / "values.yaml").read_text()
    with pytest.raises(GantryError) as info:
        apply_intents(tmp_path, [intent("operator", f"{ECR}/shop/operator:v0.76.0@{digest('1')}")])
    assert info.value.exit_code == 2 and info.value.where == "charts/monitoring"
    what = info.value.what
    assert "templates of chart monitoring never read .digest of .Values.image into an image: field" in what
    # the closest image: field is named with what it does print
    # (line 12 prints .sha only when .Values.image.sha is set; line 14 is what renders)
    assert "charts/monitoring/templates/operator.yaml:14 prints image.registry, image.repository, image.tag" in what
    assert (chart / "values.yaml").read_text() == before


@pytest.mark.parametrize("packaging", ["tgz", "dir"])
def test_subchart_key_is_checked_in_the_subchart_templates(tmp_path: Path, packaging: str) -> None:
    chart = monitoring(tmp_path, packaging=packaging)
    ref = f"{ECR}/shop/node-exporter:v1.8.2@{digest('2')}"
    (applied,) = apply_intents(tmp_path, [intent("node-exporter", ref)])
    assert applied.changed and applied.warnings == []
    sub = yaml.safe_load((chart / "values-dev.yaml").read_text())["prometheus-node-exporter"]["image"]
    assert sub == {"registry": ECR, "repository": "shop/node-exporter", "tag": "v1.8.2", "digest": digest("2")}


def test_subchart_key_refused_when_the_subchart_image_ignores_the_digest(tmp_path: Path) -> None:
    # the parent's template prints .Values.image.digest (its own key) and the subchart's daemonset
    # mentions its digest in an annotation: neither puts the subchart's digest into an image: field
    chart = monitoring(tmp_path, helpers=TAG_ONLY_HELPERS,
                       operator=OPERATOR.replace("@sha256:{{ .Values.image.sha }}", "@{{ .Values.image.digest }}"))
    before = (chart / "values-dev.yaml").read_text()
    with pytest.raises(GantryError) as info:
        apply_intents(tmp_path, [intent("node-exporter", f"{ECR}/shop/node-exporter:v1.8.2@{digest('2')}")])
    assert info.value.exit_code == 2
    assert info.value.where == "charts/monitoring/charts/prometheus-node-exporter-4.1.0.tgz"
    assert ("subchart prometheus-node-exporter (charts/monitoring/charts/prometheus-node-exporter-4.1.0.tgz; "
            "prometheus-node-exporter.image is its .Values.image) never read .digest of .Values.image") in info.value.what
    assert "templates/daemonset.yaml:13 prints image.registry, image.repository, image.tag" in info.value.what
    assert (chart / "values-dev.yaml").read_text() == before


# node-exporter's real helper shape: .sha is refused, then the digest, else the tag
SHA_FIRST_HELPERS = """\
{{- define "prometheus-node-exporter.image" -}}
{{- if .Values.image.sha }}
{{- fail "image.sha forbidden. Use image.digest instead" }}
{{- else if .Values.image.digest }}
{{- printf "%s/%s:%s@%s" .Values.image.registry .Values.image.repository .Values.image.tag .Values.image.digest }}
{{- else }}
{{- printf "%s/%s:%s" .Values.image.registry .Values.image.repository .Values.image.tag }}
{{- end }}
{{- end }}
"""
# a chart that prints the digest only behind a switch of its own
SWITCH_DAEMONSET = DAEMONSET.replace(
    '          image: {{ include "prometheus-node-exporter.image" . }}\n',
    "          {{- if .Values.image.useDigest }}\n"
    "          image: {{ .Values.image.registry }}/{{ .Values.image.repository }}@{{ .Values.image.digest }}\n"
    "          {{- else }}\n"
    "          image: {{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}\n"
    "          {{- end }}\n")


@pytest.mark.parametrize("helpers,daemonset,extra_values,accepted,reason", [
    (SHA_FIRST_HELPERS, DAEMONSET, "", True, ""),
    (SHA_FIRST_HELPERS, DAEMONSET, "    sha: 0123abcd\n", False, ".digest only when .Values.image.sha is empty"),
    (TAG_ONLY_HELPERS, SWITCH_DAEMONSET, "    useDigest: true\n", True, ""),
    (TAG_ONLY_HELPERS, SWITCH_DAEMONSET, "    useDigest: false\n", False, ".Values.image.useDigest is set"),
    (TAG_ONLY_HELPERS, SWITCH_DAEMONSET, "", False, ".Values.image.useDigest is set"),
])
def test_conditions_on_the_edited_key_are_read_from_the_values(tmp_path: Path, helpers: str, daemonset: str,
                                                                 extra_values: str, accepted: bool, reason: str) -> None:
    chart = monitoring(tmp_path, packaging="none")
    sub = node_exporter(helpers)
    sub["prometheus-node-exporter/templates/daemonset.yaml"] = daemonset
    (chart / "charts").mkdir()
    (chart / "charts/prometheus-node-exporter-4.1.0.tgz").write_bytes(tgz(sub))
    values = chart / "values-dev.yaml"
    values.write_text(values.read_text() + extra_values)
    ref = f"{ECR}/shop/node-exporter:v1.8.2@{digest('2')}"
    if accepted:
        (applied,) = apply_intents(tmp_path, [intent("node-exporter", ref)])
        assert applied.changed
    else:
        with pytest.raises(GantryError) as info:
            apply_intents(tmp_path, [intent("node-exporter", ref)])
        assert info.value.exit_code == 2 and reason in info.value.what, info.value.what


def test_umbrella_chart_nested_archive(tmp_path: Path) -> None:
    # an umbrella over kube-prometheus-stack, itself vendored with node-exporter inside its archive
    inner = tgz(node_exporter(NODE_EXPORTER_HELPERS))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in {"kube-prometheus-stack/Chart.yaml": b"apiVersion: v2\nname: kube-prometheus-stack\n"
                                                                 b"version: 61.0.0\n",
                           "kube-prometheus-stack/templates/operator.yaml": OPERATOR.encode(),
                           "kube-prometheus-stack/charts/prometheus-node-exporter-4.1.0.tgz": inner}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    chart = tmp_path / "charts/monitoring"
    (chart / "charts").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: monitoring\nversion: 1.0.0\n")
    (chart / "charts/kube-prometheus-stack-61.0.0.tgz").write_bytes(buf.getvalue())
    (chart / "values-dev.yaml").write_text("kube-prometheus-stack:\n  " + (VALUES % "prometheus-node-exporter")
                                           .replace("\n", "\n  ").rstrip() + "\n")
    key = "kube-prometheus-stack.prometheus-node-exporter.image"
    (applied,) = apply_intents(tmp_path, [intent("node-exporter", f"{ECR}/shop/node-exporter@{digest('3')}", key)])
    assert applied.changed
    # the operator's key inside kube-prometheus-stack reaches only its .sha: refused
    with pytest.raises(GantryError, match=r"templates of subchart kube-prometheus-stack .* never read \.digest"):
        apply_intents(tmp_path, [intent("node-exporter", f"{ECR}/shop/node-exporter@{digest('4')}",
                                        "kube-prometheus-stack.image")])


def test_alias_names_the_subchart_values(tmp_path: Path) -> None:
    monitoring(tmp_path, alias="nodeExporter")
    ref = f"{ECR}/shop/node-exporter@{digest('5')}"
    (applied,) = apply_intents(tmp_path, [intent("node-exporter", ref, "nodeExporter.image")])
    assert applied.changed


def test_dependency_not_vendored_is_refused(tmp_path: Path) -> None:
    monitoring(tmp_path, packaging="none")
    with pytest.raises(GantryError) as info:
        apply_intents(tmp_path, [intent("node-exporter", f"{ECR}/shop/node-exporter@{digest('6')}")])
    assert info.value.exit_code == 2 and info.value.where == "charts/monitoring"
    assert "dependency prometheus-node-exporter 4.1.0" in info.value.what and "not vendored in charts/" in info.value.what


def test_unreadable_archive_is_refused(tmp_path: Path) -> None:
    monitoring(tmp_path, extra={"charts/broken-1.0.0.tgz": b"not a tar archive"})
    with pytest.raises(GantryError) as info:
        apply_intents(tmp_path, [intent("node-exporter", f"{ECR}/shop/node-exporter@{digest('7')}")])
    assert info.value.exit_code == 2 and info.value.where == "charts/monitoring/charts/broken-1.0.0.tgz"
    assert "unreadable chart archive" in info.value.what


# A library chart's helper (Bitnami's common.images.image shape), called with a dict argument
COMMON = """\
{{- define "common.images.image" -}}
{{- $registryName := default .imageRoot.registry ((.global).imageRegistry) -}}
{{- $separator := ":" -}}
{{- $termination := .imageRoot.tag | toString -}}
{{- if .imageRoot.digest }}
    {{- $separator = "@" -}}
    {{- $termination = .imageRoot.digest | toString -}}
{{- end -}}
{{- printf "%s/%s%s%s" $registryName .imageRoot.repository $separator $termination -}}
{{- end -}}
"""
LIBRARY_OPERATOR = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: operator
spec:
  template:
    spec:
      containers:
        - name: operator
          image: {{ include "common.images.image" (dict "imageRoot" .Values.%s "global" .Values.global) }}
"""


@pytest.mark.parametrize("root,accepted", [("image", True), ("prometheus-node-exporter.image", False)])
def test_library_helper_gets_the_key_it_is_passed(tmp_path: Path, root: str, accepted: bool) -> None:
    # the parent passes .Values.<root> to a helper defined in a vendored library chart: the digest
    # reaches the image only when <root> is the key gantry edits
    library = tgz({"common/Chart.yaml": "apiVersion: v2\nname: common\nversion: 2.0.0\ntype: library\n",
                   "common/templates/_images.tpl": COMMON})
    monitoring(tmp_path, operator=LIBRARY_OPERATOR % root.replace("prometheus-node-exporter.", "nodeExporter."),
               extra={"charts/common-2.0.0.tgz": library})
    ref = f"{ECR}/shop/operator@{digest('8')}"
    if accepted:
        (applied,) = apply_intents(tmp_path, [intent("operator", ref)])
        assert applied.changed and applied.warnings == []
    else:
        with pytest.raises(GantryError, match=r"never read \.digest of \.Values\.image"):
            apply_intents(tmp_path, [intent("operator", ref)])


def test_cli_refuses_with_exit_2_and_no_commit(tmp_path: Path, capsys) -> None:
    cat_path = tmp_path / "catalog.yaml"
    cat_path.write_text(CATALOG % "prometheus-node-exporter.image")
    cat = parse_catalog(yaml.safe_load(cat_path.read_text()), "test")
    bare = tmp_path / "g.git"
    init_repo(bare, cat, list(cat.services), "dev", ECR)
    work = clone(bare, tmp_path / "w")
    git(work, "rm", "-q", "-r", "charts/monitoring")   # gantry's generated chart, replaced by this one
    monitoring(work)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "vendored kube-prometheus-stack shape")
    git(work, "push", "-q", "origin", "main")
    head = git(bare, "rev-parse", "main")
    capsys.readouterr()
    rc = main(["gitops", "bump", "--catalog", str(cat_path), "--repo", bare.as_uri(), "--env", "dev",
               "--service", "operator", "--digest", digest("9"), "--tag", "v0.76.0", "--mode", "commit"])
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("gantry: warning:")]
    assert rc == 2 and git(bare, "rev-parse", "main") == head
    assert len(err) == 1 and err[0].startswith("gantry: charts/monitoring: the templates of chart monitoring never read "
                                               ".digest of .Values.image")
    # the node-exporter key, read by the subchart inside the archive, is pinned and committed
    rc = main(["gitops", "bump", "--catalog", str(cat_path), "--repo", bare.as_uri(), "--env", "dev",
               "--service", "node-exporter", "--digest", digest("9"), "--tag", "v1.8.2", "--mode", "commit"])
    assert rc == 0 and git(bare, "rev-parse", "main") != head


# Template shapes seen in public charts, each as the parent's deployment: (template, accepted).
# The verdict comes from gitops.helmchart.check_image_key on a chart built in memory.
SHAPES = {
    "direct-if-digest": ('image: {{ .Values.image.repository }}{{ if .Values.image.digest }}@{{ .Values.image.digest }}'
                         '{{ else }}:{{ .Values.image.tag }}{{ end }}', True),
    "with-block": ("{{- with .Values.image }}\n          image: {{ .repository }}@{{ .digest }}\n{{- end }}", True),
    "variable": ('{{- $img := .Values.image }}\n          image: {{ printf "%s@%s" $img.repository $img.digest | quote }}',
                 True),
    "dollar-in-range": ('{{- range .Values.extraPorts }}\n{{- end }}\n          image: "{{ $.Values.image.repository }}'
                        '@{{ $.Values.image.digest }}"', True),
    "index-and-paren": ('image: {{ index .Values "image" "repository" }}@{{ (.Values.image).digest }}', True),
    "template-keyword": ('image: {{ template "app.image" . }}', True),
    "tpl": ('image: "{{ tpl .Values.image.repository . }}@{{ tpl .Values.image.digest . }}"', True),
    "continuation-line": ("image: {{ .Values.image.repository }}\n"
                          "            {{- with .Values.image.digest }}@{{ . }}{{ end }}", True),
    "digest-only-tested": ('image: {{ .Values.image.repository }}{{ if .Values.image.digest }}:pinned{{ end }}', False),
    "digest-in-env-not-image": ("image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n"
                                "          env: [{name: DIGEST, value: {{ .Values.image.digest | quote }}}]", False),
    "other-key": ('image: {{ .Values.sidecar.repository }}@{{ .Values.sidecar.digest }}', False),
    "commented-out": ("{{/* image: {{ .Values.image.repository }}@{{ .Values.image.digest }} */}}\n"
                      "          image: {{ .Values.image.repository }}:{{ .Values.image.tag }}", False),
    "helper-not-defined": ('image: {{ include "missing.image" . }}', False),
}
HELPERS = ('{{- define "app.image" -}}\n{{ .Values.image.repository }}@{{ .Values.image.digest }}\n{{- end -}}\n')


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_template_shapes(shape: str) -> None:
    from gitops.helmchart import Chart, check_image_key
    template, accepted = SHAPES[shape]
    deployment = ("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
                  "        - name: app\n          " + template + "\n")
    tree = Chart("app", "charts/app", {"deployment.yaml": deployment, "_helpers.tpl": HELPERS}, [])
    values = f"image:\n  repository: {ECR}/shop/app\n  tag: v1\n  digest: {digest('1')}\n"
    if accepted:
        check_image_key(tree, "image", ["repository", "tag", "digest"], values, "charts/app/values.yaml")
    else:
        with pytest.raises(GantryError, match=r"never read \.(digest|repository) of \.Values\.image") as info:
            check_image_key(tree, "image", ["repository", "tag", "digest"], values, "charts/app/values.yaml")
        assert info.value.exit_code == 2
