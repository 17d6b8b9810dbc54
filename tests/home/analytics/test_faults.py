"""Fault hints: snippet around a voltage event's start, published on the bus, origin by disturbance power."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from analytics_support import chunks, three_phase

from gridedge.bus import InProcessBus
from gridedge.clock import SimClock
from gridedge.home.analytics import Analytics, FaultHint, FaultOrigin, SampleRing, VoltageEvent

RATE = 4000.0


def test_dip_publishes_a_hint_with_six_cycles_of_samples_and_the_event() -> None:
    bus = InProcessBus(SimClock(datetime(2025, 6, 17, tzinfo=UTC)))
    hints = bus.subscribe("site/+/power-quality/fault-hint", FaultHint)
    events = bus.subscribe("site/home-1/power-quality/event", VoltageEvent)
    v, i, n = three_phase(RATE, 50.0, 1.5, envelope=lambda t: np.where((t >= 0.5) & (t < 0.6), 0.5, 1.0))
    # constant-impedance load: the current follows the voltage, so the site draws less during the dip
    i = i * np.where((np.arange(v.shape[1]) >= 2000) & (np.arange(v.shape[1]) < 2400), 0.5, 1.0)
    an = Analytics("home-1", transport=bus)
    for ch in chunks(v, i, n, RATE, iter([40] * 10_000)):  # 10 ms chunks
        an.feed(ch)
    env = hints.get_nowait()
    assert env is not None and hints.get_nowait() is None
    h = env.payload
    assert env.topic == "site/home-1/power-quality/fault-hint" and env.source == "analytics/home-1"
    assert h.start_index == 2000 and h.t_start == pytest.approx(0.5, abs=1e-6)
    assert h.complete and h.snippet_index == 2000 - 160 and h.snippet_v.shape == (3, 160 + 320)
    assert h.snippet_t0 == pytest.approx((2000 - 160) / RATE)
    np.testing.assert_array_equal(h.snippet_v, v[:, 1840:2320])
    np.testing.assert_array_equal(h.snippet_i, i[:, 1840:2320])
    assert h.snippet_in is not None and h.snippet_in.shape == (480,)
    assert h.origin is FaultOrigin.UPSTREAM and h.delta_p_w < 0
    ev = events.get_nowait()
    assert ev is not None and ev.payload.t_end == pytest.approx(0.6, abs=1e-6)


def test_dip_with_a_current_surge_points_downstream() -> None:
    v, i, n = three_phase(RATE, 50.0, 1.0, envelope=lambda t: np.where((t >= 0.5) & (t < 0.6), 0.8, 1.0))
    i = i * np.where((np.arange(v.shape[1]) >= 2000) & (np.arange(v.shape[1]) < 2400), 4.0, 1.0)  # inrush
    an = Analytics("home-2")
    hints = [h for ch in chunks(v, i, n, RATE, iter([400] * 100)) for h in an.feed(ch).hints]
    assert len(hints) == 1 and hints[0].origin is FaultOrigin.DOWNSTREAM


def test_sample_ring_keeps_the_newest_samples_by_stream_index() -> None:
    ring = SampleRing(10, channels=1)
    ring.clear(100)
    ring.write(np.arange(100, 107, dtype=float)[None, :])
    ring.write(np.arange(107, 115, dtype=float)[None, :])
    first, x = ring.read(100, 120)
    assert first == 105 and x[0].tolist() == list(range(105, 115))
    ring.write(np.arange(115, 140, dtype=float)[None, :])  # more than the capacity at once
    first, x = ring.read(0, 200)
    assert first == 130 and x[0].tolist() == list(range(130, 140))


def test_site_id_must_be_one_topic_level() -> None:
    with pytest.raises(ValueError, match="one non-empty topic level"):
        Analytics("a/b")
