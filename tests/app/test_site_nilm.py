"""`SiteNilm` (`app.site_nilm`), the appliance recognition the demo's S1 home and `gridedge run`'s
site both show: an appliance is named from its latest switch-on, or from its switch-off when that
is all that was seen; a cancelled transient is never what a name is learnt from; switch-ons are
noted at most once per appliance every 15 min; the events come over the bus or through `seen`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gridedge.app.site_nilm import NILM_NOTE_EVERY_S, SiteNilm
from gridedge.bus.inprocess import InProcessBus
from gridedge.clock import SimClock
from gridedge.home.nilm.engine import ApplianceEvent, NilmEngine
from gridedge.home.nilm.library import ApplianceLibrary
from gridedge.home.nilm.lowrate import PowerSample
from gridedge.home.nilm.tracker import Transition

START = datetime(2025, 6, 15, 10, 0, tzinfo=UTC)


def _feed(engine: NilmEngine, watts: list[float]) -> list[ApplianceEvent]:
    out: list[ApplianceEvent] = []
    for t, w in enumerate(watts):
        out += engine.feed_power(PowerSample(float(t), (w,)))
    return out


def test_named_from_the_switch_on_while_running_and_after() -> None:
    bus = InProcessBus(SimClock(START))
    engine = NilmEngine(ApplianceLibrary(), site_id="home", transport=bus)
    nilm = SiteNilm(engine)
    assert nilm.subscribed
    events = _feed(engine, [200.0] * 20 + [2200.0] * 40 + [200.0] * 30)  # on at 20 s, off at 60 s
    on = next(e for e in events if e.on and e.final and not e.cancelled)
    assert any(not e.on for e in events), "the switch-off is seen too"
    assert nilm.label("unknown", "kettle") == on.event_id  # the switch-on, not the later switch-off
    assert nilm.label("kettle", "water kettle") == on.event_id
    with pytest.raises(KeyError, match="no recent NILM event of appliance 'kettle'"):
        nilm.label("kettle", "x")  # renamed: it goes by its new name now
    nilm.close()
    assert not nilm.subscribed


def test_an_appliance_seen_only_switching_off_can_be_named() -> None:
    engine = NilmEngine(ApplianceLibrary(), site_id="home")
    nilm = SiteNilm(engine)
    assert not nilm.subscribed  # no bus: the owner passes the events
    events = _feed(engine, [2200.0] * 30 + [200.0] * 30)  # running before the stream began
    for ev in events:
        nilm.seen(ev)
    off = [e for e in events if not e.on and not e.cancelled]
    assert off and not any(e.on for e in events)
    assert nilm.label(off[-1].label, "oven") == off[-1].event_id
    assert nilm.take_notes(0.0) == []  # a switch-off is not noted


def _event(event_id: int, *, on: bool = True, final: bool = True, cancelled: bool = False,
           label: str = "unknown") -> ApplianceEvent:  # fmt: skip
    return ApplianceEvent(
        event_id=event_id, t=float(event_id), label=label, confidence=0.9, on=on, transition=Transition.ON,
        delta_p_w=2000.0 if on else -2000.0, delta_q_var=0.0, phase=0, phases=(0,), latency_s=0.1,
        final=final, source="p1", candidates=(), cancelled=cancelled,
    )  # fmt: skip


def test_a_cancelled_transient_is_forgotten_and_notes_are_throttled() -> None:
    engine = NilmEngine(ApplianceLibrary(), site_id="home")
    nilm = SiteNilm(engine)
    nilm.seen(_event(7, final=False))  # provisional inrush ...
    nilm.seen(_event(7, final=False, cancelled=True))  # ... that was a transient
    with pytest.raises(KeyError, match="no recent NILM event"):
        nilm.label("unknown", "kettle")
    nilm.seen(_event(8, label="kettle"))
    nilm.seen(_event(9, label="kettle"))
    nilm.seen(_event(10))
    notes = nilm.take_notes(100.0)
    assert notes == [
        "NILM: kettle on (+2000 W, 90% sure)",
        "NILM: an appliance it does not know switched on (+2000 W): name it",
    ]
    nilm.seen(_event(11, label="kettle"))
    assert nilm.take_notes(100.0 + NILM_NOTE_EVERY_S - 1) == []
    nilm.seen(_event(12, label="kettle"))
    assert nilm.take_notes(100.0 + NILM_NOTE_EVERY_S) == ["NILM: kettle on (+2000 W, 90% sure)"]
