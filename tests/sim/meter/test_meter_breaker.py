"""Supply switch: limiter and fuse supervision timing, class 70 mode 1 reconnection rules."""

from __future__ import annotations

from typing import Any

from meter_support import meter, powered, run, second

from gridedge.model.reading import BreakerState, Measure
from gridedge.sim.meter import NO_FUSE_A, NO_LIMIT_W, BreakerCause, BreakerChange, VirtualMeter


def _trip_time(m: VirtualMeter, power: tuple[float, float, float], **kw: Any) -> float | None:
    """Feed `power` from t = 100 and return the end of the second in which the switch opened."""
    run(m, 0, 100, (100.0, 0, 0))
    for t in range(100, 300):
        m.update(second(t, power, **kw))
        if m.breaker_state is not BreakerState.CONNECTED:
            return t + 1.0
    return None


def test_limiter_trips_at_the_delay_not_a_second_before() -> None:
    m = meter(limiter_kw=5.0, breaker_delay_s=30)
    run(m, 0, 100, (100.0, 0, 0))
    run(m, 100, 129, (3000.0, 3000.0, 0))  # excess for 29 s: seconds 100..128
    assert m.breaker_state is BreakerState.CONNECTED and m.supplies_load
    r = m.update(second(129, (3000.0, 3000.0, 0)))  # the 30th second
    assert m.breaker_state is BreakerState.READY_FOR_RECONNECTION and not m.supplies_load
    assert r is not None and r.breaker_state is BreakerState.READY_FOR_RECONNECTION
    assert m.events[-1] == BreakerChange(130.0, BreakerState.READY_FOR_RECONNECTION, BreakerCause.LIMITER)


def test_limiter_works_in_both_directions_and_only_above_the_threshold() -> None:
    assert _trip_time(meter(limiter_kw=5.0, breaker_delay_s=10), (-3000.0, -3000.0, 0)) == 110.0
    assert _trip_time(meter(limiter_kw=5.0, breaker_delay_s=10), (2500.0, 2500.0, 0)) is None  # = limit
    assert _trip_time(meter(limiter_kw=5.0, breaker_delay_s=0), (5001.0, 0, 0)) == 101.0
    # net power counts: 6 kW import on L1 against 2 kW export on L2 is 4 kW
    assert _trip_time(meter(limiter_kw=5.0, breaker_delay_s=10), (6000.0, -2000.0, 0)) is None


def test_a_break_in_the_excess_restarts_the_delay() -> None:
    m = meter(limiter_kw=5.0, breaker_delay_s=30)
    run(m, 0, 29, (6000.0, 0, 0))
    run(m, 29, 30, (4000.0, 0, 0))
    run(m, 30, 59, (6000.0, 0, 0))
    assert m.breaker_state is BreakerState.CONNECTED
    run(m, 59, 60, (6000.0, 0, 0))
    assert m.breaker_state is BreakerState.READY_FOR_RECONNECTION


def test_fuse_supervision_watches_every_phase_current() -> None:
    # 25 A on L3 for 20 s: fine; 25.5 A: trips after the delay
    assert _trip_time(meter(fuse_a=25, breaker_delay_s=20), (0, 0, 0), current_a=(1.0, 2.0, 25.0)) is None
    m = meter(fuse_a=25, breaker_delay_s=20)
    assert _trip_time(m, (0, 0, 0), current_a=(1.0, 2.0, 25.5)) == 120.0
    assert isinstance(m.events[-1], BreakerChange) and m.events[-1].cause is BreakerCause.FUSE
    # export current counts as much as import current
    assert _trip_time(meter(fuse_a=25, breaker_delay_s=5), (-6000.0, 0, 0)) == 105.0


def test_luxembourg_limiter_supervises_apparent_power() -> None:
    # 4 kW at power factor 0.5 is 8 kVA: over a 6 kVA Smarty limit, under a 6 kW Belgian one
    lu = meter(profile="lu", limiter_kw=6.0, breaker_delay_s=5)
    be = meter(profile="be", limiter_kw=6.0, breaker_delay_s=5)
    assert _trip_time(lu, (4000.0, 0, 0), power_factor=0.5) == 105.0
    assert _trip_time(be, (4000.0, 0, 0), power_factor=0.5) is None


def test_button_reconnects_only_a_switch_ready_for_reconnection() -> None:
    m = meter(limiter_kw=5.0, breaker_delay_s=0)
    m.press_reconnect(1.0)  # connected: nothing happens
    assert m.breaker_state is BreakerState.CONNECTED and m.events == ()
    run(m, 0, 1, (6000.0, 0, 0))
    assert m.breaker_state is BreakerState.READY_FOR_RECONNECTION
    # the household draws nothing while the switch is open: no further trip or change
    run(m, 1, 10, (0.0, 0, 0))
    m.press_reconnect(10.0)
    assert m.breaker_state is BreakerState.CONNECTED
    assert m.events[-1] == BreakerChange(10.0, BreakerState.CONNECTED, BreakerCause.BUTTON)


def test_remote_disconnect_blocks_the_button_until_the_dso_arms_it() -> None:
    m = meter()
    m.disconnect(5.0)
    assert m.breaker_state is BreakerState.DISCONNECTED and not m.supplies_load
    m.press_reconnect(6.0)
    assert m.breaker_state is BreakerState.DISCONNECTED
    r = powered(run(m, 0, 1))[0]
    assert r.breaker_state is BreakerState.DISCONNECTED
    m.reconnect_remote(7.0)  # mode 1: remote reconnect arms, it does not close
    assert m.breaker_state is BreakerState.READY_FOR_RECONNECTION
    m.reconnect_remote(7.5)  # no second transition
    m.press_reconnect(8.0)
    assert m.breaker_state is BreakerState.CONNECTED
    m.reconnect_remote(9.0)  # connected: nothing to reconnect
    assert [(e.state, e.cause) for e in m.events if isinstance(e, BreakerChange)] == [
        (BreakerState.DISCONNECTED, BreakerCause.REMOTE_DISCONNECT),
        (BreakerState.READY_FOR_RECONNECTION, BreakerCause.REMOTE_RECONNECT),
        (BreakerState.CONNECTED, BreakerCause.BUTTON),
    ]
    # a tripped switch can be disconnected remotely too, and then the button is dead
    m = meter(limiter_kw=1.0, breaker_delay_s=0)
    run(m, 0, 1, (2000.0, 0, 0))
    m.disconnect(2.0)
    m.press_reconnect(3.0)
    assert m.breaker_state is BreakerState.DISCONNECTED


def test_power_failure_resets_the_excess_timer() -> None:
    m = meter(limiter_kw=5.0, breaker_delay_s=30)
    run(m, 0, 20, (6000.0, 0, 0))
    assert run(m, 20, 25, voltage_v=0.0) == [None] * 5
    run(m, 25, 54, (6000.0, 0, 0))
    assert m.breaker_state is BreakerState.CONNECTED
    run(m, 54, 55, (6000.0, 0, 0))
    assert m.breaker_state is BreakerState.READY_FOR_RECONNECTION


def test_thresholds_in_the_belgian_telegram() -> None:
    r = powered(run(meter(profile="be"), 0, 1))[0]
    assert r.limiter_threshold == Measure(NO_LIMIT_W, "W")  # 999.9 kW: no limit
    p1 = r.phase(1)
    assert p1 is not None and p1.fuse_threshold_a == NO_FUSE_A == 999.0
    assert all(p.fuse_threshold_a is None for p in r.phases[1:])
    r = powered(run(meter(profile="be", limiter_kw=6.5, fuse_a=40), 0, 1))[0]
    assert r.limiter_threshold == Measure(6500.0, "W")
    assert r.phase(1) is not None and r.phase(1).fuse_threshold_a == 40.0  # type: ignore[union-attr]
    # Luxembourg: kVA; the Netherlands: DSMR 5.0 has neither limiter nor switch object
    lu = powered(run(meter(profile="lu", limiter_kw=6.9), 0, 1))[0]
    assert lu.limiter_threshold == Measure(6900.0, "VA") and lu.breaker_state is BreakerState.CONNECTED
    nl = powered(run(meter(profile="nl", limiter_kw=6.9), 0, 1))[0]
    assert nl.limiter_threshold is None and nl.breaker_state is None
