"""Shared set-up for the SunSpec tests: a sim PV system at noon and a sim battery, stepped second by
second while their virtual SunSpec devices publish, and a bounded wait for every network await."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from gridedge.model.scenario import BatteryConfig, PVConfig, SiteConfig
from gridedge.sim.battery import Battery
from gridedge.sim.devices.sunspec_server import SunSpecDevice
from gridedge.sim.electrical import Load, SiteContext
from gridedge.sim.pv import PVSystem

T = TypeVar("T")

START = datetime.fromisoformat("2025-06-17T00:00:00+02:00")
NOON = 12 * 3600.0
"""Local solar noon-ish in Ghent on 17 June: the clear-sky PV output is near its peak."""


def context() -> SiteContext:
    return SiteContext(START, ZoneInfo("Europe/Brussels"))


def make_pv(phases: tuple[int, ...] = (1,)) -> PVSystem:
    return PVSystem(PVConfig(kwp=6.0, inverter_kw=5.0, phases=phases), SiteConfig(start=START))


def make_battery() -> Battery:
    return Battery(BatteryConfig(capacity_kwh=10.0, charge_kw=5.0, discharge_kw=4.0, soc=0.5))


def step(load: Load, device: SunSpecDevice, ctx: SiteContext, t0: float, seconds: int) -> float:
    """Advance `load` from t0 one second at a time, publishing after each step; returns the end time."""
    t = t0
    for _ in range(seconds):
        load.advance(t, t + 1.0, ctx)
        t += 1.0
        device.publish(t)
    return t


async def bounded(aw: Awaitable[T]) -> T:
    """Every network await in these tests ends within 10 s, pass or fail."""
    return await asyncio.wait_for(aw, 10.0)
