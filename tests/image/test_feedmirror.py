"""``gantry feeds mirror|pull`` against a real docker-registry, the upstream served by pytest-httpserver.

The KEV catalog is CISA's real file (its ``dateReleased`` moved to yesterday, a byte replacement),
served as CISA serves it; EPSS is a small CSV in FIRST's layout, gzipped as FIRST ships it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
import requests

from pipeline_lib.cli import main
from pipeline_lib.core.reference import MANIFEST_ACCEPT
from pipeline_lib.image.feedmirror import ARTIFACT_TYPE, LAYER_TYPES
from scanners.feeds import FILES, parse_kev
from tests.scanners.test_exploit_truth_table import IN_KEV, epss_text, kev_bytes, trivy_report

NOW = dt.datetime.now(dt.timezone.utc)


def gantry(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def write_policy(path: Path, registry, max_age: str = "3d") -> Path:
    path.write_text(f"""\
version: 1
defaults: {{fail_on: CRITICAL}}
feeds: {{max_age: {max_age}, kev: {registry.host}/feeds/kev:latest, epss: {registry.host}/feeds/epss:latest}}
environments:
  prod: {{kev: true, epss: 0.5}}
  dev: {{}}
""")
    return path


def test_mirror_from_upstream_pull_and_gate(registry, httpserver, tmp_path, capsys) -> None:
    kev = kev_bytes(NOW - dt.timedelta(days=1))
    epss = gzip.compress(epss_text(NOW - dt.timedelta(hours=6), {"CVE-2024-0002": (0.7, 0.99)}).encode(), mtime=0)
    httpserver.expect_request("/feeds/known_exploited_vulnerabilities.json").respond_with_data(
        kev, content_type="application/json")
    httpserver.expect_request("/epss_scores-current.csv.gz").respond_with_data(epss, content_type="application/gzip")
    for feed, url in (("kev", "/feeds/known_exploited_vulnerabilities.json"), ("epss", "/epss_scores-current.csv.gz")):
        code, out, err = gantry(capsys, "feeds", "mirror", "--feed", feed, "--from-url", httpserver.url_for(url),
                                "--to", f"{registry.host}/feeds/{feed}", "--format", "json")
        assert code == 0, err
        assert json.loads(out)["already_present"] is False
    # the artifact is oras-shaped: artifactType, empty config, one layer holding the feed's bytes unchanged
    resp = requests.get(f"{registry.url}/v2/feeds/kev/manifests/latest", headers={"Accept": MANIFEST_ACCEPT}, timeout=10)
    manifest = resp.json()
    assert manifest["artifactType"] == ARTIFACT_TYPE and manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == LAYER_TYPES["kev"]
    assert requests.get(f"{registry.url}/v2/feeds/kev/blobs/{layer['digest']}", timeout=10).content == kev
    # mirroring the same bytes again changes nothing
    code, out, _ = gantry(capsys, "feeds", "mirror", "--feed", "kev", "--from-url",
                          httpserver.url_for("/feeds/known_exploited_vulnerabilities.json"),
                          "--to", f"{registry.host}/feeds/kev:latest", "--format", "json")
    assert code == 0 and json.loads(out)["already_present"] is True

    policy = write_policy(tmp_path / "policy.yaml", registry)
    cache = tmp_path / "cache"
    code, out, err = gantry(capsys, "feeds", "pull", "--policy", str(policy), "--env", "prod", "--cache", str(cache))
    assert code == 0, err
    assert (cache / FILES["kev"]).read_bytes() == kev
    assert (cache / FILES["epss"]).read_text().startswith("#model_version:v2025.03.14,")   # stored plain
    assert "feed kev: CISA KEV catalog (kev) dated 1 day" in out
    source = json.loads((cache / (FILES["kev"] + ".source.json")).read_text())
    assert source["reference"] == f"{registry.host}/feeds/kev:latest" and source["layer"] == layer["digest"]

    report = trivy_report(tmp_path / "trivy.json", [(IN_KEV, "LOW"), ("CVE-2024-0002", "LOW"), ("CVE-2024-0005", "HIGH")])
    code, out, err = gantry(capsys, "gate", str(report), "--policy", str(policy), "--env", "prod",
                            "--feeds", str(cache), "--format", "json")
    assert code == 1, err
    verdict = json.loads(out)
    assert [(p["id"], p["kev"], p["epss"], p["blocking"]) for p in verdict["priority"]] == [
        (IN_KEV, True, None, True), ("CVE-2024-0002", False, 0.7, True)]
    assert {f["name"]: f["ok"] for f in verdict["feeds"]} == {"kev": True, "epss": True}


def test_bad_feeds_are_never_mirrored_nor_cached(registry, tmp_path, capsys) -> None:
    bad = json.loads(kev_bytes(NOW))
    del bad["vulnerabilities"][3]["cveID"]
    (tmp_path / "kev.json").write_text(json.dumps(bad))
    code, _, err = gantry(capsys, "feeds", "mirror", "--feed", "kev", "--from-file", str(tmp_path / "kev.json"),
                          "--to", f"{registry.host}/bad/kev:latest")
    assert code == 2 and "does not match CISA's schema at .vulnerabilities[3]" in err and err.count("\n") == 1
    assert requests.get(f"{registry.url}/v2/bad/kev/tags/list", timeout=10).status_code == 404

    (tmp_path / "epss.csv").write_text("cve,epss,percentile\nCVE-2024-0001,0.1,0.2\n")
    code, _, err = gantry(capsys, "feeds", "mirror", "--feed", "epss", "--from-file", str(tmp_path / "epss.csv"),
                          "--to", f"{registry.host}/bad/epss:latest")
    assert code == 2 and "epss.csv:1: expected FIRST's comment line" in err


def test_pull_fails_closed_on_a_stale_used_feed_and_skips_unused_ones(registry, tmp_path, capsys) -> None:
    (tmp_path / "old.csv").write_text(epss_text(NOW - dt.timedelta(days=5), {"CVE-2024-0002": (0.7, 0.99)}))
    code, _, err = gantry(capsys, "feeds", "mirror", "--feed", "epss", "--from-file", str(tmp_path / "old.csv"),
                          "--to", f"{registry.host}/stale/epss:latest")
    assert code == 0, err
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"""\
version: 1
feeds: {{max_age: 2d, epss: {registry.host}/stale/epss:latest}}
environments:
  prod: {{epss: 0.5}}
  dev: {{}}
""")
    code, _, err = gantry(capsys, "feeds", "pull", "--policy", str(policy), "--env", "prod", "--cache", str(tmp_path / "c"))
    assert code == 2 and "\ngantry: feed epss: FIRST EPSS scores (epss) is 5 days" in err and "at most 2 days" in err
    # dev uses no feed: the same stale feed is pulled and nothing is required
    code, _, err = gantry(capsys, "feeds", "pull", "--policy", str(policy), "--env", "dev", "--cache", str(tmp_path / "d"))
    assert code == 0, err


def test_the_real_kev_fixture_is_valid_against_cisas_schema() -> None:
    from tests.support.paths import FIXTURES

    kev = parse_kev((FIXTURES / "kev" / "known_exploited_vulnerabilities.json").read_bytes())
    assert (kev.version, len(kev.cves)) == ("2025.08.25", 1404) and "CVE-2021-44228" in kev.cves
    packaged = Path(__import__("scanners.feeds", fromlist=["KEV_SCHEMA"]).KEV_SCHEMA)
    assert packaged.read_bytes() == (FIXTURES / "kev" / "known_exploited_vulnerabilities_schema.json").read_bytes()


@pytest.mark.parametrize("text, needle", [
    ("#model_version:v1,score_date:2026-12-01T00:00:00+0000\ncve,score\n", ":2: expected the header cve,epss,percentile"),
    ("#model_version:v1,score_date:2026-12-01T00:00:00+0000\ncve,epss,percentile\nCVE-2024-1,0.2,0.3\n",
     ":3: 'CVE-2024-1' is not a CVE id"),
    ("#model_version:v1,score_date:2026-12-01T00:00:00+0000\ncve,epss,percentile\nCVE-2024-0001,1.2,0.3\n",
     ":3: epss 1.2 is outside 0-1"),
    ("#model_version:v1,score_date:yesterday\ncve,epss,percentile\n", ":1: score_date 'yesterday' is not a time"),
])
def test_epss_layout_errors_name_the_line(tmp_path, text, needle) -> None:
    from pipeline_lib.core.errors import GantryError
    from scanners.feeds import parse_epss

    with pytest.raises(GantryError) as info:
        parse_epss(text.encode(), "epss.csv")
    assert needle in str(info.value)


def test_unreachable_upstream_is_one_error_naming_the_url() -> None:
    from pipeline_lib.core.errors import Unavailable
    from pipeline_lib.core.http import retry_policy
    from pipeline_lib.core.process import free_port
    from pipeline_lib.image.feedmirror import download
    url = f"http://127.0.0.1:{free_port()}/kev.json"
    with pytest.raises(Unavailable) as exc:
        download(url, retry=retry_policy(total=0))
    assert str(exc.value) == f"{url}: GET /kev.json failed: ConnectionError (Connection refused)"
    assert exc.value.exit_code == 2


def test_mirror_checks_the_url_before_downloading_and_a_dry_run_contacts_no_registry(tmp_path, capsys) -> None:
    from pipeline_lib.core.process import free_port
    nowhere = f"127.0.0.1:{free_port()}/feeds/kev:latest"
    code, out, err = gantry(capsys, "feeds", "mirror", "--feed", "kev", "--from-url", "file:///etc/passwd",
                            "--to", nowhere, "--dry-run")
    assert code == 2 and err == "gantry: --from-url: expected an http(s) URL, not 'file:///etc/passwd'\n"
    (tmp_path / "kev.json").write_bytes(kev_bytes(NOW - dt.timedelta(days=467)))
    code, out, err = gantry(capsys, "feeds", "mirror", "--feed", "kev", "--from-file", str(tmp_path / "kev.json"),
                            "--to", nowhere, "--dry-run")
    assert code == 0, err
    assert ": would push (" in out and out.endswith("; registry not contacted)\n")
    assert err.startswith("gantry feeds: warning: kev is dated ") and "(467 days old)" in err


def test_pull_of_a_stale_used_feed_caches_nothing(registry, tmp_path, capsys) -> None:
    (tmp_path / "old.csv").write_text(epss_text(NOW - dt.timedelta(days=5), {"CVE-2024-0002": (0.7, 0.99)}))
    assert gantry(capsys, "feeds", "mirror", "--feed", "epss", "--from-file", str(tmp_path / "old.csv"),
                  "--to", f"{registry.host}/stale2/epss:latest")[0] == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nfeeds: {{max_age: 2d, epss: {registry.host}/stale2/epss:latest}}\n"
                      "environments:\n  prod: {epss: 0.5}\n  dev: {}\n")
    cache = tmp_path / "c"
    code, _, err = gantry(capsys, "feeds", "pull", "--policy", str(policy), "--env", "prod", "--cache", str(cache))
    assert code == 2 and err.endswith("; nothing cached\n") and "is 5 days" in err
    assert list(cache.iterdir()) == []
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, _, err = gantry(capsys, "feeds", "pull", "--policy", str(policy), "--env", "prod", "--cache", str(afile))
    assert code == 2 and err == f"gantry: --cache: {afile}: cannot create the directory: it or a parent is a file\n"
