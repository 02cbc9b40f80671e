"""Stages push their outcome and duration to a real Pushgateway when PUSHGATEWAY_URL is set."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline_lib.core import pipelinemetrics as pm
from pipeline_lib.core.process import free_port
from pipeline_lib.core.settingsmodel import Settings
from pipeline_lib.stages import FAILED, PASSED, StageResult, run_stage

from .parts import Part, start_pushgateway

pytestmark = pytest.mark.integration


@pytest.fixture()
def pushgateway(tmp_path: Path) -> Iterator[Part]:
    part = start_pushgateway(tmp_path)
    yield part
    part.stop()


def _samples(pushgateway: Part) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample the Pushgateway exposes under job="gantry", keyed by (name, sorted labels)."""
    out = {}
    for family in text_string_to_metric_families(pushgateway.get_text("/metrics")):
        for s in family.samples:
            if s.labels.get("job") == pm.PUSH_JOB:
                labels = {k: v for k, v in s.labels.items() if v != ""}  # the Pushgateway adds instance=""
                out[(s.name, tuple(sorted(labels.items())))] = s.value
    return out


def _value(samples, name: str, **labels: str) -> float | None:
    want = tuple(sorted({"job": pm.PUSH_JOB, **labels}.items()))
    return samples.get((name, want))


def test_run_stage_pushes_outcome_duration_and_keeps_the_last_failure(pushgateway, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PUSHGATEWAY_URL", pushgateway.url)
    monkeypatch.setenv("SERVICE", "storefront")
    monkeypatch.setenv("TARGET_ENV", "prod")
    group = {"service": "storefront", "stage": "gate", "env": "prod"}

    settings = Settings.from_env()   # the CLI's or the demo's, passed down
    failed = run_stage("gate", lambda: StageResult("gate", FAILED, "2 critical findings"), out=io.StringIO(),
                       settings=settings)
    samples = _samples(pushgateway)
    assert _value(samples, pm.STAGE_OUTCOME, **group, status="failed") == 1
    assert _value(samples, pm.STAGE_OUTCOME, **group, status="passed") == 0
    assert _value(samples, pm.STAGE_DURATION, **group) == pytest.approx(failed.duration)
    failed_at = _value(samples, pm.STAGE_LAST_FAILURE, **group)
    assert failed_at is not None and failed_at == _value(samples, pm.STAGE_LAST_RUN, **group)

    run_stage("gate", lambda: StageResult("gate", PASSED), out=io.StringIO(), settings=settings)
    samples = _samples(pushgateway)
    assert _value(samples, pm.STAGE_OUTCOME, **group, status="passed") == 1
    assert _value(samples, pm.STAGE_OUTCOME, **group, status="failed") == 0
    # POST replaces only the names pushed: the failure time survives the passing run.
    assert _value(samples, pm.STAGE_LAST_FAILURE, **group) == failed_at
    assert _value(samples, pm.STAGE_LAST_RUN, **group) >= failed_at
    assert "warning" not in capsys.readouterr().err


def test_unreachable_pushgateway_is_a_warning_not_a_failed_stage(monkeypatch, capsys) -> None:
    monkeypatch.setenv("PUSHGATEWAY_URL", f"http://127.0.0.1:{free_port()}")
    result = run_stage("test", lambda: StageResult("test", PASSED, "12 tests"), out=io.StringIO(),
                       settings=Settings.from_env())
    assert result.status == PASSED
    err = capsys.readouterr().err
    assert err.startswith("gantry: warning: pushgateway http://127.0.0.1:") and "push failed" in err


def test_nothing_is_pushed_without_the_url(pushgateway, monkeypatch, capsys) -> None:
    monkeypatch.delenv("PUSHGATEWAY_URL", raising=False)
    run_stage("build", lambda: StageResult("build", PASSED), out=io.StringIO(), settings=Settings.from_env())
    assert _samples(pushgateway) == {}
    assert capsys.readouterr().err == ""


def test_push_stage_command_reports_a_jenkins_stage(pushgateway, monkeypatch, capsys) -> None:
    from pipeline_lib import cli

    monkeypatch.setenv("PUSHGATEWAY_URL", pushgateway.url)
    monkeypatch.setenv("SERVICE", "order-api")
    monkeypatch.setenv("TARGET_ENV", "event")
    assert cli.main(["monitoring", "push-stage", "--stage", "replicate", "--status", "failed", "--duration", "42"]) == 0
    assert capsys.readouterr().out == "pushed replicate: failed\n"
    samples = _samples(pushgateway)
    group = {"service": "order-api", "stage": "replicate", "env": "event"}
    assert _value(samples, pm.STAGE_OUTCOME, **group, status="failed") == 1
    assert _value(samples, pm.STAGE_DURATION, **group) == 42
    pushgateway.stop()  # a Pushgateway that went away: one line, exit 2
    assert cli.main(["monitoring", "push-stage", "--stage", "replicate", "--status", "passed"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gantry: pushgateway {pushgateway.url}: push failed:") and err.count("\n") == 1
    monkeypatch.delenv("PUSHGATEWAY_URL")
    assert cli.main(["monitoring", "push-stage", "--stage", "gate", "--status", "passed"]) == 0
    assert capsys.readouterr().err == "gantry: not pushed: PUSHGATEWAY_URL is not set\n"
