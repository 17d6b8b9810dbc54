"""The LPC/LPP Controllable System state machine: all 12 transitions with their requirement IDs,
timing edges, failsafe rules, persistence, the LPP twin, and a simulated day."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridedge.clock import SimClock
from gridedge.home.cem.failsafe_store import FailsafeStore, FailsafeStoreError
from gridedge.home.cem.limits import LimitConfig, LimitMachine, LpcState, Transition
from gridedge.model.limits import Direction, FailsafeValues, PowerLimit

C = Direction.CONSUMPTION
P = Direction.PRODUCTION
H = 3600.0

INIT = LpcState.INIT
CONTROLLED = LpcState.UNLIMITED_CONTROLLED
LIMITED = LpcState.LIMITED
FAILSAFE = LpcState.FAILSAFE
AUTONOMOUS = LpcState.UNLIMITED_AUTONOMOUS

# The 12 transitions of notes §1.1: number -> (from, to).
TRANSITIONS = {
    1: (INIT, CONTROLLED),
    2: (INIT, LIMITED),
    3: (INIT, AUTONOMOUS),
    4: (CONTROLLED, LIMITED),
    5: (CONTROLLED, FAILSAFE),
    6: (LIMITED, CONTROLLED),
    7: (LIMITED, FAILSAFE),
    8: (FAILSAFE, CONTROLLED),
    9: (FAILSAFE, LIMITED),
    10: (FAILSAFE, AUTONOMOUS),
    11: (AUTONOMOUS, CONTROLLED),
    12: (AUTONOMOUS, LIMITED),
}


def on(value: float, duration: float | None = None, direction: Direction = C) -> PowerLimit:
    return PowerLimit(value, True, duration, direction)


def off(direction: Direction = C) -> PowerLimit:
    return PowerLimit(0.0, False, None, direction)


def only(trs: list[Transition] | tuple[Transition, ...]) -> Transition:
    assert len(trs) == 1, trs
    return trs[0]


def check(tr: Transition, number: int, at: float, requirement: str) -> None:
    assert tr.number == number
    assert (tr.from_state, tr.to_state) == TRANSITIONS[number]
    assert tr.at == pytest.approx(at)
    assert requirement in tr.requirements, tr.requirements


def controlled_at(t: float, **cfg: object) -> LimitMachine:
    """A machine that reached unlimited/controlled at `t` (heartbeat and deactivated limit)."""
    m = LimitMachine(C, 0.0, LimitConfig(**cfg))  # type: ignore[arg-type]
    m.heartbeat(t)
    assert m.write_limit(off(), t).accepted
    return m


def failsafe_at(**cfg: object) -> tuple[LimitMachine, float]:
    """A machine in failsafe since t=130 (heartbeat and limit at 10, then silence)."""
    m = controlled_at(10.0, **cfg)
    check(only(m.tick(130.0)), 5, 130.0, "LPC-911/912")
    return m, 130.0


# --------------------------------------------------------------------------- start (LPC-901)


def test_start_in_init_with_failsafe_limit_applied_at_once() -> None:
    m = LimitMachine(C, 1000.0)
    assert m.state is INIT
    assert m.effective_limit_w(1000.0) == 4200.0  # evcc default FCAPL, LPC-901 / LPC-TS-017
    r = m.report(1000.0)
    assert r.state is INIT and not r.limit_active and "LPC-901" in r.reason
    assert r.nominal_max_w == 24150.0


# --------------------------------------------------------------------------- transitions 1-4


def test_t1_init_to_controlled_on_heartbeat_and_deactivated_limit() -> None:
    m = LimitMachine(C, 0.0)
    assert m.heartbeat(10.0) == []
    r = m.write_limit(off(), 11.0)
    assert r.accepted
    check(only(r.transitions), 1, 11.0, "LPC-913")
    assert "LPC-TS-036/037" in r.transitions[0].requirements
    assert m.state is CONTROLLED and m.effective_limit_w(11.0) is None


def test_t2_init_to_limited_on_heartbeat_and_activated_limit() -> None:
    m = LimitMachine(C, 0.0)
    m.heartbeat(10.0)
    r = m.write_limit(on(3000), 12.0)
    check(only(r.transitions), 2, 12.0, "LPC-913")
    assert m.effective_limit_w(12.0) == 3000.0
    assert m.report(12.0).limit_active


def test_t3_init_timeout_at_120_s_not_before() -> None:
    m = LimitMachine(C, 0.0)
    assert m.tick(119.0) == []
    assert m.state is INIT and m.effective_limit_w(119.0) == 4200.0
    check(only(m.tick(121.0)), 3, 120.0, "LPC-906")
    assert m.state is AUTONOMOUS and m.effective_limit_w(121.0) is None


def test_init_timeout_runs_from_start_even_with_a_heartbeat_but_no_limit() -> None:
    m = LimitMachine(C, 0.0)
    m.heartbeat(100.0)
    check(only(m.tick(121.0)), 3, 120.0, "LPC-906")


def test_t4_controlled_to_limited() -> None:
    m = controlled_at(10.0)
    m.heartbeat(50.0)
    r = m.write_limit(on(5000), 55.0)
    check(only(r.transitions), 4, 55.0, "LPC-009/1")
    assert m.effective_limit_w(55.0) == 5000.0


# --------------------------------------------------------------------------- transitions 5-7


def test_t5_heartbeat_timeout_119_vs_121_s() -> None:
    m = controlled_at(10.0)
    assert m.tick(129.0) == []  # 119 s after the heartbeat
    assert m.state is CONTROLLED
    check(only(m.tick(131.0)), 5, 130.0, "LPC-911/912")  # 121 s after: failsafe since 120 s
    assert m.effective_limit_w(131.0) == 4200.0
    assert not m.report(131.0).limit_active


def test_heartbeats_every_60_s_keep_control_for_hours() -> None:
    m = controlled_at(0.0)
    for k in range(1, 600):
        assert m.heartbeat(60.0 * k) == []
    assert m.state is CONTROLLED


def test_t6_limited_to_controlled_on_deactivation() -> None:
    m = controlled_at(10.0)
    m.write_limit(on(5000), 20.0)
    r = m.write_limit(off(), 30.0)
    check(only(r.transitions), 6, 30.0, "LPC-TS-025/026")
    assert m.effective_limit_w(30.0) is None


def test_t6_limit_with_duration_expires_exactly_on_time() -> None:
    m = controlled_at(10.0)
    m.write_limit(on(5000, duration=50.0), 20.0)
    assert m.tick(69.9) == []
    assert m.effective_limit_w(69.9) == 5000.0
    check(only(m.tick(70.0)), 6, 70.0, "LPC-TS-025/026")
    assert m.effective_limit_w(70.0) is None
    report = m.report(70.0)
    assert report.limit is not None and not report.limit.active


@pytest.mark.parametrize("duration", [None, 0.0])
def test_limit_without_duration_never_expires(duration: float | None) -> None:
    """APCL_DUR_02 (evcc PR 32492): Duration 0 / no duration means no expiry."""
    m = controlled_at(0.0)
    m.write_limit(on(3500, duration=duration), 1.0)
    for k in range(1, 24 * 60):
        assert m.heartbeat(60.0 * k) == []
    assert m.state is LIMITED and m.effective_limit_w(24 * H - 60) == 3500.0


def test_t7_limited_to_failsafe_on_heartbeat_timeout() -> None:
    m = controlled_at(10.0)
    m.heartbeat(40.0)
    m.write_limit(on(6000), 41.0)
    assert m.tick(159.0) == []
    check(only(m.tick(161.0)), 7, 160.0, "LPC-911/912")
    assert m.effective_limit_w(161.0) == 4200.0
    assert m.report(161.0).limit is None  # APCL deactivated in failsafe (LPC-009/2)


def test_late_tick_fires_every_due_timeout_at_its_own_deadline() -> None:
    m = controlled_at(10.0)
    m.write_limit(on(6000, duration=30.0), 20.0)
    trs = m.tick(10_000.0)
    assert [t.number for t in trs] == [6, 5]
    assert [t.at for t in trs] == [50.0, 130.0]
    assert m.history[-2:] == tuple(trs)


# --------------------------------------------------------------------------- failsafe: 8, 9, 10


def test_t8_failsafe_to_controlled_needs_heartbeat_and_limit() -> None:
    m, _ = failsafe_at()
    assert m.heartbeat(500.0) == []
    assert m.state is FAILSAFE and m.effective_limit_w(500.0) == 4200.0  # heartbeat alone: no exit
    r = m.write_limit(off(), 510.0)
    check(only(r.transitions), 8, 510.0, "LPC-916")
    assert m.effective_limit_w(510.0) is None


def test_t9_failsafe_to_limited_leaves_at_once_within_the_minimum_duration() -> None:
    """evcc PR 29705: HB + limit leaves failsafe immediately, not after the 2 h minimum."""
    m, entered = failsafe_at()
    m.heartbeat(entered + 60.0)
    r = m.write_limit(on(7000), entered + 61.0)
    check(only(r.transitions), 9, entered + 61.0, "LPC-916")
    assert m.effective_limit_w(entered + 61.0) == 7000.0


def test_heartbeat_alone_never_leaves_failsafe_before_the_recovery_window_ends() -> None:
    m, entered = failsafe_at()
    hb = entered + 1000.0
    m.heartbeat(hb)
    m.heartbeat(hb + 60.0)
    assert m.tick(hb + 119.0) == []
    assert m.state is FAILSAFE and m.effective_limit_w(hb + 119.0) == 4200.0


def test_t10_lpc921_recovery_window_119_vs_121_s() -> None:
    m, entered = failsafe_at()
    hb = entered + 1000.0
    m.heartbeat(hb)
    m.heartbeat(hb + 60.0)  # communication is up, but the EG states no limit
    assert m.tick(hb + 119.0) == []
    check(only(m.tick(hb + 121.0)), 10, hb + 120.0, "LPC-921")
    assert m.effective_limit_w(hb + 121.0) is None


def test_recovery_window_does_not_unlimit_when_the_heartbeat_is_lost_again() -> None:
    m, entered = failsafe_at()
    m.heartbeat(entered + 10.0)  # one heartbeat, then silence again
    assert m.tick(entered + 10.0 + 121.0) == []
    assert m.state is FAILSAFE
    assert "lost again" in m.report(entered + 200.0).reason
    hb = entered + 300.0
    m.heartbeat(hb)  # the window opens again
    m.heartbeat(hb + 60.0)
    check(only(m.tick(hb + 120.0)), 10, hb + 120.0, "LPC-921")


def test_t10_lpc922_failsafe_duration_expiry_when_configured_autonomous() -> None:
    m, entered = failsafe_at(on_failsafe_expiry="autonomous")
    assert m.tick(entered + 2 * H - 1.0) == []  # stays in failsafe for the full 2 h (LPC-TS-012)
    assert m.effective_limit_w(entered + 2 * H - 1.0) == 4200.0
    check(only(m.tick(entered + 2 * H + 1.0)), 10, entered + 2 * H, "LPC-922")
    assert m.effective_limit_w(entered + 2 * H + 1.0) is None


def test_stay_keeps_failsafe_limit_after_the_minimum_while_heartbeats_are_missing() -> None:
    """evcc PR 29705: never silently unlimit on a prolonged outage (the default)."""
    m, entered = failsafe_at()
    assert m.config.on_failsafe_expiry == "stay"
    assert m.tick(entered + 20 * H) == []
    assert m.state is FAILSAFE and m.effective_limit_w(entered + 20 * H) == 4200.0
    assert "expired" in m.report(entered + 20 * H).reason
    back = entered + 20 * H
    m.heartbeat(back + 5.0)
    check(only(m.write_limit(off(), back + 6.0).transitions), 8, back + 6.0, "LPC-916")


def test_failsafe_duration_written_by_the_energy_guard_is_respected() -> None:
    m = controlled_at(10.0, on_failsafe_expiry="autonomous")
    assert m.write_failsafe(FailsafeValues(3800.0, 5 * H), 20.0).accepted
    check(only(m.tick(130.1)), 5, 130.0, "LPC-911/912")
    assert m.effective_limit_w(131.0) == 3800.0
    assert m.tick(130.0 + 5 * H - 1.0) == []
    check(only(m.tick(130.0 + 5 * H)), 10, 130.0 + 5 * H, "LPC-922")


# --------------------------------------------------------------------------- transitions 11, 12


def test_t11_autonomous_to_controlled() -> None:
    m = LimitMachine(C, 0.0)
    m.tick(121.0)
    m.heartbeat(300.0)
    r = m.write_limit(off(), 301.0)
    check(only(r.transitions), 11, 301.0, "LPC-918..920")
    assert m.state is CONTROLLED


def test_t12_autonomous_to_limited() -> None:
    m = LimitMachine(C, 0.0)
    m.tick(121.0)
    m.heartbeat(300.0)
    r = m.write_limit(on(2500, duration=100.0), 301.0)
    check(only(r.transitions), 12, 301.0, "LPC-918..920")
    check(only(m.tick(401.0)), 6, 401.0, "LPC-TS-025/026")


def test_timeout_due_before_a_write_is_reported_first() -> None:
    m = LimitMachine(C, 0.0)
    m.heartbeat(100.0)
    r = m.write_limit(on(3000), 125.0)  # init timed out at 120; heartbeat at 100 still live
    assert [t.number for t in r.transitions] == [3, 12]
    assert r.transitions[0].at == 120.0


# --------------------------------------------------------------------------- rejected writes


@pytest.mark.parametrize("state", ["init", "failsafe", "autonomous"])
def test_write_without_heartbeat_is_ignored(state: str) -> None:
    m = LimitMachine(C, 0.0)
    t = 50.0
    if state == "failsafe":
        m, entered = failsafe_at()
        t = entered + 1000.0
    elif state == "autonomous":
        m.tick(121.0)
        t = 500.0
    before = m.state
    r = m.write_limit(on(1000), t)
    assert not r.accepted and "LPC-TS-036/037" in r.reason and r.transitions == ()
    assert m.state is before
    assert not m.write_limit(off(), t + 1).accepted
    assert not m.write_failsafe(FailsafeValues(1000.0, 3 * H), t + 2).accepted
    assert m.failsafe.limit_w == 4200.0


def test_stale_heartbeat_does_not_authorise_a_write_in_autonomous() -> None:
    m = LimitMachine(C, 0.0)
    m.heartbeat(10.0)
    m.tick(121.0)
    assert not m.write_limit(on(1000), 130.0).accepted  # 120 s after the heartbeat: stale
    assert m.state is AUTONOMOUS


def test_negative_limit_rejected_even_if_it_slips_past_the_message_check() -> None:
    with pytest.raises(ValueError, match="LPC-TS-001"):
        PowerLimit(-100.0, True)
    bad = object.__new__(PowerLimit)  # e.g. a decoder that bypassed __init__
    for name, value in (("value_w", -100.0), ("active", True), ("duration_s", None), ("direction", C)):
        object.__setattr__(bad, name, value)
    m = controlled_at(10.0)
    r = m.write_limit(bad, 20.0)
    assert not r.accepted and "LPC-TS-001" in r.reason and "LPC-TS-035/1" in r.reason
    assert m.state is CONTROLLED


def test_limit_of_the_other_direction_is_rejected() -> None:
    m = controlled_at(10.0)
    r = m.write_limit(on(1000, direction=P), 20.0)
    assert not r.accepted and "production" in r.reason
    assert m.state is CONTROLLED


def test_time_going_backwards_is_an_error() -> None:
    m = controlled_at(10.0)
    with pytest.raises(ValueError, match="never goes backwards"):
        m.tick(5.0)


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"failsafe_duration_min_s: expected 7200\.\.86400 s"):
        LimitConfig(failsafe_duration_min_s=3600.0)
    with pytest.raises(ValueError, match="own_heartbeat_interval_s"):
        LimitConfig(own_heartbeat_interval_s=90.0)
    with pytest.raises(ValueError, match="on_failsafe_expiry"):
        LimitConfig(on_failsafe_expiry="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="failsafe_limit_w: expected the failsafe production limit"):
        LimitMachine(P, 0.0)


# --------------------------------------------------------------------------- deadlines, own heartbeat


def test_next_deadline_and_own_heartbeat_schedule() -> None:
    m = LimitMachine(C, 0.0)
    assert m.heartbeat_due(0.0) and m.next_deadline() == 0.0
    m.heartbeat_sent(0.0)
    assert not m.heartbeat_due(59.9) and m.heartbeat_due(60.0)
    assert m.next_deadline() == 60.0
    m.heartbeat_sent(60.0)
    assert m.next_deadline() == 120.0  # init timeout and the next own heartbeat
    m.heartbeat(100.0)
    m.write_limit(on(4000, duration=10.0), 101.0)
    assert m.next_deadline() == 111.0  # limit expiry
    m.tick(111.0)
    assert m.next_deadline() == 120.0
    m.heartbeat_sent(120.0)
    assert m.next_deadline() == 180.0
    m.heartbeat(170.0)
    assert m.next_deadline() == 180.0
    m.heartbeat_sent(180.0)
    assert m.next_deadline() == 240.0


def test_effective_limit_is_a_pure_query() -> None:
    m = controlled_at(10.0)
    m.write_limit(on(5000), 20.0)
    assert m.effective_limit_w(500.0) == 4200.0  # at 500 the heartbeat has long timed out
    assert m.state is LIMITED  # ... but nothing was committed
    assert m.history[-1].number == 4


# --------------------------------------------------------------------------- persistence (LPC-TS-044)


def test_failsafe_values_survive_a_restart(tmp_path: Path) -> None:
    store = FailsafeStore(tmp_path / "lpc-failsafe.json")
    m1 = LimitMachine(C, 0.0, LimitConfig(on_failsafe_expiry="autonomous"), store=store)
    m1.heartbeat(10.0)
    r = m1.write_failsafe(FailsafeValues(5500.0, 3 * H), 11.0)
    assert r.accepted and "persisted" in r.reason
    # restart: a new machine, new time base, same file
    m2 = LimitMachine(C, 7.0, LimitConfig(on_failsafe_expiry="autonomous"), store=FailsafeStore(store.path))
    assert m2.failsafe == FailsafeValues(5500.0, 3 * H)
    assert m2.effective_limit_w(7.0) == 5500.0  # starts limited by the stored FCAPL (LPC-TS-017)
    m2.heartbeat(20.0)
    m2.write_limit(off(), 21.0)
    m2.tick(141.0)
    assert m2.state is FAILSAFE and m2.effective_limit_w(141.0) == 5500.0
    assert m2.tick(140.0 + 3 * H - 1) == []  # the stored 3 h minimum, not the 2 h default
    assert only(m2.tick(140.0 + 3 * H)).number == 10


def test_corrupt_store_stops_the_machine_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "lpc-failsafe.json"
    path.write_text("{ not json")
    with pytest.raises(FailsafeStoreError, match=str(path)):
        LimitMachine(C, 0.0, store=FailsafeStore(path))


class _FullDisk(FailsafeStore):
    def save(self, values: FailsafeValues) -> None:
        raise OSError(28, "No space left on device")


def test_unwritable_store_still_applies_the_values(tmp_path: Path) -> None:
    m = LimitMachine(C, 0.0, store=_FullDisk(tmp_path / "x.json"))
    m.heartbeat(1.0)
    r = m.write_failsafe(FailsafeValues(4500.0, 2 * H), 2.0)
    assert r.accepted and "NOT persisted" in r.reason
    assert m.effective_limit_w(2.0) == 4500.0


# --------------------------------------------------------------------------- LPP twin


def test_lpp_twin_runs_the_same_machine_for_production() -> None:
    cfg = LimitConfig(failsafe_limit_w=3000.0, nominal_max_w=8000.0)
    m = LimitMachine(P, 0.0, cfg)
    assert m.effective_limit_w(0.0) == 3000.0
    m.heartbeat(10.0)
    check(only(m.write_limit(on(0.0, direction=P), 11.0).transitions), 2, 11.0, "LPP-913")
    assert m.effective_limit_w(11.0) == 0.0  # zero feed-in
    check(only(m.tick(130.0)), 7, 130.0, "LPP-911/912")
    assert m.effective_limit_w(130.0) == 3000.0
    m.heartbeat(200.0)
    check(only(m.write_limit(on(4000.0, 60.0, direction=P), 201.0).transitions), 9, 201.0, "LPP-916")
    check(only(m.tick(261.0)), 6, 261.0, "LPP-TS-025/026")
    assert not m.write_limit(on(1000.0), 262.0).accepted  # a consumption limit
    assert m.report(262.0).direction is P and m.report(262.0).nominal_max_w == 8000.0
    assert all(r.startswith("LPP-") for t in m.history for r in t.requirements)


# --------------------------------------------------------------------------- a simulated day


def test_a_simulated_day_with_sim_clock() -> None:
    day = 24 * H
    clock = SimClock()
    m = LimitMachine(C, clock.monotonic())
    log: list[Transition] = []
    own_heartbeats: list[float] = []
    applied: list[tuple[float, float | None]] = []

    def apply(t: float) -> None:
        limit = m.effective_limit_w(t)
        if not applied or applied[-1][1] != limit:
            applied.append((t, limit))

    async def service() -> None:
        """What the CEM service does: sleep until the next deadline, tick, send heartbeats."""
        while (t := clock.monotonic()) < day:
            log.extend(m.tick(t))
            if m.heartbeat_due(t):
                own_heartbeats.append(t)
                m.heartbeat_sent(t)
            apply(t)
            nd = m.next_deadline()
            assert nd is not None and nd > t
            await clock.sleep(min(nd, day) - t)

    def eg_events() -> list[tuple[float, str, PowerLimit | None]]:
        ev: list[tuple[float, str, PowerLimit | None]] = []
        ev += [(30.0 + 60.0 * k, "hb", None) for k in range(int((13 * H - 30) // 60) + 1)]
        ev += [(16 * H + 60.0 * k, "hb", None) for k in range(int(8 * H // 60))]
        ev += [
            (31.0, "write", off()),
            (8 * H + 1, "write", on(4200.0, duration=2 * H)),
            (12 * H + 1, "write", on(5000.0)),
            (16 * H + 10, "write", on(6000.0)),
            (20 * H + 1, "write", off()),
        ]
        return sorted(ev, key=lambda e: e[0])

    async def energy_guard() -> None:
        for at, kind, limit in eg_events():
            await clock.sleep(at - clock.monotonic())
            if kind == "hb":
                log.extend(m.heartbeat(at))
            else:
                assert limit is not None
                r = m.write_limit(limit, at)
                assert r.accepted, r.reason
                log.extend(r.transitions)
            apply(at)

    async def main() -> None:
        import asyncio

        await asyncio.gather(service(), energy_guard())

    clock.run(main())

    last_hb = 30.0 + 60.0 * ((13 * H - 30) // 60)
    assert [(t.number, t.at) for t in log] == [
        (1, 31.0),
        (4, 8 * H + 1),
        (6, 10 * H + 1),  # the 2 h limit expired
        (4, 12 * H + 1),
        (7, last_hb + 120.0),
        (9, 16 * H + 10),  # stayed in failsafe past its 2 h minimum ("stay"), left on HB + limit
        (6, 20 * H + 1),
    ]
    assert len(own_heartbeats) == 24 * 60  # every 60 s (LPC-TS-007)
    assert applied == [
        (0.0, 4200.0),
        (31.0, None),
        (8 * H + 1, 4200.0),
        (10 * H + 1, None),
        (12 * H + 1, 5000.0),
        (last_hb + 120.0, 4200.0),
        (16 * H + 10, 6000.0),
        (20 * H + 1, None),
    ]


# --------------------------------------------------------------------------- property


_event = st.one_of(
    st.tuples(st.just("hb"), st.floats(0.0, 200.0)),
    st.tuples(st.just("tick"), st.floats(0.0, 9000.0)),
    st.tuples(
        st.just("on"), st.floats(0.0, 200.0), st.floats(0.0, 30_000.0), st.sampled_from([None, 0.0, 90.0])
    ),
    st.tuples(st.just("off"), st.floats(0.0, 200.0)),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_event, max_size=40),
    st.sampled_from(["stay", "autonomous"]),
    st.sampled_from([C, P]),
)
def test_property_effective_limit_never_none_in_init_or_failsafe_and_never_negative(
    events: list[tuple[object, ...]], expiry: str, direction: Direction
) -> None:
    cfg = LimitConfig(failsafe_limit_w=3700.0, on_failsafe_expiry=expiry)  # type: ignore[arg-type]
    m = LimitMachine(direction, 0.0, cfg)
    t = 0.0
    prev = INIT
    for ev in events:
        kind, dt = ev[0], ev[1]
        assert isinstance(dt, float)
        t += dt
        if kind == "hb":
            trs = m.heartbeat(t)
        elif kind == "tick":
            trs = m.tick(t)
        elif kind == "on":
            value, duration = ev[2], ev[3]
            assert isinstance(value, float)
            trs = list(m.write_limit(PowerLimit(value, True, duration, direction), t).transitions)  # type: ignore[arg-type]
        else:
            trs = list(m.write_limit(PowerLimit(0.0, False, None, direction), t).transitions)
        for tr in trs:
            assert tr.from_state is prev and TRANSITIONS[tr.number] == (tr.from_state, tr.to_state)
            assert tr.requirements and all(r.startswith(direction.use_case + "-") for r in tr.requirements)
            prev = tr.to_state
        assert m.state is prev
        for probe in (t, t + 50.0, t + 5000.0):
            report = m.report(probe)
            limit = m.effective_limit_w(probe)
            assert limit == report.effective_limit_w
            if report.state in (INIT, FAILSAFE):
                assert limit == 3700.0
            elif report.state is LIMITED:
                assert limit is not None and report.limit is not None and limit == report.limit.value_w
            else:
                assert limit is None
            assert limit is None or limit >= 0.0
