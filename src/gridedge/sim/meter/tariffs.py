"""Day/night tariff schedules of the virtual meter and what each tariff number means.

The tariff indicator 0-0:96.14.0 says which register pair 1-0:1.8.x / 2.8.x counts the energy
(DSMR 5.0.2 §7.1). The numbering is reversed between the two countries:

* Belgium: tariff 1 = normal (day), 2 = low (night) (e-MUCS H Ed. 1.3 §3.3.1). The usual
  Belgian two-rate window is day 07:00-22:00 on working days, night and weekends low. Some
  Flemish and Walloon areas shift it by an hour (the DSO decides); pass another schedule then.
* Netherlands: tariff 1 = low ("dal"), 2 = normal ("piek") (DSMR 5.0.2 §7.1 note). The usual
  Dutch window is normal 07:00-23:00 on working days, low at night and all weekend (a few grid
  operators start low at 21:00).
* Luxembourg: Smarty meters send the total registers 1-0:1.8.0 / 2.8.0 only (Luxembourg spec
  example, meter-ports.md §A.8): no schedule, no indicator.

Public holidays are not modelled (Dutch meters switch to low on them, Belgian ones do not).
Windows are in local wall time of the site, so they follow DST: the meter switches at 07:00 local
in summer and in winter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from gridedge.model.reading import TariffPeriod
from gridedge.model.scenario import MeterProfile


@dataclass(frozen=True, slots=True)
class TariffSchedule:
    """A two-rate schedule: `normal_from`..`normal_until` on `normal_weekdays` is normal, else low."""

    normal_tariff: int
    low_tariff: int
    normal_from: time = time(7, 0)
    normal_until: time = time(22, 0)
    normal_weekdays: frozenset[int] = frozenset(range(5))
    """Weekdays (Monday = 0) that have a normal-rate window."""

    def __post_init__(self) -> None:
        if self.normal_tariff == self.low_tariff:
            raise ValueError("normal and low tariff must be different register numbers")
        for edge in (self.normal_from, self.normal_until):
            if edge.minute % 15 or edge.second or edge.microsecond:
                # the meter looks the tariff up once per quarter-hour
                raise ValueError(f"tariff switch time {edge} is not on a quarter-hour")

    def tariff_at(self, local: datetime) -> int:
        """The tariff number in force at local wall time `local`."""
        if local.weekday() in self.normal_weekdays and self.normal_from <= local.time() < self.normal_until:
            return self.normal_tariff
        return self.low_tariff

    def period(self, tariff: int) -> TariffPeriod:
        return TariffPeriod.NORMAL if tariff == self.normal_tariff else TariffPeriod.LOW


BELGIUM = TariffSchedule(normal_tariff=1, low_tariff=2, normal_from=time(7, 0), normal_until=time(22, 0))
NETHERLANDS = TariffSchedule(normal_tariff=2, low_tariff=1, normal_from=time(7, 0), normal_until=time(23, 0))


def default_schedule(profile: MeterProfile) -> TariffSchedule | None:
    """The country's usual schedule; None for Luxembourg (total registers only)."""
    if profile is MeterProfile.BE:
        return BELGIUM
    if profile is MeterProfile.NL:
        return NETHERLANDS
    return None


__all__ = ["BELGIUM", "NETHERLANDS", "TariffSchedule", "default_schedule"]
