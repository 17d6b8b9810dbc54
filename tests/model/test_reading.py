"""The reading model's derived values."""

from __future__ import annotations

from gridedge.model import MBusDevice, MBusDeviceType, MeterReading, P1Variant, PhaseReading


def test_totals_prefer_the_total_register() -> None:
    r = MeterReading(variant=P1Variant.AUSTRIA, header="x", energy_import_kwh={0: 10.0, 1: 4.0, 2: 5.0})
    assert r.energy_import_total_kwh == 10.0


def test_totals_sum_tariffs_without_float_noise() -> None:
    r = MeterReading(variant=P1Variant.DSMR_5, header="x", energy_import_kwh={1: 0.1, 2: 0.2})
    assert r.energy_import_total_kwh == 0.3
    assert r.energy_export_total_kwh is None


def test_net_power() -> None:
    assert MeterReading(variant=P1Variant.DSMR_5, header="x").net_power_w is None
    r = MeterReading(variant=P1Variant.DSMR_5, header="x", power_import_w=0.0, power_export_w=1500.0)
    assert r.net_power_w == -1500.0


def test_phase_lookup() -> None:
    r = MeterReading(variant=P1Variant.DSMR_5, header="x", phases=(PhaseReading(2, voltage_v=230.1),))
    assert r.phase(2) is not None and r.phase(2).voltage_v == 230.1  # type: ignore[union-attr]
    assert r.phase(1) is None


def test_mbus_kind() -> None:
    assert MBusDevice(1, device_type=3).kind is MBusDeviceType.GAS
    assert MBusDevice(1, device_type=99).kind is None
    assert MBusDevice(1).kind is None
