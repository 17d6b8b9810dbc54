"""The self-test a new version passes before it may replace the running one.

A fresh instance of the candidate is fed a recording of readings - the gateway's own recent
readings when it has enough, else a synthetic 1000 s that exercises every slot (a quarter that
closes, 10 s samples, a voltage sag, a 40 s silence) - with a tick after each, and a last tick
far enough on to close what is open. It fails if a call raises, returns something that is not a
well-formed record of its slot for this meter (`api.check_records`), overruns the per-call budget
too often, or the whole run its budget; or if a fresh instance of the running version, fed the
same recording, produced records and the candidate produced none.

The candidate is not compared record by record with the running version: a new version exists to
produce *different* records. Whether they are right is the grid operator's test before signing;
the gateway checks that they are records and that they come.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from gridedge.home.gateway.functions.api import FunctionContext, GatewayFunction, Release, SlotSpec
from gridedge.home.gateway.functions.health import HealthPolicy, SlowCalls, Timer, guarded_call
from gridedge.model.reading import MeterReading, P1Variant, PhaseReading

__all__ = ["Recording", "run_self_test", "synthetic_recording"]

Recording = Sequence[tuple[MeterReading, float]]
"""(reading, arrival on the core's monotonic scale)."""

_SYNTHETIC_START = datetime(2000, 1, 1, tzinfo=UTC)


def synthetic_recording(meter_id: str, seconds: int = 1000) -> list[tuple[MeterReading, float]]:
    """One reading a second from a quarter's start: varying power, a 20 s sag to 80 % on L1 at
    300 s, and a 40 s silence at 700 s (readings stop, then resume)."""
    out: list[tuple[MeterReading, float]] = []
    wh = 1_000_000.0
    for i in range(seconds):
        if 700 <= i < 740:
            continue
        watts = 1500.0 + 1200.0 * math.sin(i / 60.0)
        wh += watts / 3600.0
        t = _SYNTHETIC_START + timedelta(seconds=i)
        v1 = 184.0 if 300 <= i < 320 else 230.0
        phases = tuple(
            PhaseReading(
                n + 1, voltage_v=v, current_a=round(watts / 3 / v, 2), voltage_sags=0, voltage_swells=0
            )
            for n, v in enumerate((v1, 231.0, 229.0))
        )
        reading = MeterReading(
            P1Variant.DSMR_5, "XXX5\\selftest", timestamp=t, meter_id=meter_id,
            energy_import_kwh={1: round(wh) / 1000}, energy_export_kwh={1: 0.0},
            power_import_w=watts, power_export_w=0.0, phases=phases, power_failures=0, long_power_failures=0,
        )  # fmt: skip
        out.append((reading, t.timestamp()))
    return out


def _run(fn: GatewayFunction, recording: Recording, spec: SlotSpec, meter_id: str,
         policy: HealthPolicy, timer: Timer) -> tuple[int, str | None]:  # fmt: skip
    """(records produced, why it failed or None)."""
    produced = 0
    slow = SlowCalls(policy)
    start = timer()
    last = recording[-1][1] if recording else 0.0
    calls: list[Callable[[], object]] = []
    for reading, arrival in recording:
        calls.append(functools.partial(fn.on_reading, reading, arrival))
        calls.append(functools.partial(fn.tick, arrival))
    calls.append(functools.partial(fn.tick, last + 2 * 3600.0))
    for call in calls:
        result = guarded_call(call, spec, meter_id, timer)
        if result.error is not None:
            return produced, result.error
        produced += len(result.records)
        too_slow = slow.note(result.elapsed_s)
        if too_slow is not None:
            return produced, too_slow
        if timer() - start > policy.selftest_budget_s:
            return produced, f"took longer than {policy.selftest_budget_s:g} s"
    return produced, None


def run_self_test(
    candidate: Release, reference: Release | None, context: FunctionContext, spec: SlotSpec,
    recording: Recording, policy: HealthPolicy, timer: Timer,
) -> str | None:  # fmt: skip
    """None if the candidate passes, else why not."""
    if len(recording) < policy.min_recording:
        recording = synthetic_recording(context.meter_id)
    try:
        fn = candidate.factory(context)
    except Exception as exc:
        return f"could not be created: {exc!r}"[:300]
    produced, why = _run(fn, recording, spec, context.meter_id, policy, timer)
    if why is not None:
        return why
    if produced == 0 and reference is not None:
        try:
            ref_produced, ref_why = _run(
                reference.factory(context), recording, spec, context.meter_id, policy, timer
            )
        except Exception:
            return None  # the reference itself is broken: no comparison to make
        if ref_why is None and ref_produced > 0:
            return (
                f"produced no records where {reference.version} produced {ref_produced} "
                f"on the same {len(recording)} readings"
            )
    return None
