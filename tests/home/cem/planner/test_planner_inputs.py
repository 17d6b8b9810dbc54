"""Bad inputs name the field; scenario devices map onto planner inputs."""

from __future__ import annotations

from datetime import datetime, time

import numpy as np
import pytest
from planner_support import BRUSSELS, flat_inputs

from gridedge.home.cem.planner import (
    BatteryInputs,
    EVInputs,
    Timeline,
    battery_from_config,
    build,
    ev_from_config,
    heat_pump_from_config,
)
from gridedge.model.scenario import BatteryConfig, EVConfig, HeatPumpConfig
from gridedge.physics.hplib import HplibModel

START = datetime(2025, 10, 6, tzinfo=BRUSSELS)


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"export_price: expected 4 values .* found shape \(3,\)"):
        flat_inputs(START, 4, export_price=np.zeros(3))
    with pytest.raises(ValueError, match="import_price: expected finite numbers, found nan at step 2"):
        flat_inputs(START, 4, import_price=np.array([0.1, 0.1, np.nan, 0.1]))
    with pytest.raises(ValueError, match="start: expected an aware datetime"):
        flat_inputs(datetime(2025, 10, 6), 4)
    with pytest.raises(ValueError, match=r"bat.soc: expected a share in \[0, 1\], found 1.5"):
        BatteryInputs("bat", 10.0, 1000.0, 1000.0, soc=1.5)
    with pytest.raises(ValueError, match=r"ev\.energy_needed_kwh: expected <= the room left"):
        EVInputs("ev", 40.0, np.ones(4, bool), soc=0.9, energy_needed_kwh=10.0)
    with pytest.raises(ValueError, match=r"ev\.plugged: expected 4 booleans, found 5"):
        flat_inputs(START, 4, evs=(EVInputs("ev", 40.0, np.ones(5, bool), soc=0.5, energy_needed_kwh=1.0),))
    with pytest.raises(ValueError, match="device_id: expected unique ids, found x repeated"):
        b = BatteryInputs("x", 10.0, 1000.0, 1000.0, soc=0.5)
        flat_inputs(START, 4, batteries=(b, b))


def test_scenario_devices_map_to_planner_inputs() -> None:
    tl = Timeline(datetime(2025, 10, 6, 12, tzinfo=BRUSSELS), 900, 96)
    bat = battery_from_config(BatteryConfig(capacity_kwh=13.5, charge_kw=5.0, efficiency=0.96), soc=0.4)
    assert (bat.capacity_kwh, bat.charge_max_w, bat.charge_efficiency, bat.soc) == (13.5, 5000.0, 0.96, 0.4)
    ev = ev_from_config(
        EVConfig(arrival=time(18, 0), departure=time(7, 30), arrival_soc=0.4, target_soc=0.9), tl
    )
    assert ev.plugged.sum() == (24 + 7.5 - 18) * 4 and int(np.argmax(ev.plugged)) == 24
    assert ev.energy_needed_kwh == pytest.approx(0.5 * 60.0)
    cfg = HeatPumpConfig()
    model = HplibModel.load(cfg.model)
    outdoor = np.linspace(-5.0, 12.0, 96)
    hp = heat_pump_from_config(cfg, outdoor, model)
    assert hp.cop[0] == pytest.approx(model.cop(-5.0, cfg.supply_c))
    assert hp.cop[-1] > hp.cop[0]  # warmer outside, better COP
    assert hp.max_electric_w[10] == pytest.approx(model.capacity_w(outdoor[10], 35.0) / hp.cop[10])
    assert hp.comfort_min_c[0] == pytest.approx(cfg.setpoint_c - cfg.band_k / 2)
    assert hp.min_modulation == cfg.min_modulation


def test_departure_after_the_horizon_only_asks_what_later_steps_cannot_deliver() -> None:
    tl = Timeline(datetime(2025, 10, 6, 20, tzinfo=BRUSSELS), 900, 16)  # ends 00:00, car leaves 07:30
    ev = ev_from_config(EVConfig(arrival_soc=0.2, target_soc=0.9), tl, soc=0.2, plugged_now=True)
    assert ev.energy_needed_kwh == pytest.approx(max(0.0, 42.0 - 0.9 * 7.5 * 11.04))
    assert ev.deadline == 16


def test_direction_binaries_only_where_prices_allow_a_round_trip() -> None:
    n = 8
    price = np.full(n, 0.2)
    export = np.array([0.1] * 6 + [0.3] * 2)  # export pays more than import in the last two steps
    model = build(flat_inputs(START, n, import_price=price, export_price=export))
    assert model.grid_dir.tolist() == [6, 7] and model.num_binaries == 2
