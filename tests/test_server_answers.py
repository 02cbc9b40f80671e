"""A server that answers 2xx without a field its API documents: the real command fails with exit 2
and one line naming the endpoint and the field — never ``KeyError: 'views'`` or a traceback.

The servers are local stand-ins (pytest-httpserver) answering the documented shapes with one
field left out: Jenkins' remote-access API (``api/json`` ``jobs``/``views``,
``lastSuccessfulBuild``), GitHub's REST API (issue comments, code-scanning SARIF uploads, pull
requests) and the OCI distribution API (upload sessions, token endpoint, manifests).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from werkzeug import Request, Response

from pipeline_lib.cli import main
from pipeline_lib.core.answer import optional, require
from pipeline_lib.core.errors import BadAnswer
from tests.support.oci import image_layout
from tests.support.paths import FIXTURES, PROJECT_ROOT

TOKEN = "ghp_answers000000000000000000000000000000"
REPO = "octocat/hello-world"
SHA = "4b6472266afd7b471e86085a6659e8c7f2b119da"
MARKER = "<!-- gantry:security-report -->"
JSON = "application/json;charset=utf-8"


def _cli(capsys, *argv: str) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err and "KeyError" not in err, err
    return code, err.splitlines()


# -- the helper itself ----------------------------------------------------------------------------

def test_require_names_the_field_and_the_endpoint() -> None:
    where = "jenkins h GET api/json"
    doc = {"jobs": [{"name": "a"}, {"url": "u"}], "n": "7", "flag": True}
    assert require(doc, "jobs", 0, "name", kind=str, where=where) == "a"
    cases = [((doc, "views"), {}, "answer has no field 'views'"),
             ((doc, "jobs", 1, "name"), {"kind": str}, "answer has no field 'jobs[1].name'"),
             ((doc, "jobs", 5), {}, "answer's field 'jobs' has no entry 5"),
             ((doc, "n"), {"kind": int}, "answer's field 'n' is a string, expected an integer"),
             ((doc, "flag"), {"kind": int}, "answer's field 'flag' is true or false, expected an integer"),
             ((doc, "n", "x"), {}, "answer's field 'n' is a string, expected an object"),
             (([], "views"), {}, "answer is an array, expected an object"),
             (({}, ), {"kind": list}, "answer is an object, expected an array")]
    for args, kw, message in cases:
        with pytest.raises(BadAnswer) as info:
            require(*args, where=where, **kw)
        assert str(info.value) == f"{where}: {message}" and info.value.exit_code == 2
    assert optional(doc, "url", kind=str, default="", where=where) == ""
    with pytest.raises(BadAnswer, match="answer's field 'n' is a string, expected an array"):
        optional(doc, "n", kind=list, where=where)


# -- Jenkins --------------------------------------------------------------------------------------

@pytest.fixture()
def jobs_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "jobs"
    shutil.copytree(PROJECT_ROOT / "jobs", dest, ignore=shutil.ignore_patterns("*.example", "__pycache__"))
    return dest


@pytest.fixture()
def jenkins_env(httpserver, monkeypatch, tmp_path):
    monkeypatch.setenv("JENKINS_URL", httpserver.url_for("/"))
    monkeypatch.setenv("JENKINS_USER", "release")
    monkeypatch.setenv("JENKINS_API_TOKEN", "s3cret-token")
    monkeypatch.setenv("GANTRY_CACHE_DIR", str(tmp_path / "cache"))
    return f"jenkins {httpserver.host}:{httpserver.port}"


def _jenkins(httpserver, jobs_answer: dict, root_answer: dict) -> None:
    """A controller without CSRF crumbs; ``GET api/json?tree=jobs[…]`` and plain ``GET api/json``."""
    def handle(request: Request) -> Response:
        if request.path == "/crumbIssuer/api/json":
            return Response("Not Found", 404)
        if request.path == "/api/json":
            doc = jobs_answer if "tree" in request.args else root_answer
            return Response(json.dumps(dict(doc, _class="hudson.model.Hudson")), 200, content_type=JSON)
        return Response("<html>Not Found</html>", 404, content_type="text/html")
    httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(handle)


@pytest.mark.parametrize("jobs_answer, root_answer, message", [
    ({"views": []}, {}, "GET api/json: answer has no field 'jobs'"),
    ({"jobs": [{"_class": "hudson.model.FreeStyleProject", "url": "http://j/job/x/", "color": "blue"}]}, {},
     "GET api/json: answer has no field 'jobs[0].name'"),
    ({"jobs": []}, {"jobs": []}, "GET api/json: answer has no field 'views'"),
    ({"jobs": []}, {"jobs": [], "views": {"name": "all"}}, "GET api/json: answer's field 'views' is an object, "
                                                           "expected an array"),
])
def test_jenkins_answer_without_a_field(jobs_answer, root_answer, message, httpserver, jenkins_env, jobs_dir,
                                        capsys) -> None:
    _jenkins(httpserver, jobs_answer, root_answer)
    code, err = _cli(capsys, "jobs", "diff", "--jobs-dir", str(jobs_dir))
    assert code == 2
    assert err == [f"gantry: {jenkins_env} {message}"]


def test_baseline_answer_without_the_build_number(httpserver, jenkins_env, tmp_path, capsys) -> None:
    """The PR gate's baseline (``job/…/lastSuccessfulBuild/api/json``): the gate's rule is that no
    baseline never fails it, so the line is the "no baseline" warning and the exit is the verdict's."""
    httpserver.expect_request("/job/dev/job/web/lastSuccessfulBuild/api/json").respond_with_json(
        {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
         "artifacts": [{"relativePath": "reports/gate/findings.json"}]})
    code, err = _cli(capsys, "gate", str(FIXTURES / "trivy" / "alpine-image-no-vulns.json"),
                     "--baseline-from-jenkins", "dev/web", "--report-dir", str(tmp_path / "gate"))
    assert code == 0
    assert ("gantry: no baseline: jenkins dev/web GET job/dev/job/web/lastSuccessfulBuild/api/json: "
            "answer has no field 'number'") in err


# -- GitHub ---------------------------------------------------------------------------------------

@pytest.fixture()
def report_dir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    d = tmp_path / "rep"
    d.mkdir()
    (d / "report.md").write_text(f"{MARKER}\n## Security gate failed\n\nbody\n")
    (d / "verdict.json").write_text(json.dumps({"exit_code": 1, "status": "fail", "summary": "gate failed"}))
    return d


def _github(httpserver, comments: list[dict], created: dict) -> None:
    def handle(request: Request) -> Response:
        if request.path == f"/repos/{REPO}/issues/7/comments" and request.method == "GET":
            return Response(json.dumps(comments), 200, content_type=JSON)
        if request.path == f"/repos/{REPO}/issues/7/comments" and request.method == "POST":
            return Response(json.dumps(created), 201, content_type=JSON)
        return Response(json.dumps({"message": "Not Found"}), 404, content_type=JSON)
    httpserver.expect_request(re.compile(r"^/repos/.*")).respond_with_handler(handle)


@pytest.mark.parametrize("comments, created, message", [
    ([], {"html_url": "https://github.com/o/r/pull/7#issuecomment-1", "body": "x"},
     f"github POST /repos/{REPO}/issues/7/comments: answer has no field 'id'"),
    ([], {"id": "1", "body": "x"},
     f"github POST /repos/{REPO}/issues/7/comments: answer's field 'id' is a string, expected an integer"),
    ([{"body": f"{MARKER}\nold", "user": {"login": "gantry-bot"}}], {},
     f"github GET /repos/{REPO}/issues/7/comments: answer has no field 'id'"),
    ({"comments": []}, {}, f"github GET repos/{REPO}/issues/7/comments: answer is not a JSON array"),
])
def test_github_comment_answer_without_a_field(comments, created, message, httpserver, report_dir, capsys) -> None:
    _github(httpserver, comments, created)
    code, err = _cli(capsys, "pr-report", "--repo", REPO, "--pr", "7", "--sha", SHA, "--report-dir", str(report_dir),
                     "--api-url", httpserver.url_for(""))
    assert code == 2
    assert err == [f"gantry: {message}"]


@pytest.fixture(scope="module")
def sarif(tmp_path_factory) -> Path:
    from scanners.formats import write_all
    from scanners.policy import load_policy
    from tests.support.gate import evaluate_files

    out = tmp_path_factory.mktemp("gate")
    write_all(evaluate_files([FIXTURES / "trivy" / "alpine-3.9-image.json"], policy=load_policy(None)), out)
    return out / "report.sarif"


@pytest.mark.parametrize("receipt, status, message", [
    ({"url": "https://api.github.com/x"}, None, f"github POST /repos/{REPO}/code-scanning/sarifs: answer has no "
                                                "field 'id'"),
    ({"id": "47177e22-5596-11eb-80a1-c1e54ef945c6"}, {"analyses_url": None},
     f"github GET /repos/{REPO}/code-scanning/sarifs/47177e22-5596-11eb-80a1-c1e54ef945c6: answer has no field "
     "'processing_status'"),
])
def test_code_scanning_answer_without_a_field(receipt, status, message, httpserver, sarif, monkeypatch,
                                             capsys) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    httpserver.expect_request(f"/repos/{REPO}/code-scanning/sarifs", method="POST").respond_with_json(receipt, 202)
    if status is not None:
        httpserver.expect_request(f"/repos/{REPO}/code-scanning/sarifs/{receipt['id']}").respond_with_json(status)
    code, err = _cli(capsys, "code-scanning", "--repo", REPO, "--sha", SHA, "--api-url", httpserver.url_for(""),
                     "--ref", "main", "--sarif", str(sarif))
    assert code == 2
    assert err == [f"gantry: {message}"]


# -- OCI registry ---------------------------------------------------------------------------------

def _registry(httpserver, *, token_answer: dict | None = None) -> None:
    """Distribution API: nothing stored; an upload session opens (202) but names no ``Location``.
    With ``token_answer``, every /v2/ request is challenged for a bearer token from /token."""
    def handle(request: Request) -> Response:
        if request.path == "/token":
            return Response(json.dumps(token_answer), 200, content_type=JSON)
        if token_answer is not None and not request.headers.get("Authorization"):
            return Response(json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}),
                            401, {"WWW-Authenticate": f'Bearer realm="{httpserver.url_for("/token")}",'
                                                      'service="registry",scope="repository:shop/storefront:push"'},
                            content_type=JSON)
        if request.path.endswith("/blobs/uploads/") and request.method == "POST":
            return Response("", 202, {"Docker-Upload-UUID": "5d0c7a0e"})
        return Response(json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]}), 404,
                        content_type=JSON)
    httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(handle)


@pytest.mark.parametrize("token_answer, message", [
    (None, "POST /v2/shop/storefront/blobs/uploads/: answer has no Location header (the upload URL)"),
    ({"expires_in": 300}, "token GET {token}: answer has no field 'token' (nor 'access_token')"),
    ({"token": 42}, "token GET {token}: answer's field 'token' is an integer, expected a string"),
])
def test_registry_answer_without_a_field(token_answer, message, httpserver, tmp_path, capsys) -> None:
    _registry(httpserver, token_answer=token_answer)
    layout, _ = image_layout(tmp_path / "layout", "hello", name="v1")
    host = f"127.0.0.1:{httpserver.port}"
    code, err = _cli(capsys, "image", "push", "--service", "storefront", "--registry", host,
                     "--oci-layout", str(layout), "--ref", "v1", "--tag", "abc123")
    assert code == 2
    assert err == [f"gantry: registry {host} " + message.format(token=httpserver.url_for("/token"))]


def test_presence_of_a_manifest_without_layers_is_no_answer(httpserver) -> None:
    """DR presence (``gantry dr failover`` checks the replica with it): an image manifest without
    ``layers`` is not "nothing to check, present" but an answer it cannot evaluate."""
    from pipeline_lib.dr.presence import check_presence
    from pipeline_lib.image.registry import RegistryClient

    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                                  "digest": "sha256:" + "4" * 64}}).encode()
    import hashlib
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    headers = {"Docker-Content-Digest": digest}
    path = f"/v2/shop/storefront/manifests/{digest}"
    httpserver.expect_request(path, method="HEAD").respond_with_response(
        Response(b"", 200, headers, content_type="application/vnd.oci.image.manifest.v1+json"))
    httpserver.expect_request(path, method="GET").respond_with_response(
        Response(body, 200, headers, content_type="application/vnd.oci.image.manifest.v1+json"))
    host = f"127.0.0.1:{httpserver.port}"
    with pytest.raises(BadAnswer) as info:
        check_presence(RegistryClient(host), "shop/storefront", digest)
    assert str(info.value) == f"registry {host} GET {path}: answer has no field 'layers'"


# -- Argo CD --------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer, message", [
    (Response(json.dumps({"status": {"sync": {"status": 3}, "health": {"status": "Healthy"}}}), 200,
              content_type=JSON),
     "answer's field 'status.sync.status' is an integer, expected a string"),
    (Response("<html><body>Argo CD login</body></html>", 200, content_type="text/html"),
     "answer is not JSON (HTTP 200)"),
])
def test_argocd_answer_of_another_shape(answer, message, httpserver, monkeypatch, capsys) -> None:
    """`gantry gitops wait` (``GET /api/v1/applications/{app}``): a field of another type or an HTML
    page (a proxy's login form) is one line, not an AttributeError or a poll until the timeout."""
    monkeypatch.delenv("ARGOCD_AUTH_TOKEN", raising=False)
    httpserver.expect_request("/api/v1/applications/storefront-dev").respond_with_response(answer)
    code, err = _cli(capsys, "gitops", "wait", "--server", httpserver.url_for(""), "--app", "storefront-dev",
                     "--timeout", "5")
    assert code == 2
    assert err == [f"gantry: argocd GET /api/v1/applications/storefront-dev: {message}"]


def test_jenkins_queue_answer_without_items(httpserver) -> None:
    """The webhook's duplicate check (``queue/api/json``): without ``items`` it cannot tell whether
    the build is queued, so it says so instead of answering "not queued"."""
    from pipeline_lib.jenkins.client import JenkinsClient, JenkinsSettings

    httpserver.expect_request("/crumbIssuer/api/json").respond_with_data("Not Found", 404)
    httpserver.expect_request("/queue/api/json").respond_with_json({"_class": "hudson.model.Queue"})
    client = JenkinsClient(JenkinsSettings(httpserver.url_for("/"), "hook", "hook-token", 5), retries=0)
    with pytest.raises(BadAnswer) as info:
        client.find_build("dev/web", {"COMMIT_SHA": SHA, "GIT_REF": "refs/heads/main"})
    assert str(info.value) == (f"jenkins {httpserver.host}:{httpserver.port} GET queue/api/json: "
                               "answer has no field 'items'")
