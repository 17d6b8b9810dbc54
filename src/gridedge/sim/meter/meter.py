"""The virtual smart meter: one metrology second in, one `MeterReading` (one P1 telegram) out.

`VirtualMeter.update` takes the `SecondMeasurement` of each second and the gas volume of that
second, and runs what a Belgian, Dutch or Luxembourg meter runs:

* energy registers per tariff (`tariffs`, `registers`);
* the quarter-hour demand, month peak and 13-month history (`demand`, Belgium);
* the supply switch with limiter and fuse supervision (`breaker`);
* the load-control relays (`load_control`);
* sag, swell and power-failure counters (`quality`);
* the 5-minute gas capture (`gas`).

It returns the reading the meter's P1 port would send at the end of that second. Every value
is already on its telegram grid (kWh and m3 with 3 decimals, W, 0.1 V, A per profile). So
`decode(encode(reading))` gives the same reading back, and the reading is the ground truth
rounded as the telegram rounds it. While all phases are interrupted the meter has no supply and
its P1 port is silent: `update` returns None.

Per profile (`MeterConfig.profile`):

* `be`, e-MUCS H (`P1Variant.EMUCS_H`, version 0-0:96.1.4 = 50217): tariff registers 1 = normal,
  2 = low; capacity objects 1-0:1.4.0, 1-0:1.6.0, 0-0:98.1.0; breaker 0-0:96.3.10;
  limiter 0-0:17.0.0 (999.9 kW when there is none); fuse supervision 1-0:31.4.0 (999 A when
  there is none); currents with two decimals; gas 0-1:24.2.3 (not temperature corrected) with
  its id in 0-1:96.1.1 and the valve state 0-1:24.4.0. Real Fluvius telegrams carry no
  power-failure, sag or swell objects (e-MUCS H Annex A data sets, every capture in the corpus),
  so by default this profile leaves them out too (`quality_in_telegram`).
* `nl`, DSMR 5.0.2 (`P1Variant.DSMR_5`, 1-3:0.2.8 = 50): tariff 1 = low, 2 = normal;
  power-failure counts and log, sags and swells; currents in whole amperes (F3(0,0)); gas
  0-1:24.2.1. It sends no breaker or limiter objects, which 5.0 removed (meter-ports.md §A.4).
* `lu`, Luxembourg Smarty (`P1Variant.LUXEMBOURG`, 1-3:0.2.8 = 42): total registers 1.8.0 /
  2.8.0 and reactive 3.8.0 / 4.8.0, reactive and apparent power, breaker state, limiter in kVA
  (the Smarty limiter supervises apparent power), whole amperes, gas 0-1:24.2.1.

Timing: the reading of the second [t, t + duration) is stamped `site.start_aware + t + duration`
(rounded to the second, as TST has no fractions). The calendar (tariff, quarter, month, gas
capture) follows the site's time zone and its DST rules, see `timebase`.

The per-second path uses plain floats and reads each measurement array once (`tolist`); it
rounds by float arithmetic instead of `round()` calls and builds `MeterReading` and
`PhaseReading` positionally (`test_meter_telegram` guards their field order). Objects that rarely
change (limiter, peak, history, failure log, M-Bus device) are built when they change and shared
by the readings in between, which is safe because readings are treated as immutable
(`gridedge.model.reading`). Measured on this machine: about 16-25 us per `update`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from math import floor as _floor
from typing import Final

from gridedge.model.reading import (
    BreakerState,
    MBusDevice,
    MBusDeviceType,
    Measure,
    MeterReading,
    MonthlyPeak,
    P1Variant,
    PeakDemand,
    PhaseReading,
    PowerFailure,
    TariffPeriod,
)
from gridedge.model.scenario import MeterConfig, MeterProfile, SiteConfig
from gridedge.ports.p1.encoder import DEFAULT_HEADER, encode
from gridedge.sim.measurement import SecondMeasurement
from gridedge.sim.meter.breaker import Breaker, BreakerCause, BreakerChange
from gridedge.sim.meter.demand import DemandMeter
from gridedge.sim.meter.gas import GasCapture
from gridedge.sim.meter.load_control import LoadControlChange, LoadControlOutput
from gridedge.sim.meter.quality import (
    INTERRUPTION,
    PowerFailureMonitor,
    PowerFailureRecord,
    VoltageEvent,
    VoltageQuality,
)
from gridedge.sim.meter.registers import EnergyRegisters, RegisterSnapshot, floor_kwh
from gridedge.sim.meter.tariffs import TariffSchedule, default_schedule
from gridedge.sim.meter.timebase import QUARTER_S, LocalTime, epoch_of

VARIANT: Final = {
    MeterProfile.BE: P1Variant.EMUCS_H,
    MeterProfile.NL: P1Variant.DSMR_5,
    MeterProfile.LU: P1Variant.LUXEMBOURG,
}
P1_VERSION: Final = {MeterProfile.BE: "50217", MeterProfile.NL: "50", MeterProfile.LU: "42"}
NO_LIMIT_W: Final = 999_900.0
"""`0-0:17.0.0(999.9*kW)`: no limiter threshold (e-MUCS H Table 1)."""
NO_FUSE_A: Final = 999.0
"""`1-0:31.4.0(999*A)`: no fuse supervision threshold (e-MUCS H Table 1)."""
_ROUND: Final = 6755399441055744.0
"""1.5 x 2**52: adding and subtracting it rounds a float below 2**51 to an integer (half to even)."""
_CONNECTED: Final = BreakerState.CONNECTED
_EMPTY: Final[dict[int, float]] = {}
"""Shared empty register map (readings are treated as immutable)."""
EVENT_HISTORY: Final = 10_000
"""Events kept in `VirtualMeter.events` (the oldest are dropped)."""

MeterEvent = BreakerChange | LoadControlChange | VoltageEvent | PowerFailureRecord
"""Everything the meter records as an event, each a typed frozen dataclass."""


@dataclass(frozen=True, slots=True)
class QualityCounters:
    """The meter's supply-quality counters (DSMR 5.0.2 §6.11-6.12), whatever the telegram shows."""

    power_failures: int
    long_power_failures: int
    failure_log: tuple[PowerFailureRecord, ...]
    """Long failures, most recent first, at most 10."""
    voltage_sags: tuple[int, ...]
    voltage_swells: tuple[int, ...]


class VirtualMeter:
    """A Belgian, Dutch or Luxembourg smart meter driven by one metrology second at a time.

    `nominal_v` is the declared voltage the sag, swell and interruption thresholds refer to.
    `schedule` replaces the country's default day/night schedule (`tariffs`). `quality_in_telegram`
    decides whether power-failure, sag and swell objects are sent (default: not for Belgium, like
    real Fluvius meters; yes for the Netherlands and Luxembourg); they are counted either way.
    """

    def __init__(
        self,
        config: MeterConfig,
        site: SiteConfig,
        *,
        nominal_v: float = 230.0,
        schedule: TariffSchedule | None = None,
        quality_in_telegram: bool | None = None,
    ) -> None:
        self.config = config
        self.site = site
        profile = config.profile
        self.profile = profile
        self.variant = VARIANT[profile]
        self._be = profile is MeterProfile.BE
        self._lu = profile is MeterProfile.LU
        self._n = config.phases
        self._time = LocalTime(site.zone)
        self._epoch0 = epoch_of(site.start_aware)
        self._dead_v = INTERRUPTION * nominal_v
        self._quality_out = quality_in_telegram if quality_in_telegram is not None else not self._be

        self._schedule = None if self._lu else (schedule or default_schedule(profile))
        imp = tuple(kwh * 1000.0 for kwh in config.start_import_kwh)
        exp = tuple(kwh * 1000.0 for kwh in config.start_export_kwh)
        if self._schedule is None:
            self._registers = EnergyRegisters((0,), (sum(imp),), (sum(exp),))
        else:
            self._registers = EnergyRegisters((1, 2), imp, exp)
        self._tariff_index = 0
        self._tariff_number: int | None = None
        self._tariff_period: TariffPeriod | None = None

        self._quarter = int((self._epoch0 + 1e-6) // QUARTER_S)
        self._quarter_closed = False
        self._demand = DemandMeter(self._epoch0)
        self._enter_quarter(self._quarter, first=True)

        self._breaker = Breaker(
            config.limiter_kw * 1000.0 if config.limiter_kw is not None else None,
            config.fuse_a,
            config.breaker_delay_s,
        )
        self._supervised = config.limiter_kw is not None or config.fuse_a is not None
        self._outputs = {c.output: LoadControlOutput(c.output, c) for c in config.load_control}
        self._automatic = [o for o in self._outputs.values() if o.threshold_w is not None]
        self._voltage = VoltageQuality(nominal_v, config.sag_threshold, config.swell_threshold, self._n)
        self._failures = PowerFailureMonitor(config.long_failure_s)
        self._events: deque[MeterEvent] = deque(maxlen=EVENT_HISTORY)
        self._gas = GasCapture(config.gas.start_m3, self._epoch0) if config.gas is not None else None

        # objects shared by consecutive readings, rebuilt when they change
        self._limiter = self._limiter_measure()
        fuse = round(config.fuse_a, 2) if config.fuse_a is not None else NO_FUSE_A
        self._fuse = fuse if self._be else None
        self._peak: PeakDemand | None = None
        self._history: tuple[MonthlyPeak, ...] | None = None
        self._demand_dirty = True
        self._log: tuple[PowerFailure, ...] | None = None
        self._log_dirty = True
        self._mbus: tuple[MBusDevice, ...] = ()
        self._mbus_dirty = True
        self._header = DEFAULT_HEADER[self.variant]
        self._version = P1_VERSION[profile]

    # --- state ---------------------------------------------------------------------------------

    @property
    def breaker_state(self) -> BreakerState:
        """The supply switch; anything but CONNECTED means the house is cut off."""
        return self._breaker.state

    @property
    def supplies_load(self) -> bool:
        return self._breaker.state is BreakerState.CONNECTED

    @property
    def registers(self) -> RegisterSnapshot:
        """Exact (unrounded) registers in Wh / varh per tariff number (0 = total, Luxembourg)."""
        return self._registers.snapshot()

    @property
    def tariff(self) -> int | None:
        """Tariff number of the current quarter-hour (None for total-only Luxembourg meters)."""
        return None if self._schedule is None else self._registers.tariffs[self._tariff_index]

    @property
    def counters(self) -> QualityCounters:
        f = self._failures
        return QualityCounters(
            power_failures=f.count,
            long_power_failures=f.long_count,
            failure_log=tuple(f.log),
            voltage_sags=tuple(self._voltage.sags),
            voltage_swells=tuple(self._voltage.swells),
        )

    @property
    def events(self) -> tuple[MeterEvent, ...]:
        """Breaker, load-control, sag/swell and power-failure events, oldest first."""
        return tuple(self._events)

    @property
    def demand(self) -> DemandMeter:
        """The demand registers (read-only use: month peak, history as Unix seconds)."""
        return self._demand

    @property
    def gas_m3(self) -> float | None:
        """Exact gas register (m3), None without gas meter."""
        return None if self._gas is None else self._gas.volume_m3

    def load_control_closed(self, output: int) -> bool:
        """Whether load-control output `output` (1..4) is closed, i.e. its circuit is supplied.

        An output without `[[meter.load_control]]` configuration is a command-only relay.
        """
        return self._output(output).closed

    # --- commands ------------------------------------------------------------------------------

    def set_load_control(self, output: int, closed: bool, t: float) -> None:
        """Switch output `output`; it holds until its automatic logic next changes state (`load_control`)."""
        change = self._output(output).command(closed, t)
        if change is not None:
            self._events.append(change)

    def press_reconnect(self, t: float) -> None:
        """The customer's button: READY_FOR_RECONNECTION -> CONNECTED, otherwise nothing."""
        self._record(self._breaker.press(t))

    def trip(self, t: float) -> None:
        """Open the switch for overload (the Italian profile's countdown ran out, `italy`):
        CONNECTED -> READY_FOR_RECONNECTION; the button (`press_reconnect`) closes it again."""
        self._record(self._breaker.trip(t, BreakerCause.OVERLOAD))

    def disconnect(self, t: float) -> None:
        """DSO remote disconnect: -> DISCONNECTED; the button no longer reconnects."""
        self._record(self._breaker.disconnect(t))

    def reconnect_remote(self, t: float) -> None:
        """DSO remote reconnect: DISCONNECTED -> READY_FOR_RECONNECTION (class 70 mode 1, `breaker`)."""
        self._record(self._breaker.reconnect_remote(t))

    # --- the per-second path -------------------------------------------------------------------

    def update(self, m: SecondMeasurement, gas_m3: float = 0.0) -> MeterReading | None:
        """Account one metrology second; the reading at its end, or None while unpowered."""
        t0 = m.t
        dur = m.duration_s
        e0 = self._epoch0 + t0
        e1 = e0 + dur
        if int((e0 + 1e-6) // QUARTER_S) != self._quarter:
            self._enter_quarter(int((e0 + 1e-6) // QUARTER_S))

        vmax = m.voltage_max_v.tolist()
        dead = self._dead_v
        if self._n == 3:
            d1, d2, d3 = vmax[0] < dead, vmax[1] < dead, vmax[2] < dead
            any_down, all_down = d1 or d2 or d3, d1 and d2 and d3
        else:
            any_down = all_down = vmax[0] < dead
        failures = self._failures
        if any_down or failures.down_since is not None:
            failure = failures.update(t0, any_down)
            if failure is not None:
                self._events.append(failure)
                self._log_dirty = True
        gas = self._gas
        if gas is not None:
            gas.volume_m3 += gas_m3
        quarter_end = self._quarter_end
        if all_down:
            self._breaker.reset_supervision()
            if gas is not None and e1 >= gas.next_capture - 0.5:
                gas.capture(e1, powered=False)
            if e1 >= quarter_end - 0.5 and not self._quarter_closed:
                self._close_quarter(quarter_end)
            return None

        p = m.power_w.tolist()
        net = p[0] + p[1] + p[2]
        imp = m.energy_import_wh
        regs = self._registers
        k = self._tariff_index
        regs.import_wh[k] += imp
        regs.export_wh[k] += m.energy_export_wh
        regs.reactive_import_varh += m.reactive_import_varh
        regs.reactive_export_varh += m.reactive_export_varh
        demand = self._demand
        demand.energy_wh += imp

        v = m.voltage_v.tolist()
        cur = m.current_a.tolist()
        t1 = t0 + dur
        apparent = v[0] * cur[0] + v[1] * cur[1] + v[2] * cur[2]
        breaker = self._breaker
        if self._supervised and breaker.state is _CONNECTED:
            imax = m.current_max_a.tolist()
            hi = max(imax) if self._n == 3 else imax[0]
            change = breaker.supervise(t0, t1, apparent if self._lu else (net if net >= 0 else -net), hi)
            if change is not None:
                self._events.append(change)
        for out in self._automatic:
            lc = out.update(t0, t1, net)
            if lc is not None:
                self._events.append(lc)
        vq = self._voltage
        vmin = m.voltage_min_v.tolist()
        # quick path: every detector armed and every extreme inside the re-arm band
        lo = (vmin[0] if vmin[0] < vmin[1] else vmin[1]) if self._n == 3 else vmin[0]
        if self._n == 3 and vmin[2] < lo:
            lo = vmin[2]
        if not vq.quiet or lo <= vq.sag_rearm_v or max(vmax) >= vq.swell_rearm_v:
            vev = vq.update(t0, vmin, vmax)
            if vev is not None:
                self._events.extend(vev)
        if gas is not None and e1 >= gas.next_capture - 0.5:
            gas.capture(e1, powered=True)
            self._mbus_dirty = True

        demand_w: float | None = None
        if self._be:
            elapsed = e1 - demand.quarter_start
            demand_w = demand.energy_wh * 3600.0 / elapsed + _ROUND - _ROUND if elapsed > 0 else 0.0
        if e1 >= quarter_end - 0.5 and not self._quarter_closed:
            self._close_quarter(quarter_end)
        return self._reading(e1, v, cur, p, net, apparent, demand_w, m)

    # --- reading assembly ----------------------------------------------------------------------

    def _reading(
        self,
        e1: float,
        v: list[float],
        cur: list[float],
        p: list[float],
        net: float,
        apparent: float,
        demand_w: float | None,
        m: SecondMeasurement,
    ) -> MeterReading:
        # x + R - R rounds a float to the nearest integer (half to even) without a call; k / 10 and
        # k / 100 of an integer k are the floats the decoder reads from "ddd.d" and "ddd.dd"
        R = _ROUND
        be, lu = self._be, self._lu
        if self._quality_out:
            sags: list[int] | None = self._voltage.sags
            swells: list[int] | None = self._voltage.swells
        else:
            sags = swells = None
        cdiv = 100.0 if be else 1.0
        fuse = self._fuse
        phases: list[PhaseReading] = []
        if lu:
            q = m.reactive_power_var.tolist()
            for i in range(self._n):
                pi, qi = p[i], q[i]
                phases.append(
                    PhaseReading(
                        i + 1,
                        (v[i] * 10.0 + R - R) / 10.0,
                        cur[i] + R - R,
                        pi + R - R if pi > 0 else 0.0,
                        -pi + R - R if pi < 0 else 0.0,
                        qi + R - R if qi > 0 else 0.0,
                        -qi + R - R if qi < 0 else 0.0,
                        None,
                        sags[i] if sags is not None else None,
                        swells[i] if swells is not None else None,
                    )
                )
        else:
            for i in range(self._n):
                pi = p[i]
                phases.append(
                    PhaseReading(
                        i + 1,
                        (v[i] * 10.0 + R - R) / 10.0,
                        (cur[i] * cdiv + R - R) / cdiv,
                        pi + R - R if pi > 0 else 0.0,
                        -pi + R - R if pi < 0 else 0.0,
                        None,
                        None,
                        None,
                        sags[i] if sags is not None else None,
                        swells[i] if swells is not None else None,
                        fuse if i == 0 else None,
                    )
                )
        regs = self._registers
        imp_wh, exp_wh = regs.import_wh, regs.export_wh
        if self._schedule is None:
            imp_kwh = {0: _floor(imp_wh[0] + 1e-7) / 1000}
            exp_kwh = {0: _floor(exp_wh[0] + 1e-7) / 1000}
        else:
            imp_kwh = {1: _floor(imp_wh[0] + 1e-7) / 1000, 2: _floor(imp_wh[1] + 1e-7) / 1000}
            exp_kwh = {1: _floor(exp_wh[0] + 1e-7) / 1000, 2: _floor(exp_wh[1] + 1e-7) / 1000}
        if self._demand_dirty and be:
            self._build_demand()
        if self._log_dirty and self._quality_out:
            self._build_log()
        if self._mbus_dirty:
            self._build_mbus()
        reactive_imp: dict[int, float] = _EMPTY
        reactive_exp: dict[int, float] = _EMPTY
        q_imp = q_exp = s_imp = s_exp = None
        if lu:
            reactive_imp = {0: floor_kwh(regs.reactive_import_varh)}
            reactive_exp = {0: floor_kwh(regs.reactive_export_varh)}
            qt = q[0] + q[1] + q[2]
            q_imp = qt + R - R if qt > 0 else 0.0
            q_exp = -qt + R - R if qt < 0 else 0.0
            s = apparent + R - R
            s_imp, s_exp = (s, 0.0) if net >= 0 else (0.0, s)
        failures = self._failures
        quality = self._quality_out
        return MeterReading(
            self.variant,
            self._header,
            self._time.stamp(e1),
            self.config.equipment_id,
            None,
            self._version,
            self._tariff_number,
            self._tariff_period,
            imp_kwh,
            exp_kwh,
            reactive_imp,
            reactive_exp,
            net + R - R if net > 0 else 0.0,
            -net + R - R if net < 0 else 0.0,
            q_imp,
            q_exp,
            s_imp,
            s_exp,
            None,
            None,
            tuple(phases),
            failures.count if quality else None,
            failures.long_count if quality else None,
            self._log,
            "",
            None,
            self._breaker.state if (be or lu) else None,
            self._limiter,
            demand_w,
            None,
            self._peak,
            self._history,
            self._mbus,
        )

    def _limiter_measure(self) -> Measure | None:
        """0-0:17.0.0 as the profile writes it: kW for Belgium, kVA for Luxembourg, none for DSMR 5."""
        kw = self.config.limiter_kw
        if self._be:
            if kw is None:
                return Measure(NO_LIMIT_W, "W")
            w = round(kw * 1000)
            # F5(3,3) carries W below 100 kW; F4(1,1) carries 0.1 kW steps up to 999.9 kW
            return Measure(float(w if w < 100_000 else round(w, -2)), "W")
        if self._lu:
            return Measure(NO_LIMIT_W if kw is None else float(round(kw * 1000, -2)), "VA")
        return None

    def _build_demand(self) -> None:
        d = self._demand
        stamp = self._time.stamp
        self._peak = PeakDemand(
            time=stamp(d.month_peak_epoch) if d.month_peak_epoch is not None else None,
            power_w=d.month_peak_w,
        )
        self._history = tuple(
            MonthlyPeak(
                month_start=stamp(r.capture_epoch),
                peak_time=stamp(r.peak_epoch) if r.peak_epoch is not None else None,
                power_w=r.peak_w,
            )
            for r in d.history
        )
        self._demand_dirty = False

    def _build_log(self) -> None:
        e0, stamp = self._epoch0, self._time.stamp
        self._log = tuple(PowerFailure(stamp(e0 + r.end_t), r.duration_s) for r in self._failures.log)
        self._log_dirty = False

    def _build_mbus(self) -> None:
        self._mbus_dirty = False
        gas, cfg = self._gas, self.config.gas
        if gas is None or cfg is None:
            return
        self._mbus = (
            MBusDevice(
                channel=1,
                device_type=int(MBusDeviceType.GAS),
                equipment_id=None if self._be else cfg.equipment_id,
                equipment_id_2=cfg.equipment_id if self._be else None,
                value=gas.captured_m3,
                unit="m3",
                capture_time=self._time.stamp(gas.capture_epoch),
                temperature_corrected=not self._be,
                valve_state=BreakerState.CONNECTED if (self._be or self._lu) else None,
            ),
        )

    # --- calendar ------------------------------------------------------------------------------

    def _enter_quarter(self, q: int, first: bool = False) -> None:
        """A new quarter-hour begins: close the last one if no second reached its end, look up the tariff."""
        if not first:
            if not self._quarter_closed:
                self._close_quarter((self._quarter + 1) * QUARTER_S)
            # quarters nobody fed (a caller that skipped time): closed empty, months still filed
            for skipped in range(self._quarter + 1, min(q, self._quarter + 1 + 4 * 24 * 62)):
                self._close_quarter((skipped + 1) * QUARTER_S)
        self._quarter = q
        self._quarter_end = (q + 1) * QUARTER_S
        self._quarter_closed = False
        if self._schedule is not None:
            tariff = self._schedule.tariff_at(self._time.local(q * QUARTER_S))
            self._tariff_index = self._registers.tariffs.index(tariff)
            self._tariff_number = tariff
            self._tariff_period = self._schedule.period(tariff)

    def _close_quarter(self, end: float) -> None:
        local = self._time.local(end)
        month_change = local.day == 1 and local.hour == 0 and local.minute == 0
        self._demand.close(end, month_change)
        self._quarter_closed = True
        self._demand_dirty = True

    def _output(self, output: int) -> LoadControlOutput:
        out = self._outputs.get(output)
        if out is None:
            out = self._outputs[output] = LoadControlOutput(output)
        return out

    def _record(self, change: BreakerChange | None) -> None:
        if change is not None:
            self._events.append(change)


def telegram(reading: MeterReading, profile: MeterProfile) -> bytes:
    """The P1 telegram of `reading` in the dialect of `profile` (CRC-16 included)."""
    return encode(reading, profile=VARIANT[profile])


__all__ = ["NO_FUSE_A", "NO_LIMIT_W", "VARIANT", "MeterEvent", "QualityCounters", "VirtualMeter", "telegram"]
