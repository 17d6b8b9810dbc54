"""The energy service provider's business logic on top of the VTN: a dynamic-tariff program with
one PRICE event per delivery day, and a capacity-limit program with IMPORT_/EXPORT_CAPACITY_LIMIT
events.

Prices come from a `PriceSource` (day-ahead spot prices as a `PriceSeries`, e.g. an ENTSO-E CSV
loaded by the command line with `gridedge.home.cem.tariffs.load_prices`; the grid room does not
read the home's files itself), plus an optional markup. A delivery day is the local calendar day
of `publisher.timezone`, so a PRICE event holds 92, 96 or 100 quarter hours (or 23/24/25 hours).

Publishing is idempotent: the event of a day is found by its `eventName` and updated (PUT) if it
exists, so republishing after a restart or a price correction notifies subscribers of an UPDATE
rather than creating duplicates. Everything goes through `VtnService`, so events are stored and
notified exactly as if a BL client had posted them. `run` publishes today's and, after
`publish_at`, tomorrow's day on the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from gridedge.bus.document_security import DocumentSigner
from gridedge.clock import Clock
from gridedge.grid.aggregator.auth import ALL_SCOPES, Principal, Role
from gridedge.grid.aggregator.config import AggregatorConfig, CapacityWindowConfig
from gridedge.grid.aggregator.service import VtnService
from gridedge.model.limits import Direction
from gridedge.model.openadr import (
    CapacityLimit,
    CapacityLimitSchedule,
    Event,
    EventPayloadDescriptor,
    EventPayloadType,
    ObjectType,
    Program,
    TargetType,
    Unit,
    ValuesMap,
    capacity_limit_event,
    price_event,
    signed_content,
)
from gridedge.model.tariff import PriceGapError, PriceSeries, local_day

__all__ = ["PUBLISHER", "PriceSource", "Publisher"]

log = logging.getLogger(__name__)

PUBLISHER: Final = Principal("gridedge-publisher", Role.BL, ALL_SCOPES)
"""The business logic's identity inside the VTN process (owner of what it publishes)."""

PriceSource = Callable[[datetime, datetime], PriceSeries]
"""Spot prices covering [start, end) (UTC-aware); may raise ValueError when it has none."""


class Publisher:
    """Publishes day-ahead prices and capacity limits through a `VtnService`."""

    def __init__(
        self,
        service: VtnService,
        clock: Clock,
        config: AggregatorConfig,
        prices: PriceSource | None = None,
        *,
        signer: DocumentSigner | None = None,
    ) -> None:
        """`signer`: sign every event it publishes (the `gridedgeSignature` extension, checked by
        gridedge's VEN with `bus.document_security.DocumentVerifier`)."""
        self.service = service
        self.clock = clock
        self.config = config
        self.prices = prices
        self.signer = signer
        self.zone = ZoneInfo(config.publisher.timezone)
        self._programs: dict[str, str] = {}

    # ---------------------------------------------------------------- programs

    async def ensure_program(self, program: Program) -> str:
        """The id of the program named like `program`, created if missing."""
        name = program.program_name
        if name in self._programs:
            return self._programs[name]
        found = await self.service.lookup(ObjectType.PROGRAM, name=name)
        pid = (
            found[0]["id"]
            if found
            else (await self.service.create(ObjectType.PROGRAM, program, PUBLISHER))["id"]
        )
        self._programs[name] = str(pid)
        return str(pid)

    def tariff_program(self) -> Program:
        p = self.config.program
        return Program(
            program_name=p.name,
            program_long_name=p.long_name,
            retailer_name=p.retailer_name,
            program_type="PRICING_TARIFF",
            country=p.country,
            principal_subdivision=p.principal_subdivision,
            binding_events=True,
            payload_descriptors=[
                EventPayloadDescriptor(
                    payload_type=EventPayloadType.PRICE.value, units=Unit.KWH.value, currency=p.currency
                )
            ],
        )

    def capacity_program(self) -> Program:
        p = self.config.program
        return Program(
            program_name=p.capacity_program,
            program_long_name="Import and export capacity limits",
            retailer_name=p.retailer_name,
            program_type="CAPACITY_LIMITS",
            country=p.country,
            payload_descriptors=[
                EventPayloadDescriptor(payload_type=k.value, units=Unit.KW.value)
                for k in (EventPayloadType.IMPORT_CAPACITY_LIMIT, EventPayloadType.EXPORT_CAPACITY_LIMIT)
            ],
        )

    # ---------------------------------------------------------------- events

    async def _upsert(self, event: Event) -> dict[str, Any]:
        """Create the event, or replace the one of the same program with the same eventName."""
        same = [
            e
            for e in await self.service.lookup(ObjectType.EVENT, program_id=event.program_id)
            if e.get("eventName") == event.event_name
        ]
        if self.signer is not None:
            # gridedge extension: what the event says, signed (bus.document_security)
            signature = self.signer.sign(signed_content(event), self.clock.now())
            event = event.model_copy(update={"gridedge_signature": signature})
        if same:
            return await self.service.update(ObjectType.EVENT, same[0]["id"], event, PUBLISHER)
        return await self.service.create(ObjectType.EVENT, event, PUBLISHER)

    async def publish_prices(self, series: PriceSeries, day: date) -> dict[str, Any]:
        """The PRICE event of local delivery `day` from `series` (plus the configured markup)."""
        pid = await self.ensure_program(self.tariff_program())
        start, n = local_day(day, self.zone, series.step_s)
        end = start + timedelta(seconds=n * series.step_s)
        markup = self.config.publisher.markup_eur_per_kwh
        if markup:
            series = PriceSeries(
                series.start, series.step_s, series.values + markup, series.source, series.currency
            )
        event = price_event(
            pid, series, start=start, end=end, event_name=f"{self.config.program.name}-{day.isoformat()}"
        )
        return await self._upsert(event)

    async def publish_capacity_limit(
        self,
        schedule: CapacityLimitSchedule,
        name: str,
        *,
        group: str | None = None,
        priority: int | None = None,
    ) -> dict[str, Any]:
        """An IMPORT_ or EXPORT_CAPACITY_LIMIT event named `name` (replaced if it exists)."""
        pid = await self.ensure_program(self.capacity_program())
        targets = [ValuesMap(type=TargetType.GROUP.value, values=[group])] if group else None
        event = capacity_limit_event(pid, schedule, event_name=name, targets=targets, priority=priority)
        return await self._upsert(event)

    def _window(self, w: CapacityWindowConfig, day: date) -> CapacityLimitSchedule:
        a, b = w.times()
        start = datetime.combine(day, a, tzinfo=self.zone)
        end = datetime.combine(day if b > a else day + timedelta(days=1), b, tzinfo=self.zone)
        direction = Direction.CONSUMPTION if w.direction == "import" else Direction.PRODUCTION
        return CapacityLimitSchedule(direction, (CapacityLimit(start, end, w.limit_kw * 1000.0),))

    async def publish_day(self, day: date) -> list[dict[str, Any]]:
        """Prices (when a source is set and has them) and the configured capacity windows of `day`."""
        out = []
        if self.prices is not None:
            start, n = local_day(day, self.zone, 900)
            try:
                series = self.prices(start, start + timedelta(seconds=900 * n))
                out.append(await self.publish_prices(series, day))
            except (PriceGapError, ValueError) as exc:
                log.warning("no prices published for %s: %s", day, exc)
        for k, w in enumerate(self.config.publisher.capacity):
            name = f"{self.config.program.capacity_program}-{day.isoformat()}-{w.direction}-{k}"
            out.append(await self.publish_capacity_limit(self._window(w, day), name, group=w.group))
        return out

    # ---------------------------------------------------------------- schedule

    def _publish_time(self, day: date) -> datetime:
        return datetime.combine(day, time.fromisoformat(self.config.publisher.publish_at), tzinfo=self.zone)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish today (and tomorrow once past `publish_at`), then tomorrow's day at each
        `publish_at`, until `stop` is set."""
        today = self.clock.now().astimezone(self.zone).date()
        await self.publish_day(today)
        next_day = today + timedelta(days=1)
        while not stop.is_set():
            due = self._publish_time(next_day - timedelta(days=1))
            wait = (due - self.clock.now()).total_seconds()
            if wait > 0:
                sleeper = asyncio.ensure_future(self.clock.sleep(wait))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait([sleeper, stopper], return_when=asyncio.FIRST_COMPLETED)
                for f in (sleeper, stopper):
                    f.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await f
                if stop.is_set():
                    return
            await self.publish_day(next_day)
            next_day += timedelta(days=1)
