"""The virtual meter's Italian profile (`--profile it`): a 2G "Open Meter" and its Chain 2 frames.

Italian meters have no P1 port; the customer's devices read them over Chain 2 (CEI TS 13-82..84,
PLC on the home wiring). `ItalianMeter` takes the metrology seconds the household produces and
runs what a 2G meter runs for its Chain 2 user devices (`shared/notes/meter-ports.md` §D):

* **Registers and bands.** Import and export energy, per ARERA band (deliberation 181/06, the
  "fasce orarie" every Italian bill uses): F1 Monday-Friday 08:00-19:00; F2 Monday-Friday
  07:00-08:00 and 19:00-23:00, Saturday 07:00-23:00; F3 Monday-Saturday 23:00-07:00, all of
  Sunday and of the national holidays (1 and 6 January, Easter Monday, 25 April, 1 May, 2 June,
  15 August, 1 November, 8, 25 and 26 December). Italian legal time (Europe/Rome) decides, so
  the bands follow DST. The band of a quarter hour is the one in force at its start (bands switch
  on whole hours, so it is the band of the whole quarter).
* **Frames.** CF1 at the end of every quarter hour (band, the quarter's energy and average power,
  the power now, the total register); CF21 whenever the import power moved by at least 300 W
  (`step_w`) since the last one reported (a dead band, so a load hovering on a boundary does not
  chatter); CF22 while more than the available power is drawn: when it starts, when the
  countdown shortens (the excess grew), and every `overload_every_s` in between, with the
  seconds left. Frame shapes are those of the Chain2Gate (`ports.chain2.chain2gate`).
* **Available power and the overload countdown.** The available power is the contractual power
  + 10 % (ARERA, for supplies up to 30 kW: "potenza disponibile" = "potenza impegnata" x 1.1;
  servizioelettriconazionale.it, segugio.it; 3 kW -> 3.3 kW). Up to it the meter supplies for
  ever. Above it a countdown to disconnection runs whose length depends on the excess (areti.it,
  "Se scatta il contatore": "da 2 minuti a 3 ore ... maggiore è la potenza, minore è il
  tempo"). The published thresholds, for a 3 kW contract, go back to the agreement of
  e-distribuzione (then Enel) with the consumer associations of 5 February 2003: up to 4 kW for
  about three hours, above 4 kW a disconnection after two minutes (blitzquotidiano.it, energy
  section; segugio.it "fino a 4 kW per qualche ora, oltre ... dopo pochi minuti"). Suppliers
  give the long delay as 182 minutes (luce-gas.it, bollettaddio.it) and the upper threshold as
  133 % of the contractual power (4 kW / 3 kW; e.g. the e-distribuzione GEMIS table of the
  power-manager README by MicheleMercuri, "110-133 %: >= 3 hours, > 133 %: <= 2 minutes").
  So: above `available_w` a 182 min countdown starts; above `tolerance_w` (4/3 of the
  contractual power) a 120 s one; the earlier deadline applies. A countdown ends when the import
  drops back to the available power; when it runs out the breaker opens (`trip`), and the
  customer closes it again with the button, like any 2G meter ("basta rialzare l'interruttore").
  Whether a meter resumes or restarts a countdown after a short dip is not published; this one
  restarts it.
* **The Sinapsi Alfa's registers** (`alfa`): powers now, the last quarter's average powers, the
  energy registers as of the last CF1 (the Alfa refreshes energies about every 15 min),
  yesterday's energy per band, the band now and the countdown (`ports.chain2.sinapsi`).

Pure and per second like `VirtualMeter`: `update` takes one `SecondMeasurement` and returns the
frames of that second and whether the breaker must open; no clock, no socket. While the grid is
down on every phase the meter is unpowered and silent (quarters still close, without CF1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from gridedge.ports.chain2.chain2gate import Frame, Overload, PowerStep, QuarterHour
from gridedge.ports.chain2.sinapsi import AlfaReading
from gridedge.sim.measurement import SecondMeasurement
from gridedge.sim.meter.timebase import QUARTER_S, epoch_of

__all__ = ["ITALY", "ItalianBands", "ItalianMeter", "ItalianSecond", "ItalyConfig", "easter_sunday"]

ITALY: Final = ZoneInfo("Europe/Rome")
_TOL: Final = 0.05
"""Seconds of slack for a metrology second of 50 mains cycles (as `breaker`)."""


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month = (h + ell - 7 * m + 114) // 31
    day = (h + ell - 7 * m + 114) % 31 + 1
    return date(year, month, day)


class ItalianBands:
    """ARERA's bands F1/F2/F3 (deliberation 181/06) by Italian wall-clock time."""

    FIXED_HOLIDAYS: Final = frozenset({(1, 1), (1, 6), (4, 25), (5, 1), (6, 2), (8, 15), (11, 1), (12, 8),
                                       (12, 25), (12, 26)})  # fmt: skip
    """(month, day) of the national holidays that count as Sundays; Easter Monday comes on top."""

    def is_holiday(self, day: date) -> bool:
        if (day.month, day.day) in self.FIXED_HOLIDAYS:
            return True
        return day == easter_sunday(day.year) + timedelta(days=1)

    def band_at(self, local: datetime) -> int:
        """1, 2 or 3 (F1, F2, F3) at Italian wall-clock time `local`."""
        weekday = local.weekday()
        if weekday == 6 or self.is_holiday(local.date()):
            return 3
        t = local.time()
        if t < time(7) or t >= time(23):
            return 3
        if weekday == 5:
            return 2
        return 1 if time(8) <= t < time(19) else 2


@dataclass(frozen=True, slots=True)
class ItalyConfig:
    """A household's Italian supply and its 2G meter (defaults: the common 3 kW contract)."""

    contract_kw: float = 3.0
    """Contractual power ("potenza impegnata")."""
    available_share: float = 1.10
    """Available power / contractual power (ARERA: +10 % up to 30 kW)."""
    tolerance_share: float = 4.0 / 3.0
    """Import / contractual power above which the short countdown runs (4 kW for 3 kW)."""
    tolerance_s: float = 182 * 60.0
    """Countdown between the available power and the tolerance: 182 min."""
    overload_s: float = 120.0
    """Countdown above the tolerance: 2 min."""
    step_w: float = 300.0
    """CF21 is sent when the import power moved by this much since the last one."""
    overload_every_s: float = 10.0
    """CF22 repeats this often while the countdown runs."""
    meter_id: str = "IT001E00000001"
    """The point of delivery (POD) the Chain2Gate names as the frames' meter."""
    start_import_kwh: float = 2000.0
    start_export_kwh: float = 0.0

    def __post_init__(self) -> None:
        if not self.contract_kw > 0:
            raise ValueError(f"contract_kw must be > 0, got {self.contract_kw}")
        if not 1.0 <= self.available_share < self.tolerance_share:
            raise ValueError("expected 1 <= available_share < tolerance_share")
        if not 0 < self.overload_s <= self.tolerance_s:
            raise ValueError("expected 0 < overload_s <= tolerance_s")
        if not (self.step_w > 0 and self.overload_every_s > 0):
            raise ValueError("step_w and overload_every_s must be > 0")

    @property
    def available_w(self) -> float:
        return round(self.contract_kw * 1000.0 * self.available_share, 3)

    @property
    def tolerance_w(self) -> float:
        return round(self.contract_kw * 1000.0 * self.tolerance_share, 3)


@dataclass(frozen=True, slots=True)
class ItalianSecond:
    """What one second produced: the Chain 2 frames to send, and whether the breaker opens."""

    frames: tuple[Frame, ...]
    trip: bool
    seconds_left: float | None
    """The countdown at the end of the second, None when none runs."""


class ItalianMeter:
    """A 2G meter driven by one metrology second at a time (see the module docstring)."""

    def __init__(self, config: ItalyConfig, start: datetime) -> None:
        self.config = config
        self.bands = ItalianBands()
        self._epoch0 = epoch_of(start)
        self._import_wh = config.start_import_kwh * 1000.0
        self._export_wh = config.start_export_kwh * 1000.0
        self._quarter = int((self._epoch0 + 1e-6) // QUARTER_S)
        self._band = self._band_of_quarter(self._quarter)
        self._q_import_wh = 0.0
        self._q_export_wh = 0.0
        self._last_avg_import_w = 0.0
        self._last_avg_export_w = 0.0
        self._cf1_import_wh = math.floor(self._import_wh)
        self._cf1_export_wh = math.floor(self._export_wh)
        self._day = self._local(self._epoch0).date()
        self._day_import = [0.0] * 6
        self._day_export = [0.0] * 6
        self.yesterday_import_wh: tuple[int, ...] = (0,) * 6
        self.yesterday_export_wh: tuple[int, ...] = (0,) * 6
        self._reported_w: float | None = None
        self.import_w = 0.0
        self.export_w = 0.0
        self._over_since: float | None = None
        self._excess_since: float | None = None
        self._deadline: float | None = None
        self._warned_at = -math.inf
        self._warned_deadline = math.inf
        self.trips = 0
        self.overload_frames = 0
        self.t = 0.0
        """Sim time at the end of the last second."""

    # --- state ---------------------------------------------------------------------------------

    @property
    def band(self) -> int:
        """The band (1..3) of the quarter hour in progress."""
        return self._band

    @property
    def import_wh(self) -> float:
        """Exact import register (Wh)."""
        return self._import_wh

    @property
    def export_wh(self) -> float:
        return self._export_wh

    @property
    def seconds_left(self) -> float | None:
        """The countdown at the end of the last second, None when none runs."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - self.t)

    def now(self) -> datetime:
        """UTC time at the end of the last second."""
        return datetime.fromtimestamp(self._epoch0 + self.t, UTC)

    def alfa(self) -> AlfaReading:
        """The registers a Sinapsi Alfa shows now (`ports.chain2.sinapsi`)."""
        left = self.seconds_left
        seconds = None if left is None else math.ceil(left - 1e-9)
        now = round(self._epoch0 + self.t)
        return AlfaReading(
            import_w=float(round(self.import_w)),
            export_w=float(round(self.export_w)),
            import_avg_15min_w=float(round(self._last_avg_import_w)),
            export_avg_15min_w=float(round(self._last_avg_export_w)),
            import_wh=self._cf1_import_wh,
            export_wh=self._cf1_export_wh,
            import_yesterday_wh=self.yesterday_import_wh,
            export_yesterday_wh=self.yesterday_export_wh,
            tariff_band=self._band,
            seconds_left=seconds,
            disconnect_at=None if seconds is None else datetime.fromtimestamp(now + seconds, UTC),
            production_w=None,
            production_wh=None,
        )

    # --- the per-second path -------------------------------------------------------------------

    def update(self, m: SecondMeasurement) -> ItalianSecond:
        """Account one metrology second: its frames, and whether the breaker opens at its end (the
        caller opens it: `VirtualMeter.trip`). With the breaker open the house draws nothing, and
        the meter goes on sending CF1 frames."""
        cfg = self.config
        t0, t1 = m.t, m.t + max(m.duration_s, 1.0)
        e0 = self._epoch0 + t0
        frames: list[Frame] = []
        q = int((e0 + 1e-6) // QUARTER_S)
        if q != self._quarter:
            frames.append(self._close_quarter((self._quarter + 1) * QUARTER_S))
            self._enter_quarter(q, e0)
        if m.duration_s <= 0:  # no voltage on any phase: the meter is unpowered and sends nothing
            self.t = t1
            self.import_w = self.export_w = 0.0
            self._reported_w = None  # it reports its power again when the supply returns
            self._clear()
            return ItalianSecond((), False, None)
        net = m.net_power_w
        self.import_w = max(net, 0.0)
        self.export_w = max(-net, 0.0)
        self._import_wh += m.energy_import_wh
        self._export_wh += m.energy_export_wh
        self._q_import_wh += m.energy_import_wh
        self._q_export_wh += m.energy_export_wh
        self._day_import[self._band - 1] += m.energy_import_wh
        self._day_export[self._band - 1] += m.energy_export_wh
        self.t = t1
        when = datetime.fromtimestamp(round(self._epoch0 + t1), UTC)
        power = float(round(self.import_w))
        if self._reported_w is None or abs(power - self._reported_w) >= cfg.step_w:
            self._reported_w = power
            frames.append(PowerStep(cfg.meter_id, when, power))
        trip = self._supervise(t0, t1, power)
        left = self.seconds_left
        if trip:
            self.trips += 1
        elif left is not None and self._deadline is not None:
            shorter = self._deadline < self._warned_deadline - _TOL
            if shorter or t1 - self._warned_at >= cfg.overload_every_s - _TOL:
                self._warned_at = t1
                self._warned_deadline = self._deadline
                self.overload_frames += 1
                frames.append(Overload(cfg.meter_id, power, cfg.available_w, float(math.ceil(left - 1e-9))))
        return ItalianSecond(tuple(frames), trip, left)

    def _supervise(self, t0: float, t1: float, power_w: float) -> bool:
        """The overload countdown over [t0, t1); True when it ran out (the breaker opens)."""
        cfg = self.config
        if power_w <= cfg.available_w:
            self._clear()
            return False
        if self._over_since is None:
            self._over_since = t0
        if power_w > cfg.tolerance_w:
            if self._excess_since is None:
                self._excess_since = t0
        else:
            self._excess_since = None
        deadline = self._over_since + cfg.tolerance_s
        if self._excess_since is not None:
            deadline = min(deadline, self._excess_since + cfg.overload_s)
        self._deadline = deadline
        if t1 >= deadline - _TOL:
            self._clear()
            return True
        return False

    def _clear(self) -> None:
        self._over_since = self._excess_since = self._deadline = None
        self._warned_at = -math.inf
        self._warned_deadline = math.inf

    # --- calendar ------------------------------------------------------------------------------

    def _local(self, epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, ITALY)

    def _band_of_quarter(self, q: int) -> int:
        return self.bands.band_at(self._local(q * QUARTER_S))

    def _close_quarter(self, end_epoch: float) -> QuarterHour:
        """The CF1 of the quarter that ends at `end_epoch`."""
        cfg = self.config
        q_wh = self._q_import_wh
        self._last_avg_import_w = q_wh * 3600.0 / QUARTER_S
        self._last_avg_export_w = self._q_export_wh * 3600.0 / QUARTER_S
        self._cf1_import_wh = math.floor(self._import_wh + 1e-7)
        self._cf1_export_wh = math.floor(self._export_wh + 1e-7)
        return QuarterHour(
            cfg.meter_id,
            datetime.fromtimestamp(round(end_epoch), UTC),
            self._band,
            float(round(q_wh)),
            float(round(self._last_avg_import_w)),
            float(round(self.import_w)),
            float(self._cf1_import_wh),
        )

    def _enter_quarter(self, q: int, epoch: float) -> None:
        self._quarter = q
        self._band = self._band_of_quarter(q)
        self._q_import_wh = self._q_export_wh = 0.0
        day = self._local(epoch).date()
        if day != self._day:  # local midnight: today's band totals become yesterday's
            self.yesterday_import_wh = (*(math.floor(v + 1e-7) for v in self._day_import),)
            self.yesterday_export_wh = (*(math.floor(v + 1e-7) for v in self._day_export),)
            self._day = day
            self._day_import = [0.0] * 6
            self._day_export = [0.0] * 6
