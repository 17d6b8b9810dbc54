"""Per-appliance tracking (`home.nilm.tracker`): pairing, state steps, energy in stream time."""

from __future__ import annotations

import pytest

from gridedge.home.nilm.tracker import ApplianceTracker, Transition


def test_on_off_pairing_and_energy_in_stream_time() -> None:
    tr = ApplianceTracker()
    assert tr.apply(1, 10.0, "kettle", (2000.0, 0.0, 0.0)).transition is Transition.ON
    assert tr.apply(2, 40.0, "fridge", (0.0, 0.0, 120.0)).transition is Transition.ON
    # the off event is mislabelled, but the pairing finds the kettle on L1 by its size
    off = tr.apply(3, 190.0, "heater", (-1990.0, 0.0, 0.0))
    assert (off.label, off.transition) == ("kettle", Transition.OFF)
    tr.advance(400.0)
    states = {s.label: s for s in tr.states()}
    assert states["kettle"].energy_wh == pytest.approx(2000.0 * 180.0 / 3600.0)
    assert not states["kettle"].on
    assert states["fridge"].on and states["fridge"].power_w == 120.0
    assert states["fridge"].energy_wh == pytest.approx(120.0 * 360.0 / 3600.0)
    assert states["fridge"].phases == (2,)


def test_multi_state_steps_belong_to_the_running_appliance() -> None:
    tr = ApplianceTracker()
    tr.apply(1, 0.0, "washer", (200.0, 0.0, 0.0))
    assert tr.apply(2, 60.0, "washer", (2000.0, 0.0, 0.0)).transition is Transition.STEP
    assert tr.power_w("washer") == 2200.0
    down = tr.apply(3, 360.0, "unknown", (-2000.0, 0.0, 0.0))
    assert (down.label, down.transition, down.power_w) == ("washer", Transition.STEP, 200.0)
    assert tr.apply(4, 600.0, "washer", (-200.0, 0.0, 0.0)).transition is Transition.OFF
    tr.advance(700.0)
    (washer,) = tr.states()
    assert washer.energy_wh == pytest.approx((200 * 60 + 2200 * 300 + 200 * 240) / 3600.0)


def test_a_repeated_start_replaces_a_run_whose_off_was_missed() -> None:
    tr = ApplianceTracker()
    tr.apply(1, 0.0, "kettle", (2000.0, 0.0, 0.0))
    again = tr.apply(2, 600.0, "kettle", (2010.0, 0.0, 0.0), typical_power_w=2000.0)
    assert again.transition is Transition.ON
    assert tr.power_w("kettle") == pytest.approx(2010.0)


def test_three_phase_appliance_and_revision() -> None:
    tr = ApplianceTracker()
    tr.apply(1, 0.0, "ev", (2400.0, 2400.0, 2400.0))
    tr.revise(1, (2466.0, 2466.0, 2466.0))
    assert tr.power_w("ev") == pytest.approx(7398.0)
    off = tr.apply(2, 3600.0, "ev", (-2466.0, -2466.0, -2466.0))
    assert off.transition is Transition.OFF
    (ev,) = tr.states()
    assert ev.energy_wh == pytest.approx(7398.0)


def test_unpaired_off_and_reconcile() -> None:
    tr = ApplianceTracker()
    assert tr.apply(1, 0.0, "lamp", (0.0, -60.0, 0.0)).transition is Transition.UNPAIRED
    tr.apply(2, 0.0, "kettle", (2000.0, 0.0, 0.0))
    tr.apply(3, 0.0, "tv", (100.0, 0.0, 0.0))
    assert tr.reconcile(10.0, (2150.0, 0.0, 0.0)) == []
    assert tr.reconcile(20.0, (120.0, 0.0, 0.0)) == ["kettle"]  # the kettle's off event was missed
    assert tr.power_w("tv") == 100.0


def test_bad_delta_is_refused() -> None:
    with pytest.raises(ValueError, match="3 finite"):
        ApplianceTracker().apply(1, 0.0, "x", (1.0, 2.0))  # type: ignore[arg-type]
