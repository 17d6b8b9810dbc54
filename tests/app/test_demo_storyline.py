"""The demo's storyline is a pure timeline: steps fall due by local time, once, unless switched off."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gridedge.app.demo.config import DEFAULT_START
from gridedge.app.demo.storyline import SCRIPT, Storyline

Z = ZoneInfo("Europe/Brussels")


def at(h: int, m: int, s: int = 0) -> datetime:
    return datetime(2026, 4, 15, h, m, s, tzinfo=Z)


def test_steps_fall_due_by_their_local_time_once() -> None:
    story = Storyline(start=at(6, 30))
    assert [s.key for s in story.due(at(6, 59, 59))] == []
    assert [s.key for s in story.due(at(7, 0))] == ["morning_peak"]
    story.mark_done("morning_peak")
    assert story.due(at(7, 0, 1)) == []
    assert [s.key for s in story.due(at(18, 0))] == ["pv_noon", "price_spike", "dso_limit"]
    # a UTC time is read in its own zone's terms only through the caller: the world converts
    assert [s.key for s in story.due(at(23, 0))][-1] == "limit_lifted"


def test_keys_are_stable_and_steps_report_done() -> None:
    story = Storyline(start=at(6, 30))
    keys = [s.key for s in story.steps()]
    assert keys == ["morning_peak", "pv_noon", "price_spike", "dso_limit", "heartbeat_loss", "restore",
                    "limit_lifted"]  # fmt: skip
    assert {s.at for s in story.steps()} >= {"07:00", "17:00", "18:00", "18:30", "19:00"}
    story.mark_done("restore")  # a button may play a step before its time
    assert [s.key for s in story.steps() if s.done] == ["restore"]
    assert "restore" not in [s.key for s in story.due(at(23, 0))]


def test_unknown_steps_are_key_errors_and_auto_off_plays_nothing() -> None:
    story = Storyline(start=at(6, 30), auto=False)
    with pytest.raises(KeyError, match="no storyline step 'nope'"):
        story.step("nope")
    with pytest.raises(KeyError):
        story.mark_done("nope")
    assert story.due(at(23, 59)) == []


def test_steps_before_the_start_are_not_replayed() -> None:
    story = Storyline(start=at(17, 59))
    assert [s.key for s in story.due(at(18, 0))] == ["dso_limit"]
    assert len(SCRIPT) == 7


def test_the_grid_operators_steps_are_the_grid_operators_to_play() -> None:
    """A limit or the heartbeat is the grid operator's act: the steps say so, so that the web room
    refuses them to a home owner (the dashboard disables their buttons)."""
    steps = {s.key: s for s in Storyline(start=DEFAULT_START).steps()}
    for key in ("dso_limit", "heartbeat_loss", "restore", "limit_lifted"):
        assert steps[key].roles == ("grid-operator",), key
    assert steps["morning_peak"].roles == () and steps["pv_noon"].roles == ()
    assert "home-owner" not in steps["price_spike"].roles
