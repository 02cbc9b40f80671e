"""`gantry event cost`: the arithmetic is shown and adds up."""

from __future__ import annotations

import re

import pytest

from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.cli import main
from pipeline_lib.event.cost import estimate
from pipeline_lib.event.schedule import parse_window


def test_event_saves_about_96_percent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["event", "cost", "--start", "2026-12-12T10:00", "--end", "2026-12-12T22:00"]) == 0
    out = capsys.readouterr().out
    assert "= 25 h" in out                       # D-1 22:00 .. end + 1h
    m = re.search(r"saving\s+: 1 - ([\d,.]+) / ([\d,.]+) = ([\d.]+) %", out)
    assert m, out
    event, always = (float(x.replace(",", "")) for x in m.groups()[:2])
    assert float(m.group(3)) == pytest.approx((1 - event / always) * 100, abs=0.05)
    assert 95.0 < float(m.group(3)) < 97.0


def test_estimate_is_hourly_times_hours_plus_snapshot() -> None:
    window = parse_window("x", "2026-12-12T10:00", "2026-12-13T10:00", "Asia/Seoul")
    est = estimate(load_catalog(), window)
    assert est.lifetime_hours == 37
    assert est.event_cost == pytest.approx(est.hourly * 37 + 9.5)
    assert est.always_on_cost == pytest.approx(est.hourly * 730)


def test_bad_period_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["event", "cost", "--start", "2026-12-12T10:00", "--end", "2026-12-12T22:00",
                 "--period-hours", "10"]) == 2
    assert "gantry: event cost: --period-hours: 10 h is shorter" in capsys.readouterr().err
