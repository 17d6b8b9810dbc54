"""What the energy manager has measured, turned into the planner's `LiveState`.

* `DeviceBinding` ties the devices that connected (registry ids: an OCPP charge point id, an S2
  resource UUID, a SunSpec name) to the scenario's device names the planner uses: a registry id
  equal to a scenario name binds to it; otherwise a device binds to the only unbound scenario
  device of its kind (one car, one heat pump, one battery: the usual household).
* `SiteTracker` keeps quarter-hour means of the grid power, the base load (grid minus every
  known device) and the PV production, five weeks of them, for the base-load forecast (same
  weekday and time, `forecast.forecast_base_load`) and the PV correction; and the month's
  highest quarter-hour import (the meter's own 1-0:1.6.0 when it sends one, e-MUCS H §7.3).

Pure: it is fed timestamps and values, it reads no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from gridedge.home.cem.forecast import PowerHistory
from gridedge.home.cem.peak import PeakWatch
from gridedge.home.cem.planning import STEP_S, LiveState, ScheduledLimit
from gridedge.model.devices import DeviceInfo, DeviceKind, DeviceState
from gridedge.model.reading import MeterReading
from gridedge.model.scenario import Scenario

__all__ = ["DeviceBinding", "SiteTracker"]

HISTORY_STEPS = 5 * 7 * 96
"""Five weeks of quarter hours: four for the same-weekday mean plus the current one."""

_KINDS = {
    DeviceKind.BATTERY: "battery",
    DeviceKind.EV_CHARGER: "ev",
    DeviceKind.HEAT_PUMP: "heat_pump",
    DeviceKind.PV_INVERTER: "pv",
    DeviceKind.APPLIANCE: "appliances",
}


class DeviceBinding:
    """Registry device id <-> scenario device name."""

    def __init__(self, scenario: Scenario) -> None:
        self._names: dict[DeviceKind, list[str]] = {
            kind: [d.name for d in getattr(scenario, attr)] for kind, attr in _KINDS.items()
        }
        self._all = {n for names in self._names.values() for n in names}
        self.by_id: dict[str, str] = {}
        """Registry id -> scenario name."""

    def bind(self, info: DeviceInfo) -> str | None:
        """The scenario name of a device that registered (None: the scenario does not know it)."""
        if info.device_id in self.by_id:
            return self.by_id[info.device_id]
        taken = set(self.by_id.values())
        if info.device_id in self._all and info.device_id not in taken:
            name: str | None = info.device_id
        else:
            free = [n for n in self._names.get(info.kind, []) if n not in taken]
            name = free[0] if len(free) == 1 else None
        if name is not None:
            self.by_id[info.device_id] = name
        return name

    def unbind(self, device_id: str) -> None:
        self.by_id.pop(device_id, None)

    def registry_id(self, name: str) -> str | None:
        for device_id, n in self.by_id.items():
            if n == name:
                return device_id
        return None


@dataclass(slots=True)
class _Quarter:
    start: float
    n: int = 0
    grid: float = 0.0
    base: float = 0.0
    pv: float = 0.0
    import_wh: float = 0.0


class SiteTracker:
    """Quarter-hour history of the site and its month's peak."""

    def __init__(self, timezone: str = "Europe/Brussels", *, month_peak_kw: float | None = None) -> None:
        self.zone = ZoneInfo(timezone)
        self._quarter: _Quarter | None = None
        self._t0: float | None = None
        self._grid: list[float] = []
        self._base: list[float] = []
        self._pv: list[float] = []
        self.month_peak_kw = month_peak_kw
        self._month: tuple[int, int] | None = None
        self._last_ts: float | None = None
        self._meter_peak_kw: float | None = None

    def observe(self, at: datetime, reading: MeterReading, devices: Iterable[DeviceState | None]) -> None:
        """One meter reading at wall time `at` (UTC-aware) with the devices' latest states."""
        net = reading.net_power_w
        if net is None:
            return
        powers = [d for d in devices if d is not None and d.online]
        known = sum(d.power_w for d in powers)
        pv = -sum(d.power_w for d in powers if d.power_w < 0 and d.device_id in self._pv_ids)
        ts = at.timestamp()
        qs = ts - ts % STEP_S
        q = self._quarter
        if q is None or q.start != qs:
            if q is not None:
                self._close(q)
            q = self._quarter = _Quarter(qs)
        q.n += 1
        q.grid += net
        q.base += net - known
        q.pv += pv
        # import energy of the quarter: each reading's power held until the next (at most 5 s)
        last = self._last_ts
        dt = 1.0 if last is None else min(max(ts - last, 0.0), 5.0)
        q.import_wh += max(net, 0.0) * min(dt, ts - qs if ts > qs else dt) / 3600.0
        self._last_ts = ts
        if reading.month_peak is not None:
            self._peak(at, reading.month_peak.power_w / 1000.0)

    _pv_ids: frozenset[str] = frozenset()

    def set_pv_devices(self, device_ids: Iterable[str]) -> None:
        """Registry ids of the PV inverters, whose production is tracked for the PV correction."""
        self._pv_ids = frozenset(device_ids)

    def _peak(self, at: datetime, kw: float) -> None:
        """Raise the month's peak; a new local month starts from nothing (the capacity tariff is
        billed per calendar month)."""
        local = at.astimezone(self.zone)
        month = (local.year, local.month)
        if self._month != month:
            if self._month is not None:
                self.month_peak_kw = None
            self._month = month
        self.month_peak_kw = max(self.month_peak_kw or 0.0, kw)

    def _close(self, q: _Quarter) -> None:
        if self._t0 is None:
            self._t0 = q.start
        k = round((q.start - self._t0) / STEP_S)
        if k < len(self._grid):
            return  # the clock went back: keep what is recorded
        while len(self._grid) < k:  # quarters without readings
            for a in (self._grid, self._base, self._pv):
                a.append(math.nan)
        grid = q.grid / q.n
        self._grid.append(grid)
        self._base.append(q.base / q.n)
        self._pv.append(q.pv / q.n)
        self._peak(datetime.fromtimestamp(q.start, UTC), max(grid, 0.0) / 1000.0)
        extra = len(self._grid) - HISTORY_STEPS
        if extra > 0:
            del self._grid[:extra], self._base[:extra], self._pv[:extra]
            self._t0 += extra * STEP_S

    def watch(self, now: datetime, cap_w: float) -> PeakWatch:
        """The quarter hour holding `now` as the peak controller sees it."""
        ts = now.timestamp()
        qs = ts - ts % STEP_S
        q = self._quarter
        imported = q.import_wh if q is not None and q.start == qs else 0.0
        return PeakWatch(cap_w=max(cap_w, 0.0), elapsed_s=ts - qs, imported_wh=imported)

    @property
    def quarters(self) -> int:
        """Complete quarter hours recorded."""
        return len(self._grid)

    def load_history(self) -> PowerHistory | None:
        if self._t0 is None or not self._base:
            return None
        return PowerHistory(datetime.fromtimestamp(self._t0, UTC), STEP_S, np.array(self._base))

    def pv_measured(self, quarters: int = 8) -> tuple[float, ...]:
        """PV production (W >= 0) of the last complete quarters, oldest first."""
        return tuple(self._pv[-quarters:])

    def live_state(
        self,
        binding: DeviceBinding,
        states: dict[str, DeviceState | None],
        infos: dict[str, DeviceInfo],
        *,
        import_limits: tuple[ScheduledLimit, ...] = (),
        export_limits: tuple[ScheduledLimit, ...] = (),
        appliances_done: frozenset[str] = frozenset(),
    ) -> LiveState:
        """The planner's view of now, in scenario names."""
        battery: dict[str, float] = {}
        ev_soc: dict[str, float] = {}
        plugged: dict[str, bool] = {}
        indoor: dict[str, float] = {}
        for device_id, st in states.items():
            name = binding.by_id.get(device_id)
            info = infos.get(device_id)
            if name is None or info is None or st is None or not st.online:
                continue
            if info.kind is DeviceKind.BATTERY and st.soc is not None:
                battery[name] = st.soc
            elif info.kind is DeviceKind.EV_CHARGER:
                if st.soc is not None:
                    ev_soc[name] = st.soc
                if st.connected is not None:
                    plugged[name] = st.connected
            elif info.kind is DeviceKind.HEAT_PUMP and st.temperature_c is not None:
                indoor[name] = st.temperature_c
        pv = self.pv_measured()
        return LiveState(
            battery_soc=battery,
            ev_soc=ev_soc,
            ev_plugged=plugged,
            indoor_c=indoor,
            month_peak_kw=self.month_peak_kw,
            load_history=self.load_history(),
            pv_measured_w=pv if self._pv_ids else (),
            import_limits=import_limits,
            export_limits=export_limits,
            appliances_done=appliances_done,
        )
