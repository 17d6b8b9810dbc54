"""SunSpecAdapter end to end over loopback Modbus TCP: a curtailment setpoint reaches the virtual PV
inverter and limits its output once the sim advances; battery setpoints charge and discharge;
a device without model 123 refuses curtailment with an error naming the model."""

from __future__ import annotations

import asyncio

import pytest
from sunspec_support import NOON, bounded, context, make_battery, make_pv, step

from gridedge.clock import SimClock
from gridedge.home.devices.adapter import DeviceAdapter, DeviceError
from gridedge.home.devices.registry import DeviceRegistry
from gridedge.home.devices.sunspec.adapter import SunSpecAdapter
from gridedge.model.devices import ControlMode, DeviceKind, Protocol, Setpoint
from gridedge.sim.devices.sunspec_battery import VirtualStorageInverter
from gridedge.sim.devices.sunspec_inverter import VirtualPVInverter


def test_curtailment_limits_the_virtual_pv() -> None:
    async def main() -> None:
        pv, ctx, clock = make_pv(), context(), SimClock()
        async with VirtualPVInverter(pv, serial="PV-7") as dev:
            adapter = await bounded(SunSpecAdapter.open("127.0.0.1", dev.port, clock, device_id="pv"))
            try:
                assert isinstance(adapter, DeviceAdapter)
                info = adapter.info
                assert (info.kind, info.protocol, info.control) == (
                    DeviceKind.PV_INVERTER, Protocol.SUNSPEC, ControlMode.POWER,
                )  # fmt: skip
                assert (info.min_power_w, info.max_power_w) == (-5000.0, 0.0)
                assert (info.vendor, info.model, adapter.nameplate.serial) == (
                    "gridedge",
                    "virtual PV inverter",
                    "PV-7",
                )
                assert adapter.state() is None

                t = step(pv, dev, ctx, NOON, 3)
                free = await bounded(adapter.poll())
                assert free.power_w < -3000.0  # a clear June noon, 6 kWp
                assert free.power_w == pytest.approx(pv.power_w, abs=1.0)

                await bounded(adapter.apply(Setpoint("pv", min_w=-1200.0, reason="export limit")))
                assert dev.image.value(123, "WMaxLimPct") == pytest.approx(24.0)
                assert dev.image.raw(123, "WMaxLim_Ena") == 1
                assert pv.limit_w == pytest.approx(1200.0)
                t = step(pv, dev, ctx, t, 2)
                limited = await bounded(adapter.poll())
                assert limited.power_w == pytest.approx(-1200.0, abs=1.0)
                assert dev.image.raw(101, "St") == 5  # THROTTLED

                await bounded(adapter.apply(Setpoint("pv")))
                assert pv.limit_w is None
                step(pv, dev, ctx, t, 2)
                again = await bounded(adapter.poll())
                assert again.power_w < -3000.0
                assert again.energy_kwh is not None and again.energy_kwh > 0.0
            finally:
                await adapter.close()

    asyncio.run(main())


def test_power_setpoint_on_pv_is_a_ceiling() -> None:
    async def main() -> None:
        pv = make_pv()
        async with VirtualPVInverter(pv) as dev:
            adapter = await bounded(SunSpecAdapter.open("127.0.0.1", dev.port, SimClock(), device_id="pv"))
            try:
                await bounded(adapter.apply(Setpoint("pv", power_w=-2500.0, min_w=-2000.0)))
                assert pv.limit_w == pytest.approx(2000.0)
                await bounded(adapter.apply(Setpoint("pv", min_w=-9000.0)))  # above the rating: 100 %
                assert dev.image.value(123, "WMaxLimPct") == 100.0
                assert pv.limit_w == pytest.approx(5000.0)
            finally:
                await adapter.close()

    asyncio.run(main())


def test_device_without_model_123_cannot_curtail() -> None:
    async def main() -> None:
        pv = make_pv()
        async with VirtualPVInverter(pv, controls=False) as dev:
            adapter = await bounded(
                SunSpecAdapter.open("127.0.0.1", dev.port, SimClock(), device_id="pv-old")
            )
            try:
                assert adapter.info.control is ControlMode.NONE
                with pytest.raises(DeviceError, match=r"pv-old: model 123 \(immediate controls\) not found"):
                    await bounded(adapter.apply(Setpoint("pv-old", min_w=-1000.0)))
                assert pv.limit_w is None
            finally:
                await adapter.close()

    asyncio.run(main())


def test_battery_setpoints_charge_and_discharge() -> None:
    async def main() -> None:
        bat, ctx, clock = make_battery(), context(), SimClock()
        async with VirtualStorageInverter(bat) as dev:
            adapter = await bounded(SunSpecAdapter.open("127.0.0.1", dev.port, clock, device_id="bat"))
            try:
                info = adapter.info
                assert (info.kind, info.min_power_w, info.max_power_w) == (
                    DeviceKind.BATTERY,
                    -4000.0,
                    5000.0,
                )
                registry = DeviceRegistry()
                registry.add(adapter)
                assert registry.of_kind(DeviceKind.BATTERY) == [adapter]

                soc0 = bat.soc
                await bounded(adapter.apply(Setpoint("bat", power_w=2000.0)))
                assert dev.image.raw(124, "StorCtl_Mod") == 3
                assert dev.window_w() == pytest.approx((2000.0, 2000.0))
                t = step(bat, dev, ctx, 0.0, 10)
                charging = await bounded(adapter.poll())
                assert charging.power_w == pytest.approx(2000.0)
                assert charging.soc is not None and charging.soc > soc0

                await bounded(adapter.apply(Setpoint("bat", power_w=-3000.0)))
                t = step(bat, dev, ctx, t, 60)
                discharging = await bounded(adapter.poll())
                assert discharging.power_w == pytest.approx(-3000.0)
                assert discharging.energy_kwh is not None and discharging.energy_kwh > 0.0
                assert dev.image.raw(124, "ChaSt") == 3  # DISCHARGING

                await bounded(adapter.apply(Setpoint("bat", power_w=2000.0, max_w=1500.0)))
                assert dev.window_w() == pytest.approx((1500.0, 1500.0))
                await bounded(adapter.apply(Setpoint("bat", power_w=-9000.0)))  # beyond WChaMax: 100 %
                assert bat.setpoint_w == pytest.approx(-5000.0)  # the sim still caps at discharge_kw

                await bounded(adapter.apply(Setpoint("bat")))
                assert dev.image.raw(124, "StorCtl_Mod") == 0
                assert bat.mode == "self-consumption"
            finally:
                await adapter.close()

    asyncio.run(main())


def test_battery_bounds_only_write_the_caps() -> None:
    async def main() -> None:
        bat = make_battery()
        async with VirtualStorageInverter(bat) as dev:
            adapter = await bounded(SunSpecAdapter.open("127.0.0.1", dev.port, SimClock(), device_id="bat"))
            try:
                await bounded(adapter.apply(Setpoint("bat", min_w=500.0)))  # must charge at least 500 W
                assert dev.image.raw(124, "StorCtl_Mod") == 2  # DISCHARGE cap only
                assert dev.image.value(124, "OutWRte") == pytest.approx(-10.0)
                assert bat.mode == "setpoint" and bat.setpoint_w == pytest.approx(500.0)
            finally:
                await adapter.close()

    asyncio.run(main())


def test_lost_device_turns_offline_and_raises() -> None:
    async def main() -> None:
        pv, clock = make_pv(), SimClock()
        dev = VirtualPVInverter(pv)
        await dev.start()
        adapter = await bounded(
            SunSpecAdapter.open("127.0.0.1", dev.port, clock, device_id="pv", timeout_s=0.5)
        )
        try:
            await bounded(adapter.poll())
            await dev.stop()
            with pytest.raises(DeviceError, match="pv: "):
                await bounded(adapter.poll())
            state = adapter.state()
            assert state is not None and not state.online
        finally:
            await adapter.close()

    asyncio.run(main())


def test_setpoint_for_another_device_is_refused() -> None:
    async def main() -> None:
        async with VirtualPVInverter(make_pv()) as dev:
            adapter = await bounded(SunSpecAdapter.open("127.0.0.1", dev.port, SimClock(), device_id="pv"))
            try:
                with pytest.raises(ValueError, match="setpoint for 'ev' given to 'pv'"):
                    await adapter.apply(Setpoint("ev", max_w=0.0))
            finally:
                await adapter.close()

    asyncio.run(main())
