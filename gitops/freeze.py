"""The freeze guard of the write path: no pin change in an environment inside one of its windows.

The windows (:mod:`pipeline_lib.core.freeze`: the catalog's ``freeze:`` entries plus the event
calendar's sale windows, gathered by the command layer) travel with each pin edit as JSON and are
evaluated here, at write time, with the transaction's clock (:func:`gitops.writeback.write_edits`
``now``). Inside a window an edit is refused (:class:`CheckFailed`, exit 1, naming the window),
unless it breaks glass (``--break-glass --reason TEXT``): then it is written in its own commit
with ``Break-Glass: true``, ``Reason:`` and ``Freeze-Window:`` trailers, and the command posts to
Slack. Holds (set/release) change no running pin and are not frozen; a rollback is a pin change
and needs ``--break-glass`` inside a window like any other (README: "Rollback, holds, freeze
windows, records").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline_lib.core.errors import BadInput, CheckFailed, GantryError
from pipeline_lib.core.freeze import Window, active_at, from_json

from .holds import VERB_COMMANDS


def frozen_by(environment: str, windows: list[dict[str, Any]], at: datetime) -> Window | None:
    """The first window of ``windows`` (JSON, :func:`pipeline_lib.core.freeze.to_json`) covering
    ``at``, else None. BadInput on a malformed window (never read as "not frozen")."""
    try:
        specs = from_json(windows)
    except (KeyError, ValueError, TypeError) as exc:
        raise BadInput(f"gitops freeze {environment}", f"unreadable freeze window ({type(exc).__name__}: {exc})") from None
    hits = active_at(specs, at)
    return hits[0] if hits else None


def check_freeze(environment: str, service: str, verb: str, windows: list[dict[str, Any]], at: datetime,
                 break_glass: str | None) -> Window | None:
    """None when ``at`` is outside every window; the window broken when ``break_glass`` (the
    reason) is given; else :class:`CheckFailed` naming the window."""
    window = frozen_by(environment, windows, at)
    if window is None:
        return None
    if break_glass:
        return window
    raise CheckFailed(f"gitops {VERB_COMMANDS.get(verb, verb)} {service} {environment}",
                      f"refused: {environment} is frozen by window {window.describe()}; "
                      "an emergency change needs --break-glass --reason TEXT")


def promotion_guard_for(windows: list[dict[str, Any]], break_glass: str | None = None):
    """A freight promotion's guard (``guards=`` of ``gitops.promotion.promote_freight``) for the
    target's ``windows`` (JSON, gathered by the command: catalog + event calendar): one refusal
    line when ``plan.now`` is inside one and the promotion does not break glass."""
    def guard(plan) -> list[str]:
        try:
            check_freeze(plan.target, ", ".join(plan.freight.services), "promote", windows, plan.now, break_glass)
        except GantryError as exc:
            return [f"not-frozen: {exc.where}: {exc.what}"]
        return []
    return guard


def promotion_guard(plan) -> list[str]:
    """``gitops.promotion.GUARDS`` entry ``gitops.freeze:promotion_guard``: the catalog's windows
    of ``plan.target`` only (the event calendar needs the command layer: use
    :func:`promotion_guard_for`)."""
    from pipeline_lib.core.freeze import to_json
    return promotion_guard_for(to_json(plan.catalog.freeze_for(plan.target).windows))(plan)
