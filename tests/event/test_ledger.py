"""The cost ledger: one event's figure equals a hand calculation; `gantry event cost --history`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline_lib.cli import main
from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.event.ledger import close_event, open_event, read_ledger


def _hand_hourly() -> float:
    """jobs/catalog.yaml: storefront and event-api, 2 Fargate tasks each (0.5 vCPU, 1 GB); the
    rest is infra/envs/event; prices: AWS Seoul list prices as of 2026-11-15 (cost.py's table)."""
    tasks = 2 + 2
    return (tasks * 0.5 * 0.04656 + tasks * 1.0 * 0.00511   # Fargate vCPU-h, GB-h
            + 2 * 0.293 + 2 * 0.261 + 2 * 0.174             # RDS, Redis, DMS (Multi-AZ / primary+replica)
            + 2 * 0.059 + 0.0225 + 5 * 2 * 0.013            # NAT x2, ALB, 5 interface endpoints x 2 AZs
            + (2 * 5.0 + 11 * 1.0) / 730)                   # WAF: 2 ACLs, 11 rules, monthly prorated


def test_one_event_costs_what_the_hand_calculation_says(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = tmp_path / "events" / "cost-ledger.json"
    created = datetime(2026, 12, 11, 13, 0, tzinfo=timezone.utc)            # D-1 22:00 KST
    destroyed = created + timedelta(hours=25, minutes=30)
    open_event(ledger, "winter-sale", created)
    open_event(ledger, "winter-sale", created + timedelta(hours=1))          # a retried create keeps the first time
    assert [e["status"] for e in read_ledger(ledger)] == ["up"]
    entry = close_event(ledger, "winter-sale", destroyed, load_catalog())
    assert entry is not None and entry["hours"] == 25.5
    hand = _hand_hourly() * 25.5 + 100 * 0.095                             # + one month of the 100 GB final snapshot
    assert entry["event_usd"] == pytest.approx(hand, rel=0.01)
    assert entry["saving"] == pytest.approx(1 - hand / (_hand_hourly() * 730), rel=0.01)
    assert entry["price_table"]["date"] == "2026-11-15"
    assert close_event(ledger, "winter-sale", destroyed + timedelta(hours=3), load_catalog()) == entry   # idempotent

    assert main(["event", "cost", "--history", "--ledger", str(ledger), "--format", "json"]) == 0
    events = json.loads(capsys.readouterr().out)["events"]
    assert [(e["event"], e["hours"], e["event_usd"]) for e in events] == [("winter-sale", 25.5, entry["event_usd"])]
    assert main(["event", "cost", "--history", "--ledger", str(ledger)]) == 0
    out = capsys.readouterr().out
    assert "winter-sale" in out and f"{entry['event_usd']:.2f}" in out and "price table 2026-11-15" in out


def test_a_corrupt_ledger_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "ledger.json"
    bad.write_text("[1, 2]")
    assert main(["event", "cost", "--history", "--ledger", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"gantry: event ledger {bad}: not a version-1 ledger")


def test_every_price_has_its_source() -> None:
    from pipeline_lib.event.cost import LEFTOVER_PRICES, PRICE_SOURCES, PRICES
    assert set(PRICE_SOURCES) == set(PRICES) | set(LEFTOVER_PRICES)
    assert all(url.startswith("https://aws.amazon.com/") for url in PRICE_SOURCES.values())
