"""Quarter-hour demand (1-0:1.4.0), month peak (1-0:1.6.0) and 13-month history (0-0:98.1.0)."""

from __future__ import annotations

from meter_support import local, meter, powered, run, second

from gridedge.model.reading import MonthlyPeak, PeakDemand
from gridedge.sim.meter.demand import DemandMeter


def test_running_average_of_the_quarter_and_the_month_peak() -> None:
    m = meter(profile="be", start="2025-06-17T10:00:00")
    quiet = powered(run(m, 0, 300, (0.0, 0, 0)))  # 10:00-10:05 nothing
    busy = powered(run(m, 300, 900, (1000.0, 1000.0, 1000.0)))  # 10:05-10:15 3 kW
    assert quiet[-1].current_average_demand_w == 0.0
    # at 10:10, 5 minutes of 3 kW over 10 minutes
    assert busy[299].timestamp == local("2025-06-17T10:10:00")
    assert busy[299].current_average_demand_w == 1500.0
    # at the quarter's end the running average is the quarter's average, and the peak takes it
    last = busy[-1]
    assert last.timestamp == local("2025-06-17T10:15:00")
    assert last.current_average_demand_w == 2000.0
    assert last.month_peak == PeakDemand(local("2025-06-17T10:15:00"), 2000.0)
    # before the first quarter ended, the month had no peak (e-MUCS sends 632525252525W)
    assert quiet[0].month_peak == PeakDemand(None, 0.0)
    # the next quarter starts from scratch: one second of 1 kW is 1 kW
    nxt = powered(run(m, 900, 1800, (1000.0, 0, 0)))
    assert nxt[0].current_average_demand_w == 1000.0
    # a lower quarter does not move the peak
    assert nxt[-1].month_peak == PeakDemand(local("2025-06-17T10:15:00"), 2000.0)
    assert nxt[-1].peak_history == ()


def test_demand_counts_import_only_and_rounds_to_watts() -> None:
    m = meter(profile="be", start="2025-06-17T10:00:00")
    r = powered(run(m, 0, 900, (1234.4, 0.0, -2000.0)))  # net export: no import demand
    assert r[-1].current_average_demand_w == 0.0
    m = meter(profile="be", start="2025-06-17T10:00:00")
    r = powered(run(m, 0, 900, (1234.4, 0.0, 0.0)))
    assert r[-1].current_average_demand_w == 1234.0
    assert r[-1].month_peak is not None and r[-1].month_peak.power_w == 1234.0


def test_partial_first_quarter_averages_what_the_meter_saw() -> None:
    m = meter(profile="be", start="2025-06-17T10:10:00")
    r = powered(run(m, 0, 300, (2500.0, 0, 0)))
    assert r[-1].timestamp == local("2025-06-17T10:15:00")
    assert r[-1].current_average_demand_w == 2500.0
    assert r[-1].month_peak == PeakDemand(local("2025-06-17T10:15:00"), 2500.0)


def test_month_change_files_the_peak_and_restarts_the_month() -> None:
    m = meter(profile="be", start="2025-01-31T23:15:00")
    run(m, 0, 900, (4000.0, 0, 0))  # 23:15-23:30: 4 kW
    end = powered(run(m, 900, 2700, (1000.0, 0, 0)))  # until 00:00
    at_midnight = end[-1]
    assert at_midnight.timestamp == local("2025-02-01T00:00:00")
    january = MonthlyPeak(local("2025-02-01T00:00:00"), local("2025-01-31T23:30:00"), 4000.0)
    assert at_midnight.peak_history == (january,)
    assert at_midnight.month_peak == PeakDemand(None, 0.0)
    feb = powered(run(m, 2700, 3600, (1500.0, 0, 0)))
    assert feb[-1].month_peak == PeakDemand(local("2025-02-01T00:15:00"), 1500.0)
    assert feb[-1].peak_history == (january,)


def test_history_keeps_the_last_13_months_oldest_first() -> None:
    d = DemandMeter(quarter_start=0.0)
    for month in range(15):
        d.energy_wh = 250.0 * (month + 1)  # quarter average 1 kW x (month + 1)
        d.close(900.0 * (month + 1), month_change=True)
    assert len(d.history) == 13
    assert [r.peak_w for r in d.history] == [1000.0 * k for k in range(3, 16)]
    assert d.month_peak_w == 0.0 and d.month_peak_epoch is None


def test_history_in_readings_over_fourteen_months() -> None:
    # one metrology second every ~10 days: the quarters in between are closed empty, and every
    # month change still files the month
    m = meter(profile="be", start="2025-01-01T00:00:00")
    t = 0
    last = None
    while t < 440 * 86400:  # until early March 2026
        last = m.update(second(t, (3000.0, 0, 0)))
        t += 10 * 86400 + 901
    assert last is not None and last.peak_history is not None
    history = last.peak_history
    assert len(history) == 13
    starts = [h.month_start for h in history]
    assert starts == sorted(starts)
    assert all(s is not None and s.day == 1 and s.hour == 0 and s.minute == 0 for s in starts)
    assert starts[-1] is not None and (starts[-1].year, starts[-1].month) == (2026, 3)
    # each 3 kW second sat alone in its quarter: every month's peak is 3 kW x 1 s / 900 s, in W
    assert {h.power_w for h in history} == {3.0}
