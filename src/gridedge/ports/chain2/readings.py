"""Chain 2 frames and Alfa registers as `MeterReading`s, in the model's canonical units (kWh, W).

What each source says, and where it goes in the reading (`P1Variant.CHAIN2`):

| reading field | Chain2Gate CF1 | Chain2Gate CF21 | Sinapsi Alfa |
|---|---|---|---|
| `timestamp` | `MeasurePosixTimestamp` | `EventPosixTimestamp` | the poll's time (no clock register) |
| `meter_id` | `Meter` | `Meter` | configured (the registers carry no id) |
| `power_import_w` | `InstantPower` | `InstantPower` | reg 2 |
| `power_export_w` | None (not sent) | None | reg 12 |
| `energy_import_kwh[0]` | `TotalActEnergy` / 1000 | last CF1's | regs 5-6 / 1000 |
| `energy_export_kwh[0]` | - | - | regs 15-16 / 1000 |
| `tariff` | `TariffCode` (1..6 = F1..F6) | last CF1's | reg 203 |
| `tariff_period` | F1 normal, F2 intermediate, F3 low | last CF1's | same |
| `current_average_demand_w` | `QuartAveragePower` | last CF1's | reg 9 |
| `current_average_demand_export_w` | - | - | reg 19 |

The energy registers are the meter's total (key 0, as for Nordic and Luxembourg meters): the
Chain 2 frames carry no per-band register, and the Alfa's per-band values are yesterday's totals
(`AlfaReading.import_yesterday_wh`), not registers. The quarter-hour average power is that of the
quarter just closed (Chain 2 sends it with the quarter's CF1), where Belgian meters' 1-0:1.4.0 is
the quarter in progress; both are "the demand the meter last computed".

A CF21 carries only the instantaneous power (it is sent on every 300 W step), so `Chain2Readings`
keeps the last CF1 of each meter and completes every CF21 with its totals, band and average.
Before the first CF1 a CF21 gives a reading with the power alone (registers unknown: empty, never
zero).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from gridedge.model.reading import MeterReading, P1Variant, TariffPeriod
from gridedge.ports.chain2.chain2gate import Frame, PowerStep, QuarterHour
from gridedge.ports.chain2.sinapsi import AlfaReading

__all__ = ["Chain2Readings", "alfa_reading", "band_period", "power_step_reading", "quarter_hour_reading"]

CHAIN2GATE_HEADER: Final = "chain2:chain2gate"
ALFA_HEADER: Final = "chain2:sinapsi-alfa"

_PERIODS: Final = {1: TariffPeriod.NORMAL, 2: TariffPeriod.INTERMEDIATE, 3: TariffPeriod.LOW}


def band_period(band: int | None) -> TariffPeriod | None:
    """F1 -> normal, F2 -> intermediate, F3 -> low (ARERA deliberation 181/06); F4..F6 and
    unknown (0, None) have no period."""
    return None if band is None else _PERIODS.get(band)


def quarter_hour_reading(frame: QuarterHour) -> MeterReading:
    """A CF1 as a reading: total register, band, the quarter's average power, the power now."""
    band = frame.tariff_band or None
    return MeterReading(
        variant=P1Variant.CHAIN2,
        header=f"{CHAIN2GATE_HEADER}:CF1",
        timestamp=frame.time,
        meter_id=frame.meter,
        tariff=band,
        tariff_period=band_period(band),
        energy_import_kwh={0: frame.total_energy_wh / 1000.0},
        power_import_w=frame.instant_power_w,
        current_average_demand_w=frame.average_power_w,
    )


def power_step_reading(frame: PowerStep, last: QuarterHour | None = None) -> MeterReading:
    """A CF21 as a reading, completed with the registers of `last` (the meter's last CF1)."""
    reading = MeterReading(
        variant=P1Variant.CHAIN2,
        header=f"{CHAIN2GATE_HEADER}:CF21",
        timestamp=frame.time,
        meter_id=frame.meter,
        power_import_w=frame.instant_power_w,
    )
    if last is not None:
        band = last.tariff_band or None
        reading.tariff = band
        reading.tariff_period = band_period(band)
        reading.energy_import_kwh = {0: last.total_energy_wh / 1000.0}
        reading.current_average_demand_w = last.average_power_w
    return reading


def alfa_reading(alfa: AlfaReading, meter_id: str, time: datetime) -> MeterReading:
    """An Alfa register snapshot as a reading of the grid meter (the production meter's values
    stay in `AlfaReading`: they are another meter's)."""
    return MeterReading(
        variant=P1Variant.CHAIN2,
        header=ALFA_HEADER,
        timestamp=time,
        meter_id=meter_id,
        tariff=alfa.tariff_band,
        tariff_period=band_period(alfa.tariff_band),
        energy_import_kwh={0: alfa.import_wh / 1000.0},
        energy_export_kwh={0: alfa.export_wh / 1000.0},
        power_import_w=alfa.import_w,
        power_export_w=alfa.export_w,
        current_average_demand_w=alfa.import_avg_15min_w,
        current_average_demand_export_w=alfa.export_avg_15min_w,
    )


class Chain2Readings:
    """Frames in, readings out; remembers each meter's last CF1 so that CF21 steps are complete.

    `feed` returns None for frames that are no reading (CF22 overloads, device info, unknown
    types): the caller handles those (`Overload.warning`).
    """

    __slots__ = ("last_quarter",)

    def __init__(self) -> None:
        self.last_quarter: dict[str, QuarterHour] = {}

    def feed(self, frame: Frame) -> MeterReading | None:
        if isinstance(frame, QuarterHour):
            self.last_quarter[frame.meter] = frame
            return quarter_hour_reading(frame)
        if isinstance(frame, PowerStep):
            return power_step_reading(frame, self.last_quarter.get(frame.meter))
        return None
