"""Which events apply to a VEN and how several combine into prices and limits (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridedge.home.ven import applies_to, signals_from_events
from gridedge.model.openadr import Event, Interval, IntervalPeriod, IsoDuration, ValuesMap

T0 = datetime(2025, 10, 1, 22, 0, tzinfo=UTC)


def event(
    eid: str,
    kind: str,
    values: list[float],
    *,
    targets: list[ValuesMap] | None = None,
    priority: int | None = None,
    start: datetime = T0,
) -> Event:
    return Event(
        id=eid,
        program_id="p",
        priority=priority,
        targets=targets,
        interval_period=IntervalPeriod(start=start, duration=IsoDuration.parse("PT1H")),
        intervals=[Interval(id=i, payloads=[ValuesMap(type=kind, values=[v])]) for i, v in enumerate(values)],
    )


def test_targeting() -> None:
    assert applies_to(event("a", "PRICE", [1]), "home-1")
    mine = [ValuesMap(type="VEN_NAME", values=["home-1"])]
    assert applies_to(event("a", "PRICE", [1], targets=mine), "home-1")
    assert not applies_to(event("a", "PRICE", [1], targets=mine), "home-2")
    grp = [ValuesMap(type="GROUP", values=["feeder-7"])]
    assert applies_to(event("a", "PRICE", [1], targets=grp), "home-2", ["feeder-7"])
    assert not applies_to(event("a", "PRICE", [1], targets=grp), "home-2", ["feeder-8"])


def test_priority_wins_where_prices_overlap_and_limits_take_the_lowest() -> None:
    base = event("base", "PRICE", [0.1, 0.1, 0.1])
    urgent = event("urgent", "PRICE", [0.9], priority=0, start=T0 + timedelta(hours=1))
    other = event("other", "PRICE", [5.0], targets=[ValuesMap(type="GROUP", values=["x"])])
    lim1 = event("l1", "IMPORT_CAPACITY_LIMIT", [5, 5])
    lim2 = event("l2", "IMPORT_CAPACITY_LIMIT", [3], start=T0 + timedelta(hours=1))
    bad = event("bad", "EXPORT_CAPACITY_LIMIT", [-1])
    s = signals_from_events([urgent, base, other, lim1, lim2, bad], ven_name="home-1")
    assert s.prices is not None and s.prices.values.tolist() == [0.1, 0.9, 0.1]
    assert s.import_limits is not None
    assert [lim.watts for lim in s.import_limits.limits] == [5000.0, 3000.0]
    assert s.export_limits is None
    assert len(s.problems) == 1 and s.problems[0].startswith("bad:") and "limit >= 0" in s.problems[0]
    assert set(s.event_ids) == {"base", "urgent", "l1", "l2"}


def test_no_events_no_signals() -> None:
    s = signals_from_events([], ven_name="home-1")
    assert s.prices is None and s.import_limits is None and s.event_ids == ()
