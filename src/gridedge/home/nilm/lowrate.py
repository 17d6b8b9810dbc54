"""Switching events from 1 Hz P1 readings: per-phase power steps, or the site total.

A P1 telegram carries one power figure per phase (DSMR 5.0.2 §6.12, 1-0:21.7.0 / 22.7.0 and
siblings) or only the site total (older meters, 1-0:1.7.0 / 2.7.0), about once a second. The
same step machine as on the cycle stream (`events.StepChannel`, Hart's edge detection) runs on
those values with 1 Hz settings: a new level counts once two readings agree. A switch in the
middle of a second shows as a reading between the old and the new level; where it lies tells
when in that second the switch happened (the meter averages over the second), which places
the event well inside one second instead of at the reading boundary.

Signatures carry delta P (and delta Q when the meter reports reactive power) and the phase, or
phase -1 when only the total is known; they go through the same appliance library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gridedge.home.nilm.events import DetectedEvent, Mode, Step, StepChannel, StepConfig, StepIds
from gridedge.home.nilm.signature import EventSignature
from gridedge.model.reading import MeterReading

P1_STEP_CONFIG = StepConfig(
    min_step_w=25.0, rel_step=0.02, noise_k=6.0, settle=2, budget=2, max_settle=8, window=5, trend_check=False
)
"""1 Hz thresholds: 25 W or 2 % of the phase's power; two agreeing readings make a level."""


@dataclass(frozen=True, slots=True)
class PowerSample:
    """One low-rate sample: per-phase (3,) or total (1,) active power, optional reactive power."""

    t: float
    """Stream time of the start of the interval the values average, s."""
    power_w: tuple[float, ...]
    reactive_var: tuple[float, ...] | None = None
    interval_s: float = 1.0


def sample_from_reading(reading: MeterReading, t: float) -> PowerSample | None:
    """Per-phase power when the telegram has it for every phase it lists, else the net total.

    Returns None when the telegram carries no power at all.
    """
    per: list[float] = []
    per_q: list[float] = []
    have_q = True
    for n in (1, 2, 3):
        ph = reading.phase(n)
        if ph is None or (ph.power_import_w is None and ph.power_export_w is None):
            per = []
            break
        per.append((ph.power_import_w or 0.0) - (ph.power_export_w or 0.0))
        if ph.reactive_power_import_var is None and ph.reactive_power_export_var is None:
            have_q = False
        else:
            per_q.append((ph.reactive_power_import_var or 0.0) - (ph.reactive_power_export_var or 0.0))
    if len(per) == 3:
        return PowerSample(t, tuple(per), tuple(per_q) if have_q and len(per_q) == 3 else None)
    net = reading.net_power_w
    if net is None:
        return None
    q = None
    if reading.reactive_power_import_var is not None or reading.reactive_power_export_var is not None:
        q = ((reading.reactive_power_import_var or 0.0) - (reading.reactive_power_export_var or 0.0),)
    return PowerSample(t, (net,), q)


class LowRateDetector:
    """Events from a stream of `PowerSample`s (one channel per phase, or one for the total)."""

    def __init__(self, config: StepConfig = P1_STEP_CONFIG) -> None:
        self.config = config
        self._ids = StepIds()
        self._channels: list[StepChannel] = []
        self._times: dict[int, float] = {}
        self._interval: dict[int, float] = {}
        self._values: dict[int, tuple[float, ...]] = {}
        self._index = 0
        self._pending: dict[int, dict[int, tuple[int, DetectedEvent]]] = {}

    @property
    def settled(self) -> bool:
        """Every channel steady: the last sample is a steady state."""
        return all(ch.mode is Mode.STEADY for ch in self._channels)

    def feed(self, sample: PowerSample) -> list[DetectedEvent]:
        """Take one sample; returns the events (and final revisions) it completes."""
        n = len(sample.power_w)
        if n not in (1, 3):
            raise ValueError(f"PowerSample.power_w: expected 1 (total) or 3 (per phase) values, found {n}")
        if sample.reactive_var is not None and len(sample.reactive_var) != n:
            raise ValueError(
                f"PowerSample.reactive_var: expected {n} values, found {len(sample.reactive_var)}"
            )
        values = np.asarray(sample.power_w, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"PowerSample.power_w: expected finite watts, found {sample.power_w}")
        if len(self._channels) != n:  # first sample, or the meter changed what it sends
            self._channels = [StepChannel(self.config, self._ids) for _ in range(n)]
        q = np.zeros(n) if sample.reactive_var is None else np.asarray(sample.reactive_var, dtype=np.float64)
        i = self._index
        self._index += 1
        self._times[i] = sample.t
        self._interval[i] = sample.interval_s
        self._values[i] = tuple(values.tolist())
        for old in [k for k in self._times if k < i - self.config.max_settle - self.config.window - 4]:
            del self._times[old], self._interval[old], self._values[old]
        steps: list[tuple[int, Step]] = []
        for ch_i, ch in enumerate(self._channels):
            s = float(np.hypot(values[ch_i], q[ch_i]))
            steps.extend((ch_i, st) for st in ch.push(i, float(values[ch_i]), float(q[ch_i]), s))
        return self._events(steps, n, sample, i)

    def _events(
        self, steps: Sequence[tuple[int, Step]], n: int, sample: PowerSample, i: int
    ) -> list[DetectedEvent]:
        by_start: dict[int, list[tuple[int, Step]]] = {}
        for ch_i, st in steps:
            by_start.setdefault(st.start, []).append((ch_i, st))
        out: list[DetectedEvent] = []
        for start, members in sorted(by_start.items()):
            dp = [0.0, 0.0, 0.0]
            dq = 0.0
            for ch_i, st in members:
                dp[ch_i if n == 3 else 0] += st.delta_p
                dq += st.delta_q
            dom_ch, dom = max(members, key=lambda m: abs(m[1].delta_p))
            t = self._when(start, dom_ch, dom)
            sig = EventSignature(
                t=t,
                phase=dom_ch if n == 3 else -1,
                delta_p_w=sum(st.delta_p for _, st in members),
                delta_q_var=dq if sample.reactive_var is not None else None,
                delta_p_phase_w=(dp[0], dp[1], dp[2]) if n == 3 else None,
            )
            eid = min(st.step_id for _, st in members)
            final = all(st.final for _, st in members)
            phases = tuple(sorted(ch_i for ch_i, _ in members)) if n == 3 else (-1,)
            t_detect = self._times.get(i, sample.t) + sample.interval_s
            cancelled = final and all(st.cancelled for _, st in members)
            out.append(
                DetectedEvent(eid, sig, phases, (dp[0], dp[1], dp[2]), start, t_detect, final, cancelled)
            )
        return out

    def _when(self, start: int, ch: int, st: Step) -> float:
        """Time of the switch: inside the first changed interval, by the share of it at the new level."""
        t0 = self._times.get(start, 0.0)
        dt = self._interval.get(start, 1.0)
        if st.delta_p == 0:
            return t0
        partial = self._values.get(start, ())
        if ch >= len(partial):
            return t0
        share = (partial[ch] - st.before_p) / st.delta_p  # fraction of the interval at the new level
        share = min(1.0, max(0.0, share))
        return t0 + (1.0 - share) * dt
