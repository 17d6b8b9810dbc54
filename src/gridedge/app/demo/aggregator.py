"""The energy service provider of the demo: day-ahead prices with an evening spike, through the VTN.

The prices take the real path of the grid room as far as it runs inside one process: the
aggregator's `Publisher` writes the day's OpenADR 3 PRICE event through `VtnService` (stored in
SQLite, exactly as a BL client's POST would be), and each home's side reads the event back and
turns it into `GridSignals` with the VEN's own conversion (`home.ven.signals.signals_from_events`),
which feed the energy managers' `OpenAdrSignals`. Only the HTTP hop between VTN and VEN is left
out (one process, no sockets: the embedded default).

The spot curve is a plain spring weekday in Belgium: cheap at night, a morning bump, a midday dip
from the solar surplus (slightly negative at 13:00), an evening peak. The storyline's 17:00 step
publishes the corrected day with a spike from 17:30 to 20:30 (an UPDATE of the same event).
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from gridedge.clock import Clock
from gridedge.grid.aggregator.config import AggregatorConfig, PublisherConfig
from gridedge.grid.aggregator.publisher import Publisher
from gridedge.grid.aggregator.service import VtnService
from gridedge.grid.aggregator.store import AsyncVtnStore, VtnStore
from gridedge.home.ven.signals import GridSignals, signals_from_events
from gridedge.model.openadr import Event
from gridedge.model.tariff import PriceSeries

__all__ = ["SPIKE_END", "SPIKE_START", "DemoAggregator", "spot_prices"]

SPIKE_START = time(17, 30)
SPIKE_END = time(20, 30)
SPIKE_EUR_PER_KWH = 0.45


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2))


def spot_prices(day: date, zone: ZoneInfo, *, spike: bool) -> PriceSeries:
    """Quarter-hour spot prices (EUR/kWh) of local `day`, with or without the evening spike."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    n = round((end - start).total_seconds() / 900)
    values = np.empty(n)
    for k in range(n):
        local = (start + timedelta(seconds=900 * k)).astimezone(zone)
        h = local.hour + local.minute / 60
        p = 0.085 + 0.045 * _bump(h, 8.0, 1.5) - 0.10 * _bump(h, 13.0, 2.5) + 0.07 * _bump(h, 19.0, 1.8)
        if spike and SPIKE_START <= local.time() < SPIKE_END:
            p += SPIKE_EUR_PER_KWH
        values[k] = round(p, 4)
    return PriceSeries(start, 900, values, source="demo aggregator" + (" (spike)" if spike else ""))


class DemoAggregator:
    """VTN + publisher on SQLite; `publish(day, spike)` returns the signals every VEN now sees."""

    VEN_NAME = "demo-street"

    def __init__(self, clock: Clock, db_path: Path, zone: ZoneInfo) -> None:
        self.zone = zone
        self._store = VtnStore(db_path)
        self._async_store = AsyncVtnStore(self._store)
        self.service = VtnService(self._async_store, clock)
        config = AggregatorConfig(publisher=PublisherConfig(timezone=zone.key))
        self.publisher = Publisher(self.service, clock, config)
        self.signals: GridSignals | None = None
        self._events: dict[date, Event] = {}
        """The PRICE event of each delivery day, as a VEN reads it back from the VTN."""
        self.spike = False
        self.published = 0

    async def publish(self, day: date, *, spike: bool) -> GridSignals:
        """Publish (or update) the PRICE event of `day`; the signals a VEN now makes of every
        day's event (`signals_from_events` merges them into one series)."""
        body = await self.publisher.publish_prices(spot_prices(day, self.zone, spike=spike), day)
        self._events[day] = Event.model_validate(body)
        for old in [d for d in self._events if d < day - timedelta(days=1)]:
            del self._events[old]
        signals = signals_from_events(self._events.values(), ven_name=self.VEN_NAME)
        if signals.prices is None:
            raise RuntimeError(f"the VTN's price event could not be read back: {signals.problems}")
        self.signals = signals
        self.spike = spike
        self.published += 1
        return signals

    def close(self) -> None:
        self._async_store.shutdown()
        self._store.close()
