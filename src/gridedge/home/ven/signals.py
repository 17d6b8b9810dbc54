"""What the grid asks of this home, from the OpenADR events the VEN holds: the price series and
the import and export capacity-limit schedules, as gridedge models (pure, no I/O).

Which events apply (schema `event.targets`, valuesMap): an event without targets is for every VEN
of the program; a targeted one applies when a VEN_NAME target names this VEN or a GROUP target
names one of its groups. Several events of one kind are combined: prices in order of priority
(a lower `priority` number is a higher priority, and wins where they overlap; without one, the
last modified wins), capacity limits by taking the lowest where they overlap. An event that
cannot be converted is listed in `problems` with the reason and does not hide the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from gridedge.model.openadr import (
    CapacityLimitSchedule,
    Event,
    EventPayloadType,
    OpenAdrConversionError,
    Program,
    TargetType,
    capacity_limits_from_event,
    merge_limit_schedules,
    merge_price_series,
    price_series_from_event,
)
from gridedge.model.tariff import PriceSeries

__all__ = ["GridSignals", "applies_to", "signals_from_events"]

_OLD = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, eq=False)
class GridSignals:
    """Prices and limits for the energy manager; None where no event gives them."""

    prices: PriceSeries | None
    import_limits: CapacityLimitSchedule | None
    export_limits: CapacityLimitSchedule | None
    event_ids: tuple[str, ...]
    """Events that contributed."""
    problems: tuple[str, ...] = ()
    """Events that could not be read, with why."""


def applies_to(event: Event, ven_name: str, groups: Iterable[str] = ()) -> bool:
    """True when `event` is for this VEN (see the module docstring)."""
    if not event.targets:
        return True
    names = {ven_name}
    grp = set(groups)
    for t in event.targets:
        vals = {str(v) for v in t.values}
        if (t.type == TargetType.VEN_NAME.value and vals & names) or (
            t.type == TargetType.GROUP.value and vals & grp
        ):
            return True
    return False


def _has(event: Event, kind: str) -> bool:
    return any(p.type == kind for iv in event.intervals for p in iv.payloads)


def signals_from_events(
    events: Iterable[Event],
    programs: Mapping[str, Program] | None = None,
    *,
    ven_name: str,
    groups: Iterable[str] = (),
    default_currency: str = "EUR",
) -> GridSignals:
    """Combine the applicable events into `GridSignals`."""
    groups = tuple(groups)
    mine = [e for e in events if applies_to(e, ven_name, groups)]
    # lowest priority first so that higher ones overwrite it; then oldest modification first
    mine.sort(
        key=lambda e: (-(e.priority if e.priority is not None else 2**31), e.modification_date_time or _OLD)
    )
    prices: list[PriceSeries] = []
    limits: dict[str, list[CapacityLimitSchedule]] = {
        EventPayloadType.IMPORT_CAPACITY_LIMIT.value: [],
        EventPayloadType.EXPORT_CAPACITY_LIMIT.value: [],
    }
    used: list[str] = []
    problems: list[str] = []
    for e in mine:
        program = (programs or {}).get(e.program_id)
        try:
            if _has(e, EventPayloadType.PRICE.value):
                prices.append(price_series_from_event(e, program=program, default_currency=default_currency))
            for kind, found in limits.items():
                if _has(e, kind):
                    found.append(capacity_limits_from_event(e, kind, program=program))
        except (OpenAdrConversionError, ValueError) as exc:
            problems.append(f"{e.id or e.event_name}: {exc}")
            continue
        used.append(e.id or e.event_name or "")
    try:
        merged = merge_price_series(prices)
    except ValueError as exc:  # mixed currencies: keep the highest-priority one's
        problems.append(str(exc))
        merged = prices[-1]
    return GridSignals(
        prices=merged,
        import_limits=merge_limit_schedules(limits[EventPayloadType.IMPORT_CAPACITY_LIMIT.value]),
        export_limits=merge_limit_schedules(limits[EventPayloadType.EXPORT_CAPACITY_LIMIT.value]),
        event_ids=tuple(used),
        problems=tuple(problems),
    )
