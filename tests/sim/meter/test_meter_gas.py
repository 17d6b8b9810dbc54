"""Gas meter on M-Bus channel 1: 5-minute captures, capture times, country objects, outages."""

from __future__ import annotations

import math
from typing import Any

from meter_support import local, meter, second

from gridedge.model.reading import BreakerState, MBusDeviceType, MeterReading
from gridedge.sim.meter import VirtualMeter, telegram

GAS = {"equipment_id": "G0012345678901234567", "start_m3": 1234.5}


def _feed(m: VirtualMeter, start: int, stop: int, m3_per_s: float, **kw: Any) -> list[MeterReading | None]:
    return [m.update(second(t, (300.0, 0, 0), **kw), gas_m3=m3_per_s) for t in range(start, stop)]


def test_value_is_captured_every_five_minutes_at_the_boundary() -> None:
    m = meter(profile="be", start="2025-06-17T10:02:30", gas=GAS)
    readings = _feed(m, 0, 600, 0.001)
    first = readings[0]
    assert first is not None
    (gas,) = first.mbus
    # before the first capture the telegram carries the capture just before the simulation began
    assert (gas.capture_time, gas.value) == (local("2025-06-17T10:00:00"), 1234.5)
    at = readings[149]  # the second ending 10:05:00
    assert at is not None and at.timestamp == local("2025-06-17T10:05:00")
    assert at.mbus[0].capture_time == local("2025-06-17T10:05:00")
    assert at.mbus[0].value == 1234.5 + 0.150  # 150 s x 1 l/s
    just_before = readings[148]
    assert just_before is not None and just_before.mbus[0].capture_time == local("2025-06-17T10:00:00")
    later = readings[449]
    assert later is not None and later.mbus[0].capture_time == local("2025-06-17T10:10:00")
    assert later.mbus[0].value == 1234.5 + 0.450
    # between captures the value stays put while the register runs on
    assert readings[500] is not None and readings[500].mbus[0].value == 1234.5 + 0.450
    assert m.gas_m3 is not None and math.isclose(m.gas_m3, 1234.5 + 0.6)


def test_country_objects() -> None:
    be = meter(profile="be", gas=GAS)
    nl = meter(profile="nl", tz="Europe/Amsterdam", gas=GAS)
    lu = meter(profile="lu", tz="Europe/Luxembourg", gas=GAS)
    rb, rn, rl = (_feed(x, 0, 1, 0.0)[0] for x in (be, nl, lu))
    assert rb is not None and rn is not None and rl is not None
    (b,), (n,), (lx,) = rb.mbus, rn.mbus, rl.mbus
    assert b.channel == n.channel == lx.channel == 1
    assert b.device_type == n.device_type == lx.device_type == MBusDeviceType.GAS
    # Belgium: id in 0-1:96.1.1, not temperature corrected (24.2.3), valve state sent
    assert (b.equipment_id, b.equipment_id_2, b.temperature_corrected) == (None, GAS["equipment_id"], False)
    assert b.valve_state is BreakerState.CONNECTED
    assert (n.equipment_id, n.equipment_id_2, n.temperature_corrected, n.valve_state) == (
        GAS["equipment_id"],
        None,
        True,
        None,
    )
    assert b.unit == n.unit == "m3"
    assert "0-1:24.2.3(250617000000S)(01234.500*m3)" in telegram(rb, be.profile).decode()
    assert "0-1:24.2.1(250617000000S)(01234.500*m3)" in telegram(rn, nl.profile).decode()
    assert "0-1:24.2.1(" in telegram(rl, lu.profile).decode()


def test_captures_are_missed_during_an_outage_and_resume_after() -> None:
    m = meter(profile="nl", tz="Europe/Amsterdam", start="2025-06-17T10:00:00", gas=GAS)
    _feed(m, 0, 200, 0.001)
    assert _feed(m, 200, 700, 0.001, voltage_v=0.0) == [None] * 500  # 10:03:20 - 10:11:40
    after = _feed(m, 700, 800, 0.001)
    r = after[0]
    assert r is not None
    # the 10:05 and 10:10 captures fell in the outage: the telegram shows the 10:00 capture
    assert (r.mbus[0].capture_time, r.mbus[0].value) == (local("2025-06-17T10:00:00"), 1234.5)
    r = after[-1]  # 10:13:20
    assert r is not None and r.mbus[0].capture_time == local("2025-06-17T10:00:00")
    r = _feed(m, 800, 900, 0.001)[-1]  # 10:15:00: the gas meter kept counting on its battery
    assert r is not None and r.mbus[0].capture_time == local("2025-06-17T10:15:00")
    assert r.mbus[0].value == 1234.5 + 0.9


def test_no_gas_meter_no_mbus() -> None:
    r = _feed(meter(profile="be"), 0, 1, 0.0)[0]
    assert r is not None and r.mbus == ()
