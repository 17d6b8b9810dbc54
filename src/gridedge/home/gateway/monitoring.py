"""From P1 readings to upstream records: grid-point samples, NRTD, load curves, events. Pure logic.

What it produces, and the source of each number (ESMIG use-case annex, seeds/002; DESIGN.md):

* MONITORING `GridPointSample`s every `monitoring_every_s` (10 s: "instantaneous values pushed
  by the meter every 10 s"): the first reading at or after each 10 s boundary of UTC time.
* NRTD samples every `nrtd_every_s` (default and maximum 300 s: "at least every 5 minutes").
* `LoadCurve`s per quarter hour (UTC-aligned, which is the local quarter hour in every zone
  whose offset is a multiple of 15 min) of `curve_interval_s` energy values (10 s: "10 second
  energy values over 15 minutes ... every 15 minutes"), i.e. 90 values. Each value is the delta
  of the import (export) register between two boundaries, so they add up exactly to the
  register's advance over the quarter. The register at boundary b is the last reading at or
  before b, if it is less than one interval old; otherwise the values on both sides of b are
  None ("missing readings -> None, never 0"). A quarter is sent once a reading after its end
  arrives, or once the readings have stopped past its end; quarters without any reading are not
  sent (the power-failure event says why).
* `MeterEvent`s:
  - NEAR_LIMIT when the load reaches `near_limit_fraction` (90 %) of the power limit, re-armed
    only below `near_limit_fraction - near_limit_hysteresis`; LIMIT_EXCEEDED when the limit is
    exceeded, in either direction, for `exceed_for_s` ("if a pre defined power (current) limit is
    exceeded (both directions) for a pre defined time"). The limit is `power_limit_w` or else
    the meter's own limiter threshold (0-0:17.0.0; kW, kVA or A: a current limit is compared
    with the largest phase current).
  - BREAKER_OPEN / BREAKER_CLOSED when the meter's disconnect-control state changes (0-0:96.3.10).
  - POWER_FAILURE when telegrams stop for `silence_s` (the meter and its P1 port lose power
    together), POWER_RESTORED with the outage's duration when they resume; a rise of the meter's
    own failure counters (0-0:96.7.21 / 96.7.9) without a gap is reported as a POWER_FAILURE too.
  - VOLTAGE_SAG / VOLTAGE_SWELL per phase when the 1 s voltage leaves the EN 50160 band (a dip
    starts below 90 % of the nominal 230 V, a swell above 110 %); the event is sent when it ends,
    with its residual (or peak) voltage in % and its duration; it ends once the voltage is back
    inside the band by `voltage_hysteresis` (IEC 61000-4-30 §5.4.2: typically 2 %). The meter's
    own sag/swell counters (1-0:32.32.0 / 32.36.0, which catch events too short for a 1 s
    telegram) rising is reported as an event with the count in `detail`.

Time comes only from the readings' timestamps, and (to notice that readings stopped) from the
`now` passed to `tick`, on the same scale as the `arrival` given to `on_reading`. Records leave
with `sequence=DRAFT_SEQUENCE`: the outbox assigns the real one when it stores them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gridedge.model.reading import BreakerState, MeterReading
from gridedge.model.telemetry import (
    EventCode,
    GridPointSample,
    LoadCurve,
    MeterEvent,
    SampleKind,
    TelemetryRecord,
)

__all__ = ["DRAFT_SEQUENCE", "Monitor", "MonitorConfig", "MonitorStats"]

DRAFT_SEQUENCE = 1
"""The sequence of a record the outbox has not numbered yet."""


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    meter_id: str
    monitoring_every_s: int = 10
    nrtd_every_s: int = 300
    curve_interval_s: int = 10
    curve_period_s: int = 900
    power_limit_w: float | None = None
    near_limit_fraction: float = 0.9
    near_limit_hysteresis: float = 0.05
    exceed_for_s: float = 10.0
    nominal_v: float = 230.0
    sag_fraction: float = 0.90
    swell_fraction: float = 1.10
    voltage_hysteresis: float = 0.02
    silence_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.meter_id:
            raise ValueError("meter_id must not be empty")
        if not 1 <= self.monitoring_every_s <= 3600:
            raise ValueError(f"monitoring_every_s must be 1..3600, got {self.monitoring_every_s}")
        if not 1 <= self.nrtd_every_s <= 300:
            raise ValueError(
                f"nrtd_every_s must be 1..300 (NRTD: at least every 5 min), got {self.nrtd_every_s}"
            )
        if self.curve_interval_s < 1 or self.curve_period_s % self.curve_interval_s:
            raise ValueError(
                f"curve_interval_s ({self.curve_interval_s}) must divide"
                f" curve_period_s ({self.curve_period_s})"
            )
        if self.power_limit_w is not None and self.power_limit_w <= 0:
            raise ValueError(f"power_limit_w must be > 0, got {self.power_limit_w}")
        if (
            not 0 < self.near_limit_fraction <= 1
            or not 0 <= self.near_limit_hysteresis < self.near_limit_fraction
        ):
            raise ValueError("need 0 < near_limit_fraction <= 1 and 0 <= hysteresis < near_limit_fraction")
        if not self.sag_fraction < 1 < self.swell_fraction:
            raise ValueError("need sag_fraction < 1 < swell_fraction")
        if self.silence_s <= 0:
            raise ValueError("silence_s must be > 0")


@dataclass(slots=True)
class MonitorStats:
    readings: int = 0
    skipped: int = 0
    """Readings without timestamp or registers, or out of order."""
    samples: int = 0
    nrtd: int = 0
    curves: int = 0
    events: int = 0


@dataclass(slots=True)
class _Last:
    t: float
    arrival: float
    import_wh: int
    export_wh: int


@dataclass(slots=True)
class _Excursion:
    start: float
    extreme_pct: float
    last: float


@dataclass(slots=True)
class _PhaseState:
    sag: _Excursion | None = None
    swell: _Excursion | None = None
    sags: int | None = None
    swells: int | None = None


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _wh(kwh: float) -> int:
    return round(kwh * 1000)


@dataclass(slots=True)
class Monitor:
    """Feed it every reading (`on_reading`) and a tick now and then (`tick`); it returns records."""

    config: MonitorConfig
    stats: MonitorStats = field(default_factory=MonitorStats)
    _last: _Last | None = None
    _next_sample: float = -math.inf
    _next_nrtd: float = -math.inf
    _boundaries: dict[int, tuple[int, int]] = field(default_factory=dict)
    _quarters: set[int] = field(default_factory=set)
    _near: bool = False
    _over_since: float | None = None
    _over_reported: bool = False
    _breaker: BreakerState | None = None
    _failures: tuple[int | None, int | None] | None = None
    _silent: bool = False
    _phases: dict[int, _PhaseState] = field(default_factory=dict)

    # ---- input

    def on_reading(self, reading: MeterReading, arrival: float | None = None) -> list[TelemetryRecord]:
        """The records this reading completes. `arrival` is when it arrived on the scale of `tick`'s
        `now` (default: its own timestamp in epoch seconds)."""
        self.stats.readings += 1
        if reading.timestamp is None:
            self.stats.skipped += 1
            return []
        t = reading.timestamp.timestamp()
        arrival = t if arrival is None else arrival
        imp, exp = reading.energy_import_total_kwh, reading.energy_export_total_kwh
        last = self._last
        if last is not None and t <= last.t:
            self.stats.skipped += 1  # a replay or the meter's clock stepping back
            return []
        out: list[TelemetryRecord] = []
        if self._silent and last is not None:
            out.append(
                self._event(t, EventCode.POWER_RESTORED, duration_s=t - last.t, detail="telegrams resumed")
            )
            self._silent = False
        out += self._failure_counters(reading, t)
        out += self._breaker_change(reading, t)
        out += self._limit(reading, t)
        out += self._voltage(reading, t)
        if imp is None:
            self.stats.skipped += 1
            if last is not None:
                last.arrival = arrival
            return self._count(out)
        cur = _Last(t, arrival, _wh(imp), _wh(exp or 0.0))
        if last is not None:
            self._boundary_after(last, t)
        self._last = cur
        out += self._close_quarters(t, strict=True)
        self._quarters.add(self._quarter(t))
        out += self._samples(reading, t, cur)
        return self._count(out)

    def tick(self, now: float) -> list[TelemetryRecord]:
        """Records due because time passed without readings: a power failure, a quarter's curve."""
        last = self._last
        if last is None:
            return []
        out: list[TelemetryRecord] = []
        quiet = now - last.arrival
        if quiet >= self.config.silence_s and not self._silent:
            self._silent = True
            out += self._end_excursions(last.t)
            out.append(self._event(last.t, EventCode.POWER_FAILURE, detail=f"no telegram for {quiet:.0f} s"))
        meter_now = last.t + quiet  # the meter's time, estimated from our own clock
        if quiet > self.config.curve_interval_s:
            self._boundary_after(last, math.inf)
            out += self._close_quarters(meter_now, strict=False)
        return self._count(out)

    def _count(self, out: list[TelemetryRecord]) -> list[TelemetryRecord]:
        for r in out:
            if isinstance(r, LoadCurve):
                self.stats.curves += 1
            elif isinstance(r, MeterEvent):
                self.stats.events += 1
            elif isinstance(r, GridPointSample):
                if r.kind is SampleKind.NRTD:
                    self.stats.nrtd += 1
                else:
                    self.stats.samples += 1
        return out

    # ---- samples

    def _samples(self, r: MeterReading, t: float, cur: _Last) -> list[TelemetryRecord]:
        out: list[TelemetryRecord] = []
        if r.power_import_w is None and r.power_export_w is None:
            return out  # nothing instantaneous to say (the load curve still gets the registers)
        for kind, every in (
            (SampleKind.MONITORING, self.config.monitoring_every_s),
            (SampleKind.NRTD, self.config.nrtd_every_s),
        ):
            due = self._next_sample if kind is SampleKind.MONITORING else self._next_nrtd
            if due == -math.inf:  # the first reading: start at the next boundary, not in between
                due = math.ceil(t / every) * every
                if kind is SampleKind.MONITORING:
                    self._next_sample = due
                else:
                    self._next_nrtd = due
            if t < due:
                continue
            nxt = (math.floor(t / every) + 1) * every
            if kind is SampleKind.MONITORING:
                self._next_sample = nxt
            else:
                self._next_nrtd = nxt
            phases = sorted(r.phases, key=lambda p: p.phase)
            out.append(
                GridPointSample(
                    self.config.meter_id,
                    DRAFT_SEQUENCE,
                    _dt(t),
                    kind,
                    r.power_import_w or 0.0,
                    r.power_export_w or 0.0,
                    cur.import_wh,
                    cur.export_wh,
                    tuple(p.voltage_v for p in phases),
                    tuple(p.current_a for p in phases),
                    r.frequency_hz,
                )
            )
        return out

    # ---- load curves

    def _quarter(self, t: float) -> int:
        period = self.config.curve_period_s
        return math.floor(t / period) * period

    def _boundary_after(self, last: _Last, t: float) -> None:
        """The register at the first boundary at or after `last` is `last`'s, once a later reading
        (at `t`) shows that no reading came closer to it. Later boundaries are more than one
        interval away from `last`: they stay missing."""
        step = self.config.curve_interval_s
        b = math.ceil(last.t / step) * step
        if b < t:
            self._boundaries[b] = (last.import_wh, last.export_wh)

    def _close_quarters(self, t: float, *, strict: bool) -> list[TelemetryRecord]:
        """Curves of the quarters whose end lies before `t` (readings) or at/before it (ticks)."""
        period, step = self.config.curve_period_s, self.config.curve_interval_s
        out: list[TelemetryRecord] = []
        for q in sorted(self._quarters):
            end = q + period
            if end > t or (strict and end == t):
                continue
            self._quarters.discard(q)
            b = self._boundaries
            imp: list[float | None] = []
            exp: list[float | None] = []
            for i in range(period // step):
                b0, b1 = b.get(q + i * step), b.get(q + (i + 1) * step)
                if b0 is None or b1 is None:
                    imp.append(None)
                    exp.append(None)
                else:
                    imp.append(b1[0] - b0[0])
                    exp.append(b1[1] - b0[1])
            out.append(LoadCurve(self.config.meter_id, DRAFT_SEQUENCE, _dt(q), step, tuple(imp), tuple(exp)))
        if out:
            keep_from = min(self._quarters, default=self._quarter(t))
            self._boundaries = {k: v for k, v in self._boundaries.items() if k >= keep_from}
        return out

    # ---- events

    def _event(
        self, t: float, code: EventCode, *, phase: int | None = None, value: float | None = None,
        duration_s: float | None = None, detail: str = "",
    ) -> MeterEvent:  # fmt: skip
        return MeterEvent(
            self.config.meter_id, DRAFT_SEQUENCE, _dt(t), code, phase, value, duration_s, detail
        )

    def _failure_counters(self, r: MeterReading, t: float) -> list[TelemetryRecord]:
        now = (r.power_failures, r.long_power_failures)
        before, self._failures = self._failures, now
        if before is None:
            return []
        rises = [
            f"+{n - b} {what}"
            for what, b, n in (("short", before[0], now[0]), ("long", before[1], now[1]))
            if b is not None and n is not None and n > b
        ]
        if not rises:
            return []
        log = r.power_failure_log or ()
        duration = float(log[-1].duration_s) if log and now[1] != before[1] else None
        return [
            self._event(
                t,
                EventCode.POWER_FAILURE,
                duration_s=duration,
                detail=f"meter counted {' and '.join(rises)} power failure(s)",
            )
        ]

    def _breaker_change(self, r: MeterReading, t: float) -> list[TelemetryRecord]:
        state = r.breaker_state
        if state is None:
            return []
        before, self._breaker = self._breaker, state
        if before is None or before == state:
            return []
        if state is BreakerState.CONNECTED:
            return [self._event(t, EventCode.BREAKER_CLOSED, detail=f"was {before.name.lower()}")]
        if before is BreakerState.CONNECTED:
            return [self._event(t, EventCode.BREAKER_OPEN, detail=state.name.lower())]
        return []  # disconnected <-> ready for reconnection: open either way

    def _limit(self, r: MeterReading, t: float) -> list[TelemetryRecord]:
        cfg = self.config
        power = max(r.power_import_w or 0.0, r.power_export_w or 0.0)
        load: float | None = None
        what = ""
        if cfg.power_limit_w is not None:
            load, what = power / cfg.power_limit_w, f"{cfg.power_limit_w:.0f} W"
        elif r.limiter_threshold is not None and r.limiter_threshold.value > 0:
            m = r.limiter_threshold
            unit = m.unit.lower()
            if unit == "a":
                currents = [abs(p.current_a) for p in r.phases if p.current_a is not None]
                if currents:
                    load, what = max(currents) / m.value, f"{m.value:g} A"
            else:
                scale = 1000.0 if unit in ("kw", "kva") else 1.0
                load, what = power / (m.value * scale), f"{m.value:g} {m.unit}"
        if load is None:
            return []
        out: list[TelemetryRecord] = []
        if not self._near and load >= cfg.near_limit_fraction:
            self._near = True
            out.append(self._event(t, EventCode.NEAR_LIMIT, value=power, detail=f"{load:.0%} of {what}"))
        elif self._near and load < cfg.near_limit_fraction - cfg.near_limit_hysteresis:
            self._near = False
        if load > 1.0:
            if self._over_since is None:
                self._over_since = t
            if not self._over_reported and t - self._over_since >= cfg.exceed_for_s:
                self._over_reported = True
                out.append(
                    self._event(
                        t,
                        EventCode.LIMIT_EXCEEDED,
                        value=power,
                        duration_s=t - self._over_since,
                        detail=f"{load:.0%} of {what}",
                    )
                )
        else:
            self._over_since = None
            self._over_reported = False
        return out

    def _voltage(self, r: MeterReading, t: float) -> list[TelemetryRecord]:
        cfg = self.config
        out: list[TelemetryRecord] = []
        for p in r.phases:
            if not 1 <= p.phase <= 3:
                continue
            st = self._phases.setdefault(p.phase, _PhaseState())
            for code, now_count, attr in (
                (EventCode.VOLTAGE_SAG, p.voltage_sags, "sags"),
                (EventCode.VOLTAGE_SWELL, p.voltage_swells, "swells"),
            ):
                before = getattr(st, attr)
                if now_count is not None:
                    setattr(st, attr, now_count)
                    if before is not None and now_count > before:
                        out.append(
                            self._event(t, code, phase=p.phase, detail=f"meter counted +{now_count - before}")
                        )
            if p.voltage_v is None:
                continue
            pct = p.voltage_v / cfg.nominal_v * 100.0
            low, high = cfg.sag_fraction * 100, cfg.swell_fraction * 100
            hyst = cfg.voltage_hysteresis * 100
            if st.sag is None and pct < low:
                st.sag = _Excursion(t, pct, t)
            elif st.sag is not None:
                if pct >= low + hyst:
                    out.append(self._end(EventCode.VOLTAGE_SAG, p.phase, st.sag, t))
                    st.sag = None
                else:
                    st.sag.extreme_pct, st.sag.last = min(st.sag.extreme_pct, pct), t
            if st.swell is None and pct > high:
                st.swell = _Excursion(t, pct, t)
            elif st.swell is not None:
                if pct <= high - hyst:
                    out.append(self._end(EventCode.VOLTAGE_SWELL, p.phase, st.swell, t))
                    st.swell = None
                else:
                    st.swell.extreme_pct, st.swell.last = max(st.swell.extreme_pct, pct), t
        return out

    def _end(self, code: EventCode, phase: int, ex: _Excursion, t: float) -> MeterEvent:
        return self._event(
            ex.start, code, phase=phase, value=round(ex.extreme_pct, 2), duration_s=t - ex.start
        )

    def _end_excursions(self, t: float) -> list[TelemetryRecord]:
        """Readings stopped: close open sags/swells at the last reading."""
        out: list[TelemetryRecord] = []
        for phase, st in sorted(self._phases.items()):
            if st.sag is not None:
                out.append(self._end(EventCode.VOLTAGE_SAG, phase, st.sag, max(t, st.sag.last)))
                st.sag = None
            if st.swell is not None:
                out.append(self._end(EventCode.VOLTAGE_SWELL, phase, st.swell, max(t, st.swell.last)))
                st.swell = None
        return out
