"""The grid side of the demo: the grid operator's Energy Guard and the embedded head-end.

* `DsoService` (grid.dso) guards every home's LPC link (heartbeat every 60 s stating the 120 s
  timeout, LPC-TS-006, LPC-911/912; failsafe values, LPC-TS-011/1; limits with durations) and runs
  the street's feeder congestion check on the readings the homes publish.
* `EmbeddedHes` (grid.hes) takes the gateways' sealed records from `meter/<id>/up`, commits them to
  a SQLite `TelemetryStore` and acknowledges them; its traffic monitor raises security alarms.

`GridSide` also keeps what the grid view shows and the services do not keep in that form: every
limit issued (and by whom), alarms, the feeder's load history, and the head-end's newest committed
sample per meter (`NewestStore` notes it as it commits), so that readers never touch SQLite.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gridedge.app.views import Alarm, IssuedLimit, Level, LoadPoint
from gridedge.bus.envelope import CallbackSubscription, Envelope
from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import Clock
from gridedge.grid.dso.config import DsoConfig, FeederConfig, SiteConfig
from gridedge.grid.dso.congestion import FeederSite, FeederSpec
from gridedge.grid.dso.service import DsoService
from gridedge.grid.dso.topics import feeder_topic
from gridedge.grid.hes.embedded import EmbeddedHes
from gridedge.grid.hes.ingest import Ingestor
from gridedge.grid.hes.keys import MeterKeys
from gridedge.grid.hes.security_monitor import SecurityMonitor, TrafficAlarm
from gridedge.model.limits import Direction, FailsafeValues
from gridedge.model.scenario import Scenario
from gridedge.store.telemetry_base import MeterInfo, TelemetryBatch, WriteResult
from gridedge.store.telemetry_sqlite import SqliteTelemetryStore

__all__ = ["FEEDER_ID", "CommittedSample", "GridSide", "NewestStore", "dso_config"]

log = logging.getLogger(__name__)

FEEDER_ID = "feeder-1"
FAILSAFE_DURATION_S = 2 * 3600.0
"""Failsafe duration minimum sent to the sites (LPC-TS-015: 2-24 h)."""
HISTORY_KEPT = 4 * 60
"""Feeder load points kept: one a minute, the last four hours."""
KEPT = 200


@dataclass(frozen=True, slots=True)
class CommittedSample:
    """The newest grid-point sample (monitoring or NRTD) the head-end committed for a meter."""

    time: datetime
    sequence: int
    net_w: float
    """Import minus export (W)."""


class NewestStore(SqliteTelemetryStore):
    """The head-end's SQLite store, remembering the newest sample it committed per meter.

    `TelemetryStore.latest` answers the same from the tables, but with a window over every
    sample of the day: fine for a status page, too dear to ask every few simulated seconds."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.newest: dict[str, CommittedSample] = {}

    async def write(self, batch: TelemetryBatch) -> WriteResult:
        result = await super().write(batch)
        for row in batch.samples:
            meter, seq, at = row[0], row[1], row[2]
            cur = self.newest.get(meter)
            if cur is None or (at, seq) > (cur.time, cur.sequence):
                self.newest[meter] = CommittedSample(at, seq, row[4] - row[5])
        return result


def dso_config(scenarios: Sequence[Scenario], *, capacity_w: float, failsafe_w: float) -> DsoConfig:
    """Every home on one feeder; its cars and heat pumps count as §14a controllable devices, all
    behind an energy manager (BK6-22-300 Anlage 1 Ziff. 4.4.b)."""
    sites = []
    for sc in scenarios:
        devices = len(sc.ev) + len(sc.heat_pump)
        feeder_site = FeederSite(sc.cem.site_id, devices, energy_manager=True, household_kw=1.0)
        sites.append(SiteConfig(feeder_site, FailsafeValues(failsafe_w, FAILSAFE_DURATION_S)))
    spec = FeederSpec(FEEDER_ID, capacity_w, tuple(s.site for s in sites), check_period_s=10.0)
    return DsoConfig(tuple(sites), (FeederConfig(spec),), source="dso")


class GridSide:
    """DSO + head-end + what the grid view needs."""

    def __init__(
        self,
        scenarios: Sequence[Scenario],
        *,
        clock: Clock,
        bus: InProcessBus,
        data_dir: Path,
        capacity_w: float,
        failsafe_w: float,
        zone: ZoneInfo,
    ) -> None:
        self.clock = clock
        self.zone = zone
        """The street's zone: every time in the grid view is its wall time."""
        self.bus = bus
        self.scenarios = tuple(scenarios)
        self.site_ids = tuple(sc.cem.site_id for sc in scenarios)
        self.meter_of = {sc.cem.site_id: sc.meter.equipment_id for sc in scenarios}
        self._site_of_meter = {m: s for s, m in self.meter_of.items()}
        self.capacity_w = capacity_w
        self.dso = DsoService(bus, clock, dso_config(scenarios, capacity_w=capacity_w, failsafe_w=failsafe_w))
        self.keys = MeterKeys()
        self.store = NewestStore(data_dir / "hes.db")
        self.monitor = SecurityMonitor()
        self.hes = EmbeddedHes(
            bus,
            self.store,
            Ingestor(self.keys, self.monitor),
            clock,
            flush_every_s=5.0,
            on_alarm=self._on_alarm,
        )
        self.limits: deque[IssuedLimit] = deque(maxlen=KEPT)
        self.alarms: deque[Alarm] = deque(maxlen=KEPT)
        self.history: deque[LoadPoint] = deque(maxlen=HISTORY_KEPT)
        self.heartbeat_enabled = True
        self._congestion: dict[str, float] = {}
        self._subs: list[CallbackSubscription] = []

    async def init(self) -> None:
        await self.store.init()
        await self.store.set_meters([MeterInfo(m, FEEDER_ID) for m in self.meter_of.values()])
        self.hes.start()
        self.dso.start()
        self._subs.append(self.bus.subscribe_callback(feeder_topic(FEEDER_ID, "status"), self._on_feeder))

    async def close(self) -> None:
        for s in self._subs:
            s.close()
        self._subs.clear()
        await self.store.close()

    # ---- the operator's commands (recorded with who gave them)

    def _record(self, site_id: str, limit_w: float | None, duration_s: float | None, by: str) -> None:
        self.limits.appendleft(IssuedLimit(self._now(), site_id, Direction.CONSUMPTION.value, limit_w,
                                           duration_s, by))  # fmt: skip

    def issue_limit(self, site_id: str, import_w: float, duration_s: float | None, by: str) -> None:
        if not (math.isfinite(import_w) and import_w >= 0):
            raise ValueError(
                f"import_w: expected watts >= 0 (LPC: limits are never negative), found {import_w!r}"
            )
        if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
            raise ValueError(f"duration_s: expected seconds > 0 or None, found {duration_s!r}")
        self.dso.issue_limit(site_id, Direction.CONSUMPTION, import_w, duration_s)
        self._record(site_id, import_w, duration_s, by)

    def clear_limit(self, site_id: str, by: str) -> None:
        self.dso.clear_limit(site_id, Direction.CONSUMPTION)
        self._record(site_id, None, None, by)

    def stop_heartbeat(self, site_ids: Sequence[str]) -> None:
        for sid in site_ids:
            self.dso.stop_heartbeat(sid)
        self._heartbeats_changed()

    def resume_heartbeat(self, site_ids: Sequence[str]) -> None:
        for sid in site_ids:
            self.dso.resume_heartbeat(sid)
        self._heartbeats_changed()

    def _heartbeats_changed(self) -> None:
        """`heartbeat_enabled`: True only while every site gets the operator's heartbeats."""
        self.heartbeat_enabled = all(self.dso.status(s).heartbeat_enabled for s in self.site_ids)

    # ---- what happens

    def _on_alarm(self, alarm: TrafficAlarm) -> None:
        site = self._site_of_meter.get(alarm.meter_id, alarm.meter_id)
        self.alarms.appendleft(
            Alarm(self._now(), site, "security", Level.ALARM, f"{alarm.kind.value}: {alarm.detail}")
        )

    def wan_alarm(self, site_id: str, level: Level, text: str) -> None:
        self.alarms.appendleft(Alarm(self._now(), site_id, "wan", level, text))

    def _on_feeder(self, env: Envelope[object]) -> None:
        """Congestion limits the feeder check set or lifted, recorded as issued by it."""
        p = env.payload
        if not isinstance(p, dict):
            return
        limits = p.get("limits_w") or {}
        for sid, watts in dict(limits).items():
            if self._congestion.get(sid) != watts:
                self._congestion[sid] = float(watts)
                self._record(str(sid), float(watts), None, "feeder congestion control")
        for sid in p.get("lifted") or ():
            if self._congestion.pop(str(sid), None) is not None:
                self._record(str(sid), None, None, "feeder congestion control")

    def _now(self) -> datetime:
        return self.clock.now().astimezone(self.zone)

    def feeder_load_w(self) -> float:
        return math.fsum(w for s in self.site_ids if (w := self.dso.load(s)) is not None)

    def newest(self, site_id: str) -> CommittedSample | None:
        """The head-end's newest committed sample of the site's meter."""
        return self.store.newest.get(self.meter_of[site_id])

    def note_load(self, now: datetime) -> None:
        """Note the feeder's load once a minute (its history in the grid view)."""
        if not self.history or (now - self.history[-1].at).total_seconds() >= 60:
            self.history.append(LoadPoint(now, self.feeder_load_w()))
