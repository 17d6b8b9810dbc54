"""Synthetic but realistic 1 s readings of a three-phase Belgian household, for tests and benchmarks.

The compactness figure of the store is only honest if the data is as noisy as a real meter's, so
this is not a sine wave: per-phase base loads with measurement noise, fridge and freezer cycles,
random kettle / microwave / oven / washing-machine / evening loads, a 5 kWp three-phase PV
inverter under drifting clouds, voltages that move with the grid and with the household's own
current, currents from apparent power, registers integrated from the powers per tariff (e-MUCS:
1 = day, 2 = night) and a gas meter that reports every 5 minutes. Values are rounded to what an
e-MUCS H meter sends: 1 W, 1 Wh, 0.1 V, 0.01 A, 1 dm³.

It is deterministic for a given seed. It is not the household simulator (`gridedge.sim`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gridedge.model.reading import MBusDevice, MeterReading, P1Variant, PhaseReading

METER_ID = "3153414733313031303231363035"
GAS_ID = "37464C4F32313139303333373333"
BRUSSELS = ZoneInfo("Europe/Brussels")


@dataclass
class _Event:
    phase: int
    end: int
    watts: float
    cycle: int = 0  # thermostat period in s (0 = steady)


def synthetic_readings(
    start: datetime,
    seconds: int,
    *,
    seed: int = 1,
    meter_id: str = METER_ID,
    step: int = 1,
) -> Iterator[MeterReading]:
    """`seconds // step` readings from `start` (aware), one every `step` seconds."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    rnd = random.Random(seed)
    gauss = rnd.gauss
    base = (85.0, 60.0, 110.0)
    fridge_phase, freezer_phase = 0, 1
    events: list[_Event] = []
    cloud = 1.0
    e_import = [0.0, 4123456.0, 5234567.0]  # Wh per tariff (index = tariff)
    e_export = [0.0, 2345678.0, 345678.0]
    gas_dm3 = 3456789
    gas_heat = 0.0
    gas_time = start
    t0 = int(start.timestamp())
    for k in range(0, seconds, step):
        ts = t0 + k
        local = datetime.fromtimestamp(ts, BRUSSELS)
        hour = local.hour + local.minute / 60 + local.second / 3600
        # appliances start at random, more often in the morning and the evening
        busy = 3.0 if 6.5 <= hour < 9 or 17 <= hour < 22.5 else (0.3 if hour < 6 else 1.0)
        if rnd.random() < busy * step / 2400:
            kind = rnd.random()
            if kind < 0.35:
                events.append(_Event(0, ts + rnd.randint(90, 240), 2000 + gauss(0, 60)))  # kettle
            elif kind < 0.6:
                events.append(_Event(1, ts + rnd.randint(60, 300), 1150 + gauss(0, 40)))  # microwave
            elif kind < 0.75:
                events.append(_Event(2, ts + rnd.randint(1200, 3600), 2400, cycle=rnd.randint(60, 120)))
            elif kind < 0.85:
                events.append(_Event(1, ts + rnd.randint(600, 1200), 1950, cycle=0))  # washer heater
                events.append(_Event(1, ts + rnd.randint(3600, 5400), 180 + gauss(0, 20)))  # washer motor
            else:
                events.append(_Event(rnd.randint(0, 2), ts + rnd.randint(300, 3600), rnd.uniform(40, 400)))
        events = [e for e in events if e.end > ts]
        load = list(base)
        if 18 <= hour < 23.5:
            load[2] += 160 + 20 * math.sin(ts / 37)  # television and lights
        if (ts // 60) % 50 < 16:
            load[fridge_phase] += 105 + (40 if (ts // 60) % 50 == 0 else 0)
        if (ts // 60) % 70 < 22:
            load[freezer_phase] += 85
        for e in events:
            if e.cycle == 0 or (ts // e.cycle) % 3 != 2:
                load[e.phase] += e.watts
        # PV, 5 kWp, clear-sky bell from ~07:00 to ~19:00 with drifting clouds
        cloud = min(1.0, max(0.15, cloud + gauss(0, 0.012 * math.sqrt(step))))
        if rnd.random() < 0.002 * step:
            cloud = rnd.uniform(0.2, 1.0)
        sun = math.sin(math.pi * (hour - 7) / 12) if 7 < hour < 19 else 0.0
        pv = 4600 * sun**1.3 * cloud
        pv_phase = pv / 3 * (1 + gauss(0, 0.002)) if pv > 5 else 0.0
        phases: list[PhaseReading] = []
        net_total = 0.0
        grid_v = 231.0 + 2.5 * math.sin(2 * math.pi * (hour - 4) / 24)
        for p in range(3):
            noisy = load[p] * (1 + gauss(0, 0.004)) + gauss(0, 2.0)
            net = noisy - pv_phase
            net_total += net
            volts = round(grid_v + 0.35 * (p - 1) - net / 1500 + gauss(0, 0.25), 1)
            apparent = math.hypot(net, 0.25 * noisy)
            amps = round(apparent / volts, 2)
            phases.append(
                PhaseReading(
                    phase=p + 1,
                    voltage_v=volts,
                    current_a=amps,
                    power_import_w=float(round(max(net, 0.0))),
                    power_export_w=float(round(max(-net, 0.0))),
                )
            )
        weekday = local.weekday() < 5
        tariff = 1 if weekday and 7 <= local.hour < 22 else 2
        if net_total >= 0:
            e_import[tariff] += net_total * step / 3600
        else:
            e_export[tariff] -= net_total * step / 3600
        # gas: heating in the morning and evening, the meter sends a new value every 5 minutes
        if hour < 8 or hour > 17:
            gas_heat += max(0.0, gauss(0.04, 0.02)) * step
        if ts % 300 < step and k > 0:
            gas_dm3 += int(gas_heat)
            gas_heat -= int(gas_heat)
            gas_time = datetime.fromtimestamp(ts - ts % 300, BRUSSELS)
        yield MeterReading(
            variant=P1Variant.EMUCS_H,
            header="FLU5\\253769484_A",
            timestamp=local,
            meter_id=meter_id,
            tariff=tariff,
            energy_import_kwh={1: math.floor(e_import[1]) / 1000, 2: math.floor(e_import[2]) / 1000},
            energy_export_kwh={1: math.floor(e_export[1]) / 1000, 2: math.floor(e_export[2]) / 1000},
            power_import_w=float(round(max(net_total, 0.0))),
            power_export_w=float(round(max(-net_total, 0.0))),
            phases=tuple(phases),
            mbus=(
                MBusDevice(
                    channel=1,
                    device_type=3,
                    equipment_id=GAS_ID,
                    value=gas_dm3 / 1000,
                    unit="m3",
                    capture_time=gas_time,
                ),
            ),
        )


def day_start(year: int, month: int, day: int, zone: ZoneInfo = BRUSSELS) -> datetime:
    """Local midnight of a date as an aware datetime."""
    return datetime(year, month, day, tzinfo=zone)


def local_day_seconds(start: datetime) -> int:
    """Length in seconds of the local day that begins at `start` (82,800 / 86,400 / 90,000)."""
    nxt = datetime.combine(start.date() + timedelta(days=1), start.timetz().replace(fold=0))
    return int(nxt.timestamp() - start.timestamp())
