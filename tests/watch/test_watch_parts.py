"""The catalog's ``watch:`` schedule, the metrics pushed to the Pushgateway, the policy watch uses."""

from __future__ import annotations


import pytest
import yaml

from pipeline_lib.core.catalog import load_catalog, parse_catalog
from pipeline_lib.core.errors import GantryError
from pipeline_lib.jobs.generate import expected_job_names
from pipeline_lib.metrics.watch import ServiceFigures, WatchFigures, push
from pipeline_lib.stages.watch import watch_policy
from scanners.policy import load_policy
from tests.support.paths import PROJECT_ROOT


def _catalog(watch) -> dict:
    raw = yaml.safe_load((PROJECT_ROOT / "jobs" / "catalog.yaml").read_text())
    raw[0]["_catalog"]["environments"]["prod"]["watch"] = watch
    return raw


@pytest.mark.parametrize("value,spec", [("hourly", "H * * * *"), ("daily", "H H * * *"), ("weekly", "H H * * H"),
                                        ("H 6 * * 1-5", "H 6 * * 1-5"), (False, None), ("off", None)])
def test_watch_schedules(value, spec) -> None:
    catalog = parse_catalog(_catalog(value))
    assert catalog.environments["prod"].watch_schedule == spec
    assert ("prod/watch" in expected_job_names(catalog)) is (spec is not None)
    assert load_catalog(PROJECT_ROOT / "jobs" / "catalog.yaml").environments["dev"].watch_schedule == "H H * * *"


@pytest.mark.parametrize("value", ["sometimes", "* * *", 7])
def test_a_bad_watch_schedule_is_a_one_line_error_naming_the_field(value) -> None:
    with pytest.raises(GantryError) as info:
        parse_catalog(_catalog(value))
    assert "environments.prod.watch" in str(info.value)


@pytest.mark.parametrize("value", ["H/15 * * * *", "H(0-29) H(1-5) * * 1-5", "0,30 8-18/2 1 1-12 0-7", "@daily",
                                   "@midnight", "*/5 * * * *", "H H(0-7) * * H(1-5)/2", "59 23 31 12 7"])
def test_jenkins_cron_specs_are_accepted(value: str) -> None:
    assert parse_catalog(_catalog(value)).environments["prod"].watch_schedule == value


@pytest.mark.parametrize("value,why", [
    ("a b c d e", "minute field 'a': 'a' is not *, H, H(a-b), a number or a range a-b (/step)"),
    ("99 99 * * *", "minute field '99': out of range 0-59"),
    ("0 24 * * *", "hour field '24': out of range 0-23"),
    ("0 0 0 * *", "day of month field '0': out of range 1-31"),
    ("0 0 * 13 *", "month field '13': out of range 1-12"),
    ("0 0 * * 8", "day of week field '8': out of range 0-7"),
    ("30-10 * * * *", "minute field '30-10': range 30-10 runs backwards"),
    ("*/0 * * * *", "minute field '*/0': step 0 must be from 1 to 60"),
    ("5/10 * * * *", "minute field '5/10': '5/10' is not"),
    ("H(0-99) * * * *", "minute field 'H(0-99)': out of range 0-59"),
    ("* * * * * *", "has 6 fields"),
    ("@sometimes", "unknown alias '@sometimes'"),
])
def test_bad_jenkins_cron_specs_are_named(value: str, why: str, tmp_path, capsys) -> None:
    """One line naming the field and the reason; the environment still counts as defined, so the
    services deployed to it get no spurious "environment is not defined" lines (trial 10, 14)."""
    from pipeline_lib.cli import main
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(_catalog(value)))
    assert main(["catalog", "check", "--catalog", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"environments.prod.watch: must be hourly, daily, weekly, off or a Jenkins cron spec; {value!r} {why}" in err
    assert "not defined" not in err and err.count("\n") == 1


def test_an_empty_watch_is_an_empty_string() -> None:
    with pytest.raises(GantryError) as info:
        parse_catalog(_catalog(""))
    assert str(info.value).endswith("environments.prod.watch: must be a non-empty string, got an empty string")


def test_metrics_are_put_per_environment_with_every_severity(httpserver) -> None:
    bodies = []

    def handle(request):
        from werkzeug import Response
        bodies.append((request.method, request.path, request.get_data(as_text=True)))
        return Response("", 200)

    httpserver.expect_request("/metrics/job/gantry-watch/env/prod").respond_with_handler(handle)
    figures = WatchFigures("prod", {"storefront": ServiceFigures(open={"HIGH": 2}, new={"HIGH": 1},
                                                                 blocking={"HIGH": 2}, oldest={"HIGH": 86400.0}),
                                    "order-api": ServiceFigures()}, 1_765_000_000.0, True)
    push(httpserver.url_for("/"), figures)
    ((method, _, text),) = bodies
    assert method == "PUT"
    assert 'gantry_watch_findings_open{service="storefront",severity="HIGH"} 2.0' in text
    assert 'gantry_watch_findings_new{service="storefront",severity="HIGH"} 1.0' in text
    assert 'gantry_watch_oldest_open_finding_age_seconds{service="storefront",severity="HIGH"} 86400.0' in text
    assert 'gantry_watch_findings_open{service="order-api",severity="CRITICAL"} 0.0' in text
    assert "gantry_watch_last_run_evaluated 1.0" in text
    httpserver.clear()
    with pytest.raises(GantryError, match="pushgateway"):
        push(httpserver.url_for("/"), figures)


def test_watch_policy_keeps_thresholds_and_allowlist_but_not_required_scanners() -> None:
    policy = load_policy(None)
    assert policy.required_for("prod")   # the build gate requires its scanner in prod
    watched = watch_policy(policy, "prod")
    assert watched.required_for("prod") == ()
    assert watched.rules_for("trivy", "prod") == policy.rules_for("trivy", "prod")
    assert watched.vulnerability_db_for("prod") == policy.vulnerability_db_for("prod")
    assert watched.allowlist == policy.allowlist


def test_stale_and_expired_exceptions_across_the_environment() -> None:
    """An exception matching nothing any running digest has is stale (only when every digest was
    evaluated); an expired one matching a running digest's finding is named too."""
    import datetime as dt

    from pipeline_lib.stages.watch import ServiceScan, exception_notes
    from scanners.gate import evaluate
    from scanners.inputs import read_inputs
    from scanners.policy import policy_from_data
    from tests.support.paths import FIXTURES

    def entry(vid: str, expires: str) -> dict:
        return {"id": vid, "reason": "triaged", "owner": "team-web", "expires": dt.date.fromisoformat(expires)}

    policy = watch_policy(policy_from_data({"version": 1, "environments": {"prod": {}}, "allowlist": [
        entry("CVE-2019-1549", "2999-01-01"),      # matches alpine's openssl: in use
        entry("CVE-2000-0001", "2999-01-01"),      # matches nothing anywhere: stale
        entry("CVE-2019-14697", "2020-01-01"),     # expired, matches musl again
    ]}, "policy.yaml"), "prod")
    today = dt.date(2026, 12, 6)
    alpine = read_inputs([FIXTURES / "trivy" / "alpine-3.9-image.json"])
    clean = read_inputs([FIXTURES / "trivy" / "alpine-image-no-vulns.json"])
    scans = [ServiceScan("storefront", verdict=evaluate(alpine.parsed, [], policy, environment="prod", today=today)),
             ServiceScan("order-api", verdict=evaluate(clean.parsed, [], policy, environment="prod", today=today))]
    stale, expired = exception_notes(scans)
    assert [s.split(" ")[0] for s in stale] == ["CVE-2000-0001"]
    assert [s.split(" ")[0] for s in expired] == ["CVE-2019-14697"]
    scans.append(ServiceScan("product-api", problems=["product-api: no SBOM"]))
    assert exception_notes(scans)[0] == []   # not every digest evaluated: nothing is called stale
