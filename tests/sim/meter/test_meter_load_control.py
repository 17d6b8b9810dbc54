"""Load-control outputs: threshold/release hysteresis with delays, direction, command override."""

from __future__ import annotations

import pytest
from meter_support import meter, run

from gridedge.sim.meter import LoadControlCause, LoadControlChange, VirtualMeter

BOILER = {"output": 1, "threshold_w": 3000.0, "release_w": 2000.0, "delay_s": 10.0, "release_s": 60.0}


def _changes(m: VirtualMeter) -> list[tuple[float, bool, LoadControlCause]]:
    return [(e.t, e.closed, e.cause) for e in m.events if isinstance(e, LoadControlChange)]


def test_opens_after_the_delay_and_closes_after_the_release_time() -> None:
    m = meter(load_control=[BOILER])
    assert m.load_control_closed(1)
    run(m, 0, 9, (3500.0, 0, 0))
    assert m.load_control_closed(1)  # 9 s above: not yet
    run(m, 9, 10, (3500.0, 0, 0))
    assert not m.load_control_closed(1)
    # between release and threshold: stays open however long
    run(m, 10, 200, (2500.0, 0, 0))
    assert not m.load_control_closed(1)
    run(m, 200, 259, (1500.0, 0, 0))
    assert not m.load_control_closed(1)  # 59 s below release
    run(m, 259, 260, (1500.0, 0, 0))
    assert m.load_control_closed(1)
    auto = LoadControlCause.AUTOMATIC
    assert _changes(m) == [(10.0, False, auto), (260.0, True, auto)]


def test_an_interrupted_excess_restarts_the_delay() -> None:
    m = meter(load_control=[BOILER])
    for start in range(0, 100, 10):
        run(m, start, start + 9, (3500.0, 0, 0))
        run(m, start + 9, start + 10, (2900.0, 0, 0))
    assert m.load_control_closed(1) and _changes(m) == []


def test_export_direction_watches_export_only() -> None:
    cfg = {**BOILER, "direction": "export"}
    m = meter(load_control=[cfg])
    run(m, 0, 30, (3500.0, 0, 0))
    assert m.load_control_closed(1)
    run(m, 30, 40, (-3500.0, 0, 0))
    assert not m.load_control_closed(1)


def test_without_release_level_the_threshold_releases() -> None:
    m = meter(load_control=[{"output": 2, "threshold_w": 3000.0, "delay_s": 0.0, "release_s": 0.0}])
    run(m, 0, 1, (3001.0, 0, 0))
    assert not m.load_control_closed(2)
    run(m, 1, 2, (3000.0, 0, 0))  # not below the threshold
    assert not m.load_control_closed(2)
    run(m, 2, 3, (2999.0, 0, 0))
    assert m.load_control_closed(2)


def test_a_command_holds_until_the_automatic_logic_changes_state() -> None:
    m = meter(load_control=[BOILER])
    m.set_load_control(1, False, 5.0)  # DSO switches the boiler off in quiet hours
    run(m, 0, 300, (500.0, 0, 0))
    assert not m.load_control_closed(1)  # the automatic state did not change: the command holds
    run(m, 300, 310, (3500.0, 0, 0))  # automatic opens (already open)
    assert not m.load_control_closed(1)
    run(m, 310, 370, (500.0, 0, 0))  # automatic closes: the output follows again
    assert m.load_control_closed(1)
    assert _changes(m) == [(5.0, False, LoadControlCause.COMMAND), (370.0, True, LoadControlCause.AUTOMATIC)]


def test_a_close_command_during_an_overload_holds_until_the_overload_is_over() -> None:
    m = meter(load_control=[BOILER])
    run(m, 0, 10, (3500.0, 0, 0))
    assert not m.load_control_closed(1)
    m.set_load_control(1, True, 10.0)
    run(m, 10, 100, (3500.0, 0, 0))
    assert m.load_control_closed(1)  # automatic is still "open": no transition, command holds
    run(m, 100, 160, (500.0, 0, 0))  # automatic releases (closes): output already closed
    run(m, 160, 170, (3500.0, 0, 0))  # a new overload opens it again
    assert not m.load_control_closed(1)


def test_command_only_outputs_and_bad_numbers() -> None:
    m = meter()
    assert m.load_control_closed(3)
    m.set_load_control(3, False, 1.0)
    run(m, 0, 100, (9000.0, 0, 0))
    assert not m.load_control_closed(3)
    m.set_load_control(3, False, 2.0)  # no change, no event
    assert len(_changes(m)) == 1
    with pytest.raises(ValueError, match=r"1\.\.4"):
        m.set_load_control(5, True, 0.0)
