"""The pure decision logic of one DSO -> site link: heartbeats, limits, reconnection, resync."""

from __future__ import annotations

import pytest

from gridedge.grid.dso.site_link import LinkTiming, Rejection, Send, SiteLink
from gridedge.model.limits import Direction, FailsafeValues, Heartbeat, LimitState, LpcState, PowerLimit

LPC = Direction.CONSUMPTION
FS = FailsafeValues(4200.0, 7200.0, LPC)


def _link(**timing: float) -> SiteLink:
    return SiteLink("home", LPC, FS, 0.0, LinkTiming(**timing))


def _leaves(sends: list[Send]) -> list[str]:
    return [s.leaf for s in sends]


def _state(state: LpcState, limit: PowerLimit | None = None, t: float = 0.0) -> LimitState:
    return LimitState(LPC, state, None, limit, state is LpcState.LIMITED, FS, 24150.0, t, t, "test")


def test_heartbeats_every_period_with_an_increasing_counter_and_the_120_s_timeout() -> None:
    link = _link()
    beats = []
    t = 0.0
    while t <= 600.0:
        for s in link.tick(t):
            assert s.leaf == "heartbeat" and isinstance(s.payload, Heartbeat)
            beats.append((t, s.payload))
        deadline = link.next_deadline()
        assert deadline is not None
        t = deadline
    assert [b.counter for _, b in beats] == list(range(1, 12))
    assert [tb for tb, _ in beats] == [60.0 * i for i in range(11)]
    assert all(b.timeout_s == 120.0 for _, b in beats)


def test_first_contact_and_reconnection_send_heartbeat_failsafe_and_limit_at_once() -> None:
    link = _link()
    link.tick(0.0)
    link.request_limit("operator", 5000.0, 600.0, 10.0)
    sends = link.on_cs_heartbeat(Heartbeat(1), 20.0)
    assert _leaves(sends) == ["heartbeat", "failsafe", "limit"]
    assert sends[1].payload == FS
    assert sends[2].payload == PowerLimit(5000.0, True, 590.0, LPC)
    assert "LPC-913" in sends[2].reason
    # heard again within its timeout: nothing to do
    assert link.on_cs_heartbeat(Heartbeat(2), 80.0) == []
    assert link.status(80.0).connected and link.status(80.0).reconnects == 1
    # silent for longer than its timeout, then back: the whole sequence again
    assert not link.status(201.0).connected
    sends = link.on_cs_heartbeat(Heartbeat(1), 300.0)
    assert _leaves(sends) == ["heartbeat", "failsafe", "limit"]
    assert sends[2].payload == PowerLimit(5000.0, True, 310.0, LPC)
    assert link.status(300.0).reconnects == 2


def test_a_site_timeout_stated_in_its_heartbeat_is_honoured() -> None:
    link = _link()
    link.on_cs_heartbeat(Heartbeat(1, timeout_s=300.0), 0.0)
    assert link.status(299.0).connected
    assert link.on_cs_heartbeat(Heartbeat(2, timeout_s=300.0), 299.0) == []


def test_without_a_limit_the_reconnection_sends_a_deactivated_one() -> None:
    link = _link()
    sends = link.on_cs_heartbeat(Heartbeat(1), 5.0)
    assert sends[-1].payload == PowerLimit(0.0, False, None, LPC)


def test_the_lowest_request_binds_and_expiries_hand_over() -> None:
    link = _link()
    link.on_cs_heartbeat(Heartbeat(1), 0.0)
    [s] = link.request_limit("operator", 9000.0, None, 1.0)
    assert s.payload == PowerLimit(9000.0, True, None, LPC)
    [s] = link.request_limit("congestion", 6000.0, 100.0, 2.0)
    assert s.payload == PowerLimit(6000.0, True, 100.0, LPC)
    assert link.request_limit("operator", 8000.0, None, 3.0) == []  # not binding: nothing to send
    assert link.next_deadline() == 60.0
    assert _leaves(link.tick(60.0)) == ["heartbeat"]
    assert link.next_deadline() == 102.0  # the congestion request's expiry comes first
    [s] = link.tick(102.0)
    assert s.payload == PowerLimit(8000.0, True, None, LPC)
    [s] = link.clear_limit("operator", 110.0)
    assert s.payload == PowerLimit(8000.0, False, None, LPC)
    assert link.clear_limit("operator", 111.0) == []


def test_stop_and_resume_heartbeat() -> None:
    link = _link()
    link.on_cs_heartbeat(Heartbeat(1), 0.0)
    assert link.stop_heartbeat(10.0) == []
    assert link.next_deadline() is None
    assert link.tick(500.0) == []
    assert link.request_limit("operator", 7000.0, None, 510.0) == []  # kept for later
    assert link.on_cs_heartbeat(Heartbeat(9), 520.0) == []
    sends = link.resume_heartbeat(600.0)
    assert _leaves(sends) == ["heartbeat", "failsafe", "limit"]
    assert sends[2].payload == PowerLimit(7000.0, True, None, LPC)
    assert link.resume_heartbeat(601.0) == []
    assert link.next_deadline() == 660.0


def test_a_site_in_failsafe_or_with_the_wrong_limit_is_resent_rate_limited() -> None:
    link = _link(resync_interval_s=10.0)
    link.on_cs_heartbeat(Heartbeat(1), 0.0)
    link.request_limit("operator", 5000.0, None, 0.0)
    ok = _state(LpcState.LIMITED, PowerLimit(5000.0, True))
    assert link.on_state(ok, 30.0) == []
    assert _leaves(link.on_state(_state(LpcState.FAILSAFE), 31.0)) == ["heartbeat", "failsafe", "limit"]
    assert link.on_state(_state(LpcState.FAILSAFE), 35.0) == []  # within the interval
    wrong = _state(LpcState.LIMITED, PowerLimit(4000.0, True))
    sends = link.on_state(wrong, 45.0)
    assert sends and "4000" in sends[-1].reason
    # the state stays wrong: each of its heartbeats brings another answer
    assert _leaves(link.on_cs_heartbeat(Heartbeat(2), 60.0)) == ["heartbeat", "failsafe", "limit"]
    assert link.on_state(ok, 61.0) == []
    assert link.on_cs_heartbeat(Heartbeat(3), 120.0) == []


def test_rejections_are_counted_and_kept() -> None:
    link = _link()
    for i in range(40):
        link.on_rejected(Rejection(float(i), "site/home/lpc/limit", "dso", f"no {i}"), float(i))
    status = link.status(40.0)
    assert status.rejections == 40 and status.last_rejection is not None
    assert status.last_rejection.reason == "no 39"
    assert len(link.rejections) == SiteLink.REJECTIONS_KEPT


def test_bad_values_and_timing_are_refused() -> None:
    link = _link()
    with pytest.raises(ValueError, match="LPC-TS-001"):
        link.request_limit("x", -1.0, None, 0.0)
    with pytest.raises(ValueError, match="LPC-TS-006"):
        LinkTiming(heartbeat_period_s=61.0)
    with pytest.raises(ValueError, match="heartbeat_timeout_s"):
        LinkTiming(heartbeat_period_s=60.0, heartbeat_timeout_s=60.0)
    with pytest.raises(ValueError, match="production"):
        SiteLink("home", LPC, FailsafeValues(1.0, 7200.0, Direction.PRODUCTION), 0.0)
