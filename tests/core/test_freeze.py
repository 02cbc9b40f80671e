"""Freeze windows (pure): catalog entries, recurring occurrences across midnight, JSON round trip,
catalog validation naming the field."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline_lib.core.catalog import parse_catalog, unwrap
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.freeze import active_at, from_json, parse_spec, to_json, upcoming
from pipeline_lib.core.yamlload import load_yaml_file
from tests.support.catalogs import SHIPPED

KST = timezone(timedelta(hours=9))


def test_recurring_window_runs_past_midnight_and_repeats_weekly() -> None:
    fri = parse_spec({"name": "weekend", "every": ["fri"], "at": "18:00", "for": "62h", "tz": "Asia/Seoul"})
    inside = [datetime(2026, 12, 4, 18, tzinfo=KST), datetime(2026, 12, 6, 12, tzinfo=KST),
              datetime(2026, 12, 7, 7, 59, tzinfo=KST), datetime(2026, 12, 11, 18, tzinfo=KST)]
    outside = [datetime(2026, 12, 4, 17, 59, tzinfo=KST), datetime(2026, 12, 7, 8, tzinfo=KST),
               datetime(2026, 12, 9, 12, tzinfo=KST)]
    assert all(active_at([fri], t) for t in inside)
    assert not any(active_at([fri], t) for t in outside)
    hit = active_at([fri], datetime(2026, 12, 6, 3, tzinfo=timezone.utc))[0]   # another zone, same instant
    assert hit.start == datetime(2026, 12, 4, 18, tzinfo=KST) and hit.end == datetime(2026, 12, 7, 8, tzinfo=KST)
    assert upcoming([fri], datetime(2026, 12, 8, tzinfo=KST))[0].start == datetime(2026, 12, 11, 18, tzinfo=KST)
    daily = parse_spec({"name": "nightly", "every": "daily", "at": "23:30", "for": "60m", "tz": "UTC"})
    assert active_at([daily], datetime(2026, 12, 9, 0, 15, tzinfo=timezone.utc))
    assert from_json(to_json([fri, daily])) == [fri, daily]


def test_absolute_window_is_half_open_and_needs_an_offset() -> None:
    w = parse_spec({"name": "sale", "start": "2027-03-05T10:00:00+09:00", "end": "2027-03-05T22:00:00+09:00"})
    assert active_at([w], datetime(2027, 3, 5, 1, tzinfo=timezone.utc))          # 10:00 KST
    assert not active_at([w], datetime(2027, 3, 5, 13, tzinfo=timezone.utc))      # 22:00 KST: over
    with pytest.raises(ValueError, match="needs a UTC offset"):
        parse_spec({"name": "x", "start": "2027-03-05T10:00", "end": "2027-03-05T22:00+09:00"})
    with pytest.raises(ValueError, match="the clock must be time-zone aware"):
        active_at([w], datetime(2027, 3, 5, 10))


@pytest.mark.parametrize(("entry", "where"), [
    ({"windows": [{"name": "a", "start": "2027-01-02T00:00:00+09:00", "end": "2027-01-01T00:00:00+09:00"}]},
     "freeze.prod.windows[0].end: is not after start"),
    ({"windows": [{"name": "a", "every": ["fri"], "at": "25:00", "for": "1h", "tz": "UTC"}]},
     "freeze.prod.windows[0].at: local start time HH:MM"),
    ({"windows": [{"name": "a", "every": ["fri"], "at": "10:00", "for": "8d", "tz": "UTC"}]},
     "freeze.prod.windows[0].for: a recurring window lasts at most 7d"),
    ({"windows": [{"name": "a", "every": ["fri"], "at": "10:00", "for": "1h", "tz": "Mars/Base"}]},
     "freeze.prod.windows[0].tz: unknown time zone"),
    ({"windows": [{"name": "a", "every": ["fri"], "at": "10:00", "for": "1h"}]},   # trial item 15
     "freeze.prod.windows[0].tz: required (an IANA time zone"),
    ({"windows": "always"}, "freeze.prod.windows: must be a list"),
    ({"event_calender": "x"}, "freeze.prod"),
])
def test_catalog_freeze_errors_name_the_field(entry: dict, where: str) -> None:
    data = unwrap(load_yaml_file(SHIPPED))
    with pytest.raises(GantryError) as info:
        parse_catalog({**data, "freeze": {"prod": entry}}, "cat.yaml")
    assert any(f"cat.yaml: {where}" in line for line in info.value.problems), info.value.problems


@pytest.mark.parametrize("section", ["freeze", "signing"])
def test_an_unknown_environment_is_one_problem(section: str) -> None:
    """Trial item 24: ``freeze: {staging: …}`` was two lines (unknown key + not defined)."""
    data = unwrap(load_yaml_file(SHIPPED))
    with pytest.raises(GantryError) as info:
        parse_catalog({**data, section: {"staging": {}}}, "cat.yaml")
    assert [p for p in info.value.problems if "staging" in p] == [
        f"cat.yaml: {section}.staging: unknown key (allowed: dev, event, prod)"], info.value.problems
