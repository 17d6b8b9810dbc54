"""bus.bridge between two in-process buses: the chosen topics cross, both ways, nothing loops."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gridedge.bus.bridge import Bridge
from gridedge.bus.envelope import Envelope
from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock


def test_topics_cross_both_ways_and_others_stay() -> None:
    clock = SimClock(datetime(2025, 1, 1, tzinfo=UTC))
    local, remote = InProcessBus(clock), InProcessBus(clock)
    bridge = Bridge(local, remote, inbound=["site/+/lpc/limit"], outbound=["site/+/lpc/state"], name="mqtt")
    bridge.start()
    got_local: list[Envelope[object]] = []
    got_remote: list[Envelope[object]] = []
    local.subscribe_callback("#", got_local.append)
    remote.subscribe_callback("#", got_remote.append)
    remote.publish("site/a/lpc/limit", {"value_w": 1}, source="dso")
    local.publish("site/a/lpc/state", {"state": "limited"}, source="cem")
    local.publish("site/a/cem/cycle", {"t": 1}, source="cem")  # stays home
    assert [(e.topic, e.source) for e in got_local] == [
        ("site/a/lpc/limit", "mqtt:dso"),
        ("site/a/lpc/state", "cem"),
        ("site/a/cem/cycle", "cem"),
    ]
    assert [(e.topic, e.source) for e in got_remote] == [
        ("site/a/lpc/limit", "dso"),
        ("site/a/lpc/state", "mqtt:cem"),
    ]
    assert (bridge.forwarded_in, bridge.forwarded_out) == (1, 1)
    bridge.close()
    remote.publish("site/a/lpc/limit", {"value_w": 2}, source="dso")
    assert len(got_local) == 3


@pytest.mark.parametrize(
    ("inbound", "outbound"),
    [
        ("site/+/lpc/#", "site/a/lpc/state"),
        ("site/a/#", "#"),
        ("a/+/c", "a/b/+"),
        ("x/y", "x/y"),
        ("a/b", "a/b/#"),
    ],
)
def test_overlapping_filters_are_refused(inbound: str, outbound: str) -> None:
    clock = SimClock(datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="would loop"):
        Bridge(InProcessBus(clock), InProcessBus(clock), inbound=[inbound], outbound=[outbound])


def test_disjoint_filters_are_accepted() -> None:
    clock = SimClock(datetime(2025, 1, 1, tzinfo=UTC))
    a, b = InProcessBus(clock), InProcessBus(clock)
    Bridge(a, b, inbound=["site/+/lpc/limit"], outbound=["site/+/lpc/state"])
    Bridge(a, b, inbound=["a/b"], outbound=["a/b/c"])
