"""Pure OCPP translations: power -> current limit (IEC 61851 6 A floor), MeterValues of both
versions -> MeterReading, timestamps, charge point id from the URL, configuration checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gridedge.home.devices.ocpp import MeterReading, OcppChargerConfig, charge_point_id, current_limit_a
from gridedge.home.devices.ocpp.convert import ocpp_time, read_meter_values


def _limit(power_w: float, phases: int = 3, max_a: float = 16.0) -> float:
    return current_limit_a(power_w, phases, min_a=6.0, max_a=max_a, voltage_v=230.0)


def test_power_becomes_current_per_phase_rounded_down_to_a_tenth() -> None:
    assert _limit(7000.0) == 10.1  # 7000 / 690 = 10.14 A
    assert _limit(7000.0) * 230.0 * 3 <= 7000.0
    assert _limit(3000.0, phases=1) == 13.0
    assert _limit(4140.0) == 6.0  # exactly 6 A stays


def test_below_six_amperes_pauses_and_above_max_is_capped() -> None:
    assert _limit(4100.0) == 0.0  # 5.94 A: IEC 61851 has no pilot below 6 A
    assert _limit(1380.0, phases=1) == 6.0
    assert _limit(1379.0, phases=1) == 0.0
    assert _limit(-500.0) == 0.0
    assert _limit(22000.0) == 16.0
    assert _limit(22000.0, max_a=32.0) == 31.8


def test_non_finite_power_is_refused() -> None:
    with pytest.raises(ValueError, match="power_w"):
        _limit(float("nan"))


def test_v16_meter_values_strings_units_and_phases() -> None:
    mv = [
        {
            "timestamp": "2025-06-17T10:00:00Z",
            "sampled_value": [
                {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                {"value": "12.5", "unit": "kWh"},  # default measurand: the import register
                {"value": "10.4", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                {"value": "10.5", "measurand": "Current.Import", "phase": "L2"},
                {"value": "10.6", "measurand": "Current.Import", "phase": "L3"},
                {"value": "231.0", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},  # not used
                {"value": "55", "measurand": "SoC", "unit": "Percent"},
            ],
        }
    ]
    r = read_meter_values(mv, MeterReading())
    assert r.power_w == pytest.approx(7200.0)
    assert r.energy_wh == pytest.approx(12500.0)
    assert r.currents_a == (10.4, 10.5, 10.6)
    assert r.soc == pytest.approx(0.55)


def test_per_phase_power_is_summed_and_later_entries_win() -> None:
    mv = [
        {"timestamp": "t1", "sampled_value": [{"value": "1000", "measurand": "Power.Active.Import"}]},
        {
            "timestamp": "t2",
            "sampled_value": [
                {"value": "2300", "measurand": "Power.Active.Import", "phase": "L1"},
                {"value": "2300", "measurand": "Power.Active.Import", "phase": "L2"},
                {"value": "2300", "measurand": "Power.Active.Import", "phase": "L3"},
            ],
        },
    ]
    last = MeterReading(energy_wh=5.0, soc=0.4)
    r = read_meter_values(mv, last)
    assert r.power_w == 6900.0
    assert r.energy_wh == 5.0 and r.soc == 0.4  # kept from before


def test_v201_numbers_and_multipliers() -> None:
    mv = [
        {
            "timestamp": "2025-06-17T10:00:00Z",
            "sampled_value": [
                {
                    "value": 7.2,
                    "measurand": "Power.Active.Import",
                    "unit_of_measure": {"unit": "W", "multiplier": 3},
                },
                {
                    "value": 3.0,
                    "measurand": "Energy.Active.Import.Register",
                    "unit_of_measure": {"unit": "kWh"},
                },
                {"value": 16, "measurand": "Current.Import", "phase": "L2"},
            ],
        }
    ]
    r = read_meter_values(mv, MeterReading())
    assert r.power_w == pytest.approx(7200.0)
    assert r.energy_wh == pytest.approx(3000.0)
    assert r.currents_a == (None, 16.0, None)


def test_bad_values_name_the_entry() -> None:
    bad_number = [{"timestamp": "t", "sampled_value": [{"value": "7,2", "measurand": "Power.Active.Import"}]}]
    with pytest.raises(ValueError, match=r"meter_value\[0\]\.sampled_value\[0\]\.value.*'7,2'"):
        read_meter_values(bad_number, MeterReading())
    bad_unit = [
        {
            "timestamp": "t",
            "sampled_value": [{"value": "1", "measurand": "Power.Active.Import", "unit": "Wh"}],
        }
    ]
    with pytest.raises(ValueError, match=r"sampled_value\[0\]\.unit: 'Wh' is not a unit of Power"):
        read_meter_values(bad_unit, MeterReading())
    with pytest.raises(ValueError, match=r"meter_value\[0\]\.sampled_value: expected a list"):
        read_meter_values([{"timestamp": "t", "sampled_value": None}], MeterReading())


def test_ocpp_time_is_utc_with_z() -> None:
    at = datetime(2025, 6, 17, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert ocpp_time(at) == "2025-06-17T10:00:00.123Z"
    assert ocpp_time(datetime(2025, 1, 1, tzinfo=UTC)) == "2025-01-01T00:00:00.000Z"
    with pytest.raises(ValueError, match="naive"):
        ocpp_time(datetime(2025, 1, 1))


def test_charge_point_id_is_the_last_path_segment() -> None:
    assert charge_point_id("/ocpp/wallbox-1") == "wallbox-1"
    assert charge_point_id("/wallbox%201/") == "wallbox 1"
    assert charge_point_id("/steve/websocket/CentralSystemService/CP42?x=1") == "CP42"
    with pytest.raises(ValueError, match="path"):
        charge_point_id("/")


def test_config_checks_name_the_field() -> None:
    assert OcppChargerConfig().max_power_w == pytest.approx(16.0 * 230.0 * 3)
    with pytest.raises(ValueError, match="phases: expected 1 or 3, found 2"):
        OcppChargerConfig(phases=2)
    with pytest.raises(ValueError, match="min_current_a"):
        OcppChargerConfig(min_current_a=5.0)
    with pytest.raises(ValueError, match="min_current_a"):
        OcppChargerConfig(min_current_a=20.0, max_current_a=16.0)
    with pytest.raises(ValueError, match="connector_id"):
        OcppChargerConfig(connector_id=0)
