"""Supply quality seen by the meter: voltage sags and swells per phase, power failures.

Sags and swells (DSMR 5.0.2 §6.12: 1-0:32.32.0 / 52.32.0 / 72.32.0 sags, 32.36.0 / 52.36.0 /
72.36.0 swells) follow IEC 61000-4-30 §5.4. The quantity is the RMS voltage over one cycle,
refreshed every half cycle. The metrology hands over the lowest and highest per-cycle RMS value of
each second. A sag starts when the lowest value falls below `sag_threshold` x nominal. The
detector re-arms only after recovery above the threshold plus a 2 % hysteresis (§5.4.2 and
§5.4.3 give typically 2 % of the declared input voltage). So a sag that lasts ten seconds counts
once, and so does a voltage that rattles around the threshold. A swell is the mirror image on the
highest value. A second whose lowest value falls below the interruption threshold is an
interruption on that phase (§5.5: below 5 % of nominal), not a sag, and it leaves the detector
disarmed until the voltage recovers.

Power failures (DSMR 5.0.2 §6.11, Table 6-3): 0-0:96.7.21 counts power failures in any phase and
0-0:96.7.9 counts long ones (at least `long_failure_s`, 180 s by default). The event log
1-0:99.97.0 holds the long failures, at most 10, most recent first, each as (end time, duration
in s). A failure runs from the first metrology second in which any of the meter's phases is
interrupted (all its cycles below 5 % of nominal) until the first second in which all are back.
It is counted when it ends, because only then is its duration known. The meter is unpowered only
while all its phases are interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

HYSTERESIS = 0.02
"""Re-arm margin as a share of nominal (IEC 61000-4-30 §5.4.2: typically 2 % of Udin)."""
INTERRUPTION = 0.05
"""Interruption threshold as a share of nominal (IEC 61000-4-30 §5.5: typically 5 %)."""
LOG_SIZE = 10
"""Entries of the power-failure event log 1-0:99.97.0 (DSMR 5.0.2 §6.11: z <= 10)."""


class VoltageEventKind(StrEnum):
    SAG = "sag"
    SWELL = "swell"


@dataclass(frozen=True, slots=True)
class VoltageEvent:
    """A sag or swell began on `phase` (1..3) in the second starting at sim time `t`."""

    t: float
    phase: int
    kind: VoltageEventKind
    extreme_v: float
    """Lowest (sag) or highest (swell) per-cycle RMS voltage of that second."""


@dataclass(frozen=True, slots=True)
class PowerFailureRecord:
    """A finished power failure: interrupted from `start_t` to `end_t` (sim s)."""

    start_t: float
    end_t: float
    duration_s: int
    long: bool


class VoltageQuality:
    """Per-phase sag and swell counters with re-arm hysteresis."""

    __slots__ = (
        "dead_v",
        "quiet",
        "sag_armed",
        "sag_rearm_v",
        "sag_v",
        "sags",
        "swell_armed",
        "swell_rearm_v",
        "swell_v",
        "swells",
    )

    def __init__(self, nominal_v: float, sag_threshold: float, swell_threshold: float, phases: int) -> None:
        self.sag_v = sag_threshold * nominal_v
        self.sag_rearm_v = (sag_threshold + HYSTERESIS) * nominal_v
        self.swell_v = swell_threshold * nominal_v
        self.swell_rearm_v = (swell_threshold - HYSTERESIS) * nominal_v
        self.dead_v = INTERRUPTION * nominal_v
        self.sags = [0] * phases
        self.swells = [0] * phases
        self.sag_armed = [True] * phases
        self.swell_armed = [True] * phases
        self.quiet = True
        """Every detector is armed: a second inside the re-arm band changes nothing."""

    def update(self, t: float, vmin: list[float], vmax: list[float]) -> list[VoltageEvent] | None:
        """One second of per-cycle extremes per phase; returns the events that began, if any."""
        events: list[VoltageEvent] | None = None
        sag_v, swell_v = self.sag_v, self.swell_v
        for i in range(len(self.sags)):
            lo = vmin[i]
            if lo < sag_v:
                if self.sag_armed[i]:
                    self.sag_armed[i] = False
                    if lo >= self.dead_v:
                        self.sags[i] += 1
                        events = events or []
                        events.append(VoltageEvent(t, i + 1, VoltageEventKind.SAG, lo))
            elif lo > self.sag_rearm_v:
                self.sag_armed[i] = True
            hi = vmax[i]
            if hi > swell_v:
                if self.swell_armed[i]:
                    self.swell_armed[i] = False
                    self.swells[i] += 1
                    events = events or []
                    events.append(VoltageEvent(t, i + 1, VoltageEventKind.SWELL, hi))
            elif hi < self.swell_rearm_v:
                self.swell_armed[i] = True
        self.quiet = all(self.sag_armed) and all(self.swell_armed)
        return events


class PowerFailureMonitor:
    """Counts power failures in any phase and logs the long ones (DSMR 5.0.2 §6.11)."""

    __slots__ = ("count", "down_since", "log", "long_count", "long_failure_s")

    def __init__(self, long_failure_s: float) -> None:
        self.long_failure_s = long_failure_s
        self.count = 0
        self.long_count = 0
        self.log: list[PowerFailureRecord] = []
        """Long failures, most recent first, at most `LOG_SIZE`."""
        self.down_since: float | None = None

    def update(self, t: float, any_down: bool) -> PowerFailureRecord | None:
        """The second starting at sim time `t`; returns the failure that ended with it, if any."""
        if any_down:
            if self.down_since is None:
                self.down_since = t
            return None
        start = self.down_since
        if start is None:
            return None
        self.down_since = None
        exact = t - start
        record = PowerFailureRecord(start, t, round(exact), exact >= self.long_failure_s - 1e-6)
        self.count += 1
        if record.long:
            self.long_count += 1
            self.log.insert(0, record)
            del self.log[LOG_SIZE:]
        return record


__all__ = [
    "HYSTERESIS",
    "INTERRUPTION",
    "LOG_SIZE",
    "PowerFailureMonitor",
    "PowerFailureRecord",
    "VoltageEvent",
    "VoltageEventKind",
    "VoltageQuality",
]
