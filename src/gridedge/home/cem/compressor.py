"""Keep a heat pump's compressor from short-cycling, whatever the controllers ask second by second.

A compressor cannot run below its minimum modulation, and it must not be started and stopped
faster than its controller allows: each start wears it, and it needs a pause for the refrigerant
pressures to equalise. Heat-pump managers enforce this themselves, e.g. Dimplex's (product
documentation "Sperrung der Anforderungen"): a minimum off time ("Mindeststandzeit", up to
5 minutes) and at most 3 starts an hour under the grid operators' connection conditions
("Schaltspielsperre": one start every 20 minutes at most); installer menus offer a minimum on
time and a minimum off time (Hitachi ATW-YCC-03 controller manual). An energy manager that
asks more of the unit than that gets what the featured demo home got: the plan below the
minimum (off), the comfort controller at full power (on), the plan again (off), every second,
and the battery chasing each swing one cycle late.

So the cycle runs `CompressorTimer` after the plan and comfort controllers (which decide a heat
pump's power) and before the battery's grid target and the capacity-tariff controller (which
then see the power the heat pump will really take):

* an order between 0 and the compressor's lowest running power is raised to that power (with
  `headroom`: the lowest power is an estimate, see below, and a ceiling just under the true
  minimum stops the unit);
* a compressor that runs is kept at least at its lowest running power until it has run
  `min_run_s`;
* a compressor that stands is kept at 0 until it has stood `min_off_s` and its last start is
  `min_start_interval_s` ago;
* after the limit guard, an order a later controller or the guard left between 0 and the lowest
  running power becomes 0 (lowering never breaks a limit).

The holds bind the later controllers (`Orders.hold`), not the limit guard: a grid operator's
limit or the meter's breaker still switches a compressor off at once (§14a EnWG and
VDE-AR-E 2829-6 come before the compressor's wear; the unit's own protection takes over then).
A heat pump with no order (on its own thermostat) is only watched, so that its times count when
orders resume.

The lowest running power is the largest of what the device announces (`DeviceInfo.min_running_w`)
and what the cycle is told (`Snapshot.running_w`: the service takes it from the plan's model,
minimum modulation x the compressor's maximum at the forecast outdoor temperature).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gridedge.home.cem.orders import Orders
from gridedge.home.cem.snapshot import DeviceView, Snapshot
from gridedge.model.devices import DeviceKind

__all__ = ["CompressorTimer", "CompressorTimes"]

ON_W = 1.0
"""An order above this power asks the compressor to run."""


@dataclass(frozen=True, slots=True)
class CompressorTimes:
    """Anti-short-cycle times. Defaults: `min_off_s` 300 s is Dimplex's minimum off time and
    `min_start_interval_s` 1200 s its 3 starts an hour (see the module); `min_run_s` 600 s is a
    choice (the simulated heat pump's own timer, `sim.heatpump.MIN_RUN_S`), as no manufacturer
    figure was found; `headroom` 0.1 is a choice too (10 % above the estimated lowest power)."""

    min_run_s: float = 600.0
    min_off_s: float = 300.0
    min_start_interval_s: float = 1200.0
    headroom: float = 0.1

    def __post_init__(self) -> None:
        for name in ("min_run_s", "min_off_s", "min_start_interval_s", "headroom"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"CompressorTimes.{name}: expected a finite value >= 0, found {value!r}")


@dataclass(slots=True)
class _State:
    on: bool
    since: float
    """When it last started or stopped (-inf: before the timer first saw it)."""
    started: float = -math.inf
    starts: int = 0
    stops: int = 0


@dataclass(slots=True)
class CompressorTimer:
    """The cycle's anti-short-cycle stage for every heat pump (a controller plus `settled`)."""

    times: CompressorTimes = field(default_factory=CompressorTimes)
    _state: dict[str, _State] = field(default_factory=dict)

    name = "compressor"

    def starts(self, device_id: str) -> int:
        """Starts the timer has counted for a device (a statistic for tests and status)."""
        st = self._state.get(device_id)
        return 0 if st is None else st.starts

    def running_w(self, snap: Snapshot, d: DeviceView) -> float:
        """The lowest power the device runs at (0: unknown)."""
        told = dict(snap.running_w).get(d.device_id, 0.0)
        return max(d.info.min_running_w, told)

    def _on_measured(self, d: DeviceView, running: float) -> bool:
        return d.power_w > max(50.0, 0.5 * running)

    def run(self, snap: Snapshot, orders: Orders) -> None:
        tm = self.times
        for d in snap.of_kind(DeviceKind.HEAT_PUMP):
            if d.state is None or not d.state.online:
                continue
            running = self.running_w(snap, d)
            st = self._state.get(d.device_id)
            if st is None:
                st = self._state[d.device_id] = _State(self._on_measured(d, running), -math.inf)
            target = orders.target(d.device_id)
            if target is None:
                continue
            lowest = running * (1.0 + tm.headroom)
            want_on = target > ON_W
            limited = snap.limits.import_w is not None
            if st.on and not want_on and snap.t - st.since < tm.min_run_s and not limited:
                # held at its lowest power, the least it can draw while running; never while a
                # grid limit applies: the §14a minimum would let the hold through the guard as
                # if the device demanded it (the limit comes before the compressor's comfort)
                left = tm.min_run_s - (snap.t - st.since)
                keep = max(lowest, ON_W * 2)
                orders.propose(d.device_id, keep, f"compressor: minimum run time, {left:.0f} s left")
                orders.hold(d.device_id, keep, math.inf)
            elif (
                not st.on
                and want_on
                and (snap.t - st.since < tm.min_off_s or snap.t - st.started < tm.min_start_interval_s)
            ):
                left = max(
                    tm.min_off_s - (snap.t - st.since), tm.min_start_interval_s - (snap.t - st.started)
                )
                orders.propose(d.device_id, 0.0, f"compressor: may start again in {left:.0f} s")
                orders.hold(d.device_id, 0.0, 0.0)
            elif want_on and target < lowest:
                orders.propose(d.device_id, lowest, f"compressor: lowest running power {running:.0f} W")

    def settled(self, snap: Snapshot, orders: Orders) -> None:
        """After the limit guard: note starts and stops of what will really be sent (a guard's
        cap below the lowest running power stops the compressor)."""
        for d in snap.of_kind(DeviceKind.HEAT_PUMP):
            st = self._state.get(d.device_id)
            if st is None or d.state is None or not d.state.online:
                continue
            running = self.running_w(snap, d)
            target = orders.target(d.device_id)
            if target is None:
                on = self._on_measured(d, running)
            else:
                on = target > ON_W and target >= running * (1.0 - 1e-9)
            if target is not None and ON_W < target < running * (1.0 - 1e-9):
                # a later controller or the guard left it under its lowest power: it stands
                orders.hold(d.device_id, 0.0, math.inf)
                orders.propose(
                    d.device_id, 0.0, f"compressor: under its lowest running power {running:.0f} W"
                )
                on = False
            if on != st.on:
                st.on = on
                st.since = snap.t
                if on:
                    st.started = snap.t
                    st.starts += 1
                else:
                    st.stops += 1
