"""The built-in versions of the three functions, cut out of the one `Monitor`.

Each built-in owns a `Monitor` of its own and keeps only the records of its slot. Why wrap rather
than rewrite: the `Monitor` is tested against a real meter capture (tests/home/gateway), and its
rules (which reading closes which boundary, when a quarter is sent, when a silence is a power
failure) must not drift between "the gateway" and "the gateway's load-curve function". The cost is
that each of the three computes a little it then throws away (a few microseconds a reading).

The built-ins are version `BUILTIN_VERSION` of their slot: a package must be newer to replace one,
and a rollback can always fall back to one.

The load-curve built-in exports its state (schema `LOAD_CURVE_STATE`): the register at the
boundaries of the quarters still open, the last reading, and which quarters have readings. A
successor that understands it continues the quarter in progress without a gap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from gridedge.home.gateway.functions.api import SLOTS, FunctionContext, Origin, Release, SlotSpec
from gridedge.home.gateway.monitoring import Monitor, _Last
from gridedge.model.reading import MeterReading
from gridedge.model.telemetry import TelemetryRecord

__all__ = [
    "BUILTIN_VERSION",
    "LOAD_CURVE_STATE",
    "EventFunction",
    "LoadCurveFunction",
    "MonitorSlice",
    "MonitoringFunction",
    "builtin_releases",
]

BUILTIN_VERSION = "1.0.0"
LOAD_CURVE_STATE = "gridedge.load-curve/1"


class MonitorSlice:
    """A `Monitor` of one's own, keeping the records of one slot. Subclass per slot."""

    slot: SlotSpec = SLOTS[0]
    version: str = BUILTIN_VERSION

    def __init__(self, context: FunctionContext) -> None:
        self.context = context
        self.monitor = Monitor(context.monitor)

    @property
    def name(self) -> str:
        return self.slot.name

    def on_reading(self, reading: MeterReading, arrival: float) -> Sequence[TelemetryRecord]:
        return self._keep(self.monitor.on_reading(reading, arrival))

    def tick(self, now: float) -> Sequence[TelemetryRecord]:
        return self._keep(self.monitor.tick(now))

    def _keep(self, records: list[TelemetryRecord]) -> list[TelemetryRecord]:
        return [r for r in records if isinstance(r, self.slot.produces)]


class EventFunction(MonitorSlice):
    slot = SLOTS[0]


class LoadCurveFunction(MonitorSlice):
    slot = SLOTS[1]

    def state(self) -> Mapping[str, object] | None:
        m = self.monitor
        last = m._last
        return {
            "schema": LOAD_CURVE_STATE,
            "interval_s": self.context.monitor.curve_interval_s,
            "period_s": self.context.monitor.curve_period_s,
            "last": None if last is None else [last.t, last.arrival, last.import_wh, last.export_wh],
            "boundaries": [[b, imp, exp] for b, (imp, exp) in sorted(m._boundaries.items())],
            "quarters": sorted(m._quarters),
        }

    def restore(self, state: Mapping[str, object]) -> None:
        """Take over a predecessor's state; ValueError if it is not `LOAD_CURVE_STATE` with the
        same interval and period (then the swap is refused rather than curves silently wrong)."""
        cfg = self.context.monitor
        if state.get("schema") != LOAD_CURVE_STATE:
            raise ValueError(f"state schema {state.get('schema')!r}, expected {LOAD_CURVE_STATE!r}")
        if (state.get("interval_s"), state.get("period_s")) != (cfg.curve_interval_s, cfg.curve_period_s):
            raise ValueError("state of another curve interval or period")
        last: Any = state.get("last")
        boundaries: Any = state.get("boundaries", [])
        quarters: Any = state.get("quarters", [])
        m = Monitor(cfg)
        if last is not None:
            t, arrival, imp, exp = last
            m._last = _Last(float(t), float(arrival), int(imp), int(exp))
            # the samples' schedule is irrelevant here; the boundary logic needs only `_last`
            m._next_sample = m._next_nrtd = -math.inf
        m._boundaries = {int(b): (int(i), int(e)) for b, i, e in boundaries}
        m._quarters = {int(q) for q in quarters}
        self.monitor = m


class MonitoringFunction(MonitorSlice):
    slot = SLOTS[2]


_BUILTINS: dict[str, type[MonitorSlice]] = {
    "events": EventFunction,
    "load-curves": LoadCurveFunction,
    "monitoring": MonitoringFunction,
}


def builtin_releases() -> dict[str, Release]:
    """Slot name -> its built-in release, in `SLOTS` order."""
    return {
        spec.name: Release(Origin(spec.name, BUILTIN_VERSION, builtin=True), _BUILTINS[spec.name])
        for spec in SLOTS
    }
