"""Quarter-hour average demand, the month's peak and the 13-month peak history (Belgian capacity tariff).

Objects (e-MUCS P1 1.7.x, meter-ports.md §A.6; spec text not public, semantics from meters):

* 1-0:1.4.0 current average demand: the average import power of the running quarter-hour. This
  meter gives the running average, energy imported since the quarter began divided by the time
  elapsed, so at the end of the quarter it is the quarter's average.
* 1-0:1.6.0 maximum demand of the running month: the highest completed quarter average and the
  time stamp of that quarter's end. The meter records the real peak. The 2.5 kW minimum that
  Fluvius bills is a tariff rule, not a meter rule.
* 0-0:98.1.0 history: one entry per finished month, oldest first, at most 13. The first time
  stamp of an entry is the capture at the month change. Real Fluvius telegrams stamp October's
  peak `(231101000000W)(231016130000S)(04.927*kW)`, so the capture is the first instant of the
  next month (`telegram_fluvius_v171_alt.txt` in the corpus).

Quarters are aligned to :00, :15, :30 and :45 local time. At simulation start the first quarter is
partial: its average is over the part the meter saw. Quarter ends are given as Unix seconds; the
meter turns them into aware datetimes only when the peak or the history changes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QuarterDemand:
    """A completed demand period: its end (Unix s) and average import power."""

    end_epoch: float
    average_w: float


@dataclass(frozen=True, slots=True)
class MonthRecord:
    """One finished month: captured at `capture_epoch` (the month change), peak at `peak_epoch`."""

    capture_epoch: float
    peak_epoch: float | None
    peak_w: float


class DemandMeter:
    """Accumulates import energy per quarter and keeps the month peak and the history."""

    __slots__ = ("energy_wh", "history", "history_len", "month_peak_epoch", "month_peak_w", "quarter_start")

    def __init__(self, quarter_start: float, history_len: int = 13) -> None:
        self.quarter_start = quarter_start
        self.energy_wh = 0.0
        self.month_peak_w = 0.0
        self.month_peak_epoch: float | None = None
        self.history: list[MonthRecord] = []
        self.history_len = history_len

    def average_w(self, now: float) -> float:
        """Running average import power of the current quarter up to `now`."""
        elapsed = now - self.quarter_start
        return self.energy_wh * 3600.0 / elapsed if elapsed > 0 else 0.0

    def close(self, end: float, month_change: bool) -> QuarterDemand:
        """Finish the quarter ending at `end`; update the peak; at a month change, file the month.

        Rounded to W as on the telegram (F5(3,3) kW), so the peak register holds what it shows.
        """
        avg = float(round(self.average_w(end)))
        if avg > self.month_peak_w:
            self.month_peak_w = avg
            self.month_peak_epoch = end
        if month_change:
            self.history.append(MonthRecord(end, self.month_peak_epoch, self.month_peak_w))
            del self.history[: -self.history_len]
            self.month_peak_w = 0.0
            self.month_peak_epoch = None
        self.quarter_start = end
        self.energy_wh = 0.0
        return QuarterDemand(end, avg)


__all__ = ["DemandMeter", "MonthRecord", "QuarterDemand"]
