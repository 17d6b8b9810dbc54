"""What the planner is given: prices, forecasts, grid limits and the devices' states and needs.

Everything is a frozen dataclass checked on construction; a bad value raises `ValueError` naming
the field, what was expected and what was found. Per-step series are numpy float arrays of
length `n` (read-only after construction); a scalar is broadcast. Units follow the field names:
W for power, EUR/kWh for prices and fees, kWh for energy, °C for temperatures, step indices
(0..n) for times inside the horizon (use `Timeline.step_at` to turn a datetime into one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from gridedge.home.cem.planner.timeline import Timeline

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Series = FloatArray | float | list[float] | tuple[float, ...]


def _series(name: str, value: object, n: int, *, allow_nan: bool = False) -> FloatArray:
    arr = np.array(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected {n} values (one per step), found shape {arr.shape}")
    bad = ~np.isfinite(arr) & ~(np.isnan(arr) if allow_nan else np.zeros(n, bool))
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"{name}: expected finite numbers, found {arr[k]} at step {k}")
    arr.setflags(write=False)
    return arr


def _mask(name: str, value: object, n: int) -> BoolArray:
    arr = np.array(value, dtype=np.bool_)
    if arr.ndim == 0:
        arr = np.full(n, bool(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected {n} booleans (one per step), found shape {arr.shape}")
    arr.setflags(write=False)
    return arr


def _check(cond: bool, name: str, expected: str, found: object) -> None:
    if not cond:
        raise ValueError(f"{name}: expected {expected}, found {found!r}")


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True)
class PVInputs:
    """One PV system (or the site total): forecast AC output in W (>= 0) per step.

    `curtailable`: the inverter accepts a production limit (SunSpec WMaxLimPct, S2); when False
    its whole forecast must be used or exported.
    """

    device_id: str
    forecast_w: FloatArray
    curtailable: bool = True


@dataclass(frozen=True, slots=True)
class BatteryInputs:
    """A home battery. Powers at the AC terminals; `soc` etc. are shares of `capacity_kwh`.

    `terminal_soc`: the state of charge wanted at the end of the horizon (soft: priced slack);
    None leaves the end free, so the plan may empty the battery. `wear_eur_per_kwh` is a cycling
    cost on charged plus discharged AC energy (0: none).
    """

    device_id: str
    capacity_kwh: float
    charge_max_w: float
    discharge_max_w: float
    soc: float
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    soc_min: float = 0.0
    soc_max: float = 1.0
    terminal_soc: float | None = None
    wear_eur_per_kwh: float = 0.0

    def __post_init__(self) -> None:
        d = self.device_id
        _check(self.capacity_kwh > 0, f"{d}.capacity_kwh", "> 0", self.capacity_kwh)
        _check(self.charge_max_w >= 0, f"{d}.charge_max_w", ">= 0", self.charge_max_w)
        _check(self.discharge_max_w >= 0, f"{d}.discharge_max_w", ">= 0", self.discharge_max_w)
        for name in ("charge_efficiency", "discharge_efficiency"):
            v = getattr(self, name)
            _check(0 < v <= 1, f"{d}.{name}", "a share in (0, 1]", v)
        for name in ("soc", "soc_min", "soc_max"):
            v = getattr(self, name)
            _check(0 <= v <= 1, f"{d}.{name}", "a share in [0, 1]", v)
        _check(self.soc_min <= self.soc_max, f"{d}.soc_min", f"<= soc_max {self.soc_max}", self.soc_min)
        if self.terminal_soc is not None:
            _check(
                self.soc_min <= self.terminal_soc <= self.soc_max,
                f"{d}.terminal_soc",
                f"within [soc_min, soc_max] = [{self.soc_min}, {self.soc_max}]",
                self.terminal_soc,
            )
        _check(self.wear_eur_per_kwh >= 0, f"{d}.wear_eur_per_kwh", ">= 0", self.wear_eur_per_kwh)


@dataclass(frozen=True, slots=True)
class EVInputs:
    """One charging session of an electric vehicle.

    `plugged[t]`: the car is connected during step t. The session's deadline is `departure_step`
    (the first step the car is gone; None: the end of the first plugged run, or the horizon end
    when it stays plugged). `energy_needed_kwh` must reach the car's battery by then (charger
    losses are `efficiency`). The charger runs at 0 or between min and max current per phase
    (IEC 61851-1: at least 6 A); with `phase_switching` it may also run on one phase (the
    contactor switch evcc and many wallboxes do), which lowers the minimum power from 3x to 1x.
    Plugged steps after the deadline (a later session) are not planned: the car's state of charge
    on its return is not known yet, the next plan after arrival covers it.
    """

    device_id: str
    capacity_kwh: float
    plugged: BoolArray
    soc: float
    energy_needed_kwh: float
    departure_step: int | None = None
    phases: Literal[1, 3] = 3
    min_current_a: float = 6.0
    max_current_a: float = 16.0
    phase_switching: bool = False
    efficiency: float = 0.9
    voltage_v: float = 230.0
    max_soc: float = 1.0

    def __post_init__(self) -> None:
        d = self.device_id
        _check(self.capacity_kwh > 0, f"{d}.capacity_kwh", "> 0", self.capacity_kwh)
        _check(0 <= self.soc <= 1, f"{d}.soc", "a share in [0, 1]", self.soc)
        _check(0 <= self.max_soc <= 1, f"{d}.max_soc", "a share in [0, 1]", self.max_soc)
        _check(self.phases in (1, 3), f"{d}.phases", "1 or 3", self.phases)
        _check(self.min_current_a >= 0, f"{d}.min_current_a", ">= 0 A", self.min_current_a)
        _check(
            self.min_current_a <= self.max_current_a,
            f"{d}.max_current_a",
            f">= min_current_a {self.min_current_a} A",
            self.max_current_a,
        )
        _check(0 < self.efficiency <= 1, f"{d}.efficiency", "a share in (0, 1]", self.efficiency)
        _check(self.voltage_v > 0, f"{d}.voltage_v", "> 0 V", self.voltage_v)
        _check(self.energy_needed_kwh >= 0, f"{d}.energy_needed_kwh", ">= 0", self.energy_needed_kwh)
        room = max(0.0, (self.max_soc - self.soc) * self.capacity_kwh)
        _check(
            self.energy_needed_kwh <= room + 1e-9,
            f"{d}.energy_needed_kwh",
            f"<= the room left in the battery, (max_soc - soc) x capacity = {room:.3f} kWh",
            self.energy_needed_kwh,
        )
        plugged = np.array(self.plugged, dtype=np.bool_)
        _check(plugged.ndim == 1, f"{d}.plugged", "one boolean per step", plugged.shape)
        plugged.setflags(write=False)
        _set(self, "plugged", plugged)
        if self.departure_step is not None:
            _check(
                0 <= self.departure_step <= len(plugged),
                f"{d}.departure_step",
                f"a step in 0..{len(plugged)}",
                self.departure_step,
            )

    @property
    def deadline(self) -> int:
        """First step after the session (the car must have its energy before it)."""
        if self.departure_step is not None:
            return self.departure_step
        idx = np.flatnonzero(self.plugged)
        if idx.size == 0:
            return 0
        gone = np.flatnonzero(~self.plugged[idx[0] :])
        return int(idx[0] + gone[0]) if gone.size else len(self.plugged)

    def session(self) -> BoolArray:
        """Steps the planner may charge in: plugged and before the deadline."""
        mask = np.array(self.plugged, dtype=np.bool_)
        mask[self.deadline :] = False
        return mask

    def power_range_w(self, phases: int) -> tuple[float, float]:
        return phases * self.voltage_v * self.min_current_a, phases * self.voltage_v * self.max_current_a


@dataclass(frozen=True, slots=True)
class HeatPumpInputs:
    """A heat pump heating one thermal mass (first-order RC house model).

    C dT/dt = COP x P_el - UA x (T - T_out), integrated exactly over each step with P_el and T_out
    constant (the same model as `gridedge.sim.heatpump`). `cop` and `max_electric_w` per step
    come from the outdoor temperature (see `config.heat_pump_from_config`, hplib maps). The
    comfort band `comfort_min_c`/`comfort_max_c` applies to the indoor temperature at the end
    of each step (NaN: no bound that step). `min_modulation`: when set, the compressor runs at
    0 or between this share and 1 of `max_electric_w` (one binary per step), in the first
    `min_modulation_steps` steps (None: in every step); later steps are planned as the mean
    power of a compressor that cycles (any power 0..max over the step).
    """

    device_id: str
    ua_w_per_k: float
    capacity_kwh_per_k: float
    indoor_c: float
    comfort_min_c: FloatArray
    comfort_max_c: FloatArray
    cop: FloatArray
    max_electric_w: FloatArray
    min_modulation: float | None = None
    min_modulation_steps: int | None = None

    def __post_init__(self) -> None:
        d = self.device_id
        _check(self.ua_w_per_k > 0, f"{d}.ua_w_per_k", "> 0 W/K", self.ua_w_per_k)
        _check(self.capacity_kwh_per_k > 0, f"{d}.capacity_kwh_per_k", "> 0 kWh/K", self.capacity_kwh_per_k)
        _check(math.isfinite(self.indoor_c), f"{d}.indoor_c", "a finite temperature", self.indoor_c)
        if self.min_modulation is not None:
            _check(
                0 < self.min_modulation <= 1, f"{d}.min_modulation", "a share in (0, 1]", self.min_modulation
            )
        if self.min_modulation_steps is not None:
            _check(
                self.min_modulation_steps >= 0,
                f"{d}.min_modulation_steps",
                "a number of steps >= 0",
                self.min_modulation_steps,
            )


@dataclass(frozen=True, slots=True)
class ApplianceInputs:
    """A shiftable appliance (S2 PPBC-like): one run of a fixed power sequence, one value per
    step, that must start at or after `earliest_start` and end by `latest_end` (step indices;
    `latest_end` may lie beyond the horizon, the run's tail after the horizon is then valued at
    the horizon's mean import price)."""

    device_id: str
    earliest_start: int
    latest_end: int
    profile_w: FloatArray

    def __post_init__(self) -> None:
        d = self.device_id
        prof = np.array(self.profile_w, dtype=np.float64)
        _check(prof.ndim == 1 and prof.size > 0, f"{d}.profile_w", "a non-empty power sequence", prof.shape)
        _check(bool(np.isfinite(prof).all() and (prof >= 0).all()), f"{d}.profile_w", "finite W >= 0", prof)
        prof.setflags(write=False)
        _set(self, "profile_w", prof)
        _check(self.earliest_start >= 0, f"{d}.earliest_start", "a step >= 0", self.earliest_start)
        _check(
            self.latest_end > self.earliest_start,
            f"{d}.latest_end",
            f"> earliest_start {self.earliest_start}",
            self.latest_end,
        )

    @property
    def duration(self) -> int:
        return int(self.profile_w.size)


@dataclass(frozen=True, slots=True)
class CapacityTariff:
    """Belgian capacity tariff (Fluvius/ORES/Sibelga since 2023): EUR per kW of the month's highest
    15-minute average import.

    `eur_per_kw` is the cost of raising this month's peak by 1 kW (the yearly rate / 12);
    `peak_kw` the peak already reached this month (include the 2.5 kW minimum billed by
    Fluvius); `counts[t]`: whether step t's import counts toward that peak (False for steps in
    the next month, whose peak the plan does not price).
    """

    eur_per_kw: float
    peak_kw: float
    counts: BoolArray | bool = True

    def __post_init__(self) -> None:
        _check(self.eur_per_kw >= 0, "capacity.eur_per_kw", ">= 0", self.eur_per_kw)
        _check(self.peak_kw >= 0, "capacity.peak_kw", ">= 0 kW", self.peak_kw)


@dataclass(frozen=True, slots=True)
class GridLimits:
    """Grid connection and time-varying limits at the connection point.

    `connection_import_w`/`connection_export_w` is the connection size (fuse/contract).
    `import_max_w`/`export_max_w` are per-step limits from LPC/LPP (EEBus / VDE-AR-E 2829-6),
    scheduled ones included; NaN or None where no limit is active (the connection size then
    applies).
    """

    connection_import_w: float = 9200.0
    connection_export_w: float = 9200.0
    import_max_w: FloatArray | None = None
    export_max_w: FloatArray | None = None

    def __post_init__(self) -> None:
        _check(self.connection_import_w > 0, "limits.connection_import_w", "> 0 W", self.connection_import_w)
        _check(
            self.connection_export_w >= 0, "limits.connection_export_w", ">= 0 W", self.connection_export_w
        )


@dataclass(frozen=True, slots=True)
class Penalties:
    """Prices of giving way on a hard need, ranked: grid limit > comfort > EV energy > appliance
    run > battery end state. High enough to outweigh any price signal (the BE day-ahead price is
    capped at 4 EUR/kWh, a capacity-tariff kW at ~5 EUR/month), finite so the MILP always has a
    solution."""

    grid_limit_eur_per_kwh: float = 10_000.0
    comfort_eur_per_kh: float = 2_000.0
    ev_eur_per_kwh: float = 1_000.0
    appliance_eur_per_run: float = 500.0
    battery_terminal_eur_per_kwh: float = 50.0
    tie_break_eur_per_kwh: float = 1e-5
    """Tiny cost rising with time on controllable consumption: among equal-price steps the plan
    takes the earliest (breaks MILP symmetry; EMHASS issue #751 'lazy' charging)."""


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """Everything one solve needs. Arrays have one value per step; `n` is their length."""

    start: datetime
    import_price: FloatArray
    export_price: FloatArray
    grid_fee: FloatArray
    base_load_w: FloatArray
    step_s: int = 900
    outdoor_c: FloatArray | None = None
    pv: tuple[PVInputs, ...] = ()
    batteries: tuple[BatteryInputs, ...] = ()
    evs: tuple[EVInputs, ...] = ()
    heat_pumps: tuple[HeatPumpInputs, ...] = ()
    appliances: tuple[ApplianceInputs, ...] = ()
    capacity: CapacityTariff | None = None
    limits: GridLimits = field(default_factory=GridLimits)
    penalties: Penalties = field(default_factory=Penalties)

    def __post_init__(self) -> None:
        price = np.array(self.import_price, dtype=np.float64)
        _check(price.ndim == 1 and price.size > 0, "import_price", "one price per step", price.shape)
        n = int(price.size)
        self.timeline  # noqa: B018 - validates start and step_s
        _set(self, "import_price", _series("import_price", price, n))
        _set(self, "export_price", _series("export_price", self.export_price, n))
        _set(self, "grid_fee", _series("grid_fee", self.grid_fee, n))
        _set(self, "base_load_w", _series("base_load_w", self.base_load_w, n))
        if self.outdoor_c is not None:
            _set(self, "outdoor_c", _series("outdoor_c", self.outdoor_c, n))
        ids: list[str] = []
        pvs = []
        for pv in self.pv:
            f = _series(f"{pv.device_id}.forecast_w", pv.forecast_w, n)
            _check(bool((f >= 0).all()), f"{pv.device_id}.forecast_w", "W >= 0 (production)", float(f.min()))
            pvs.append(PVInputs(pv.device_id, f, pv.curtailable))
            ids.append(pv.device_id)
        _set(self, "pv", tuple(pvs))
        ids += [b.device_id for b in self.batteries]
        for ev in self.evs:
            _check(len(ev.plugged) == n, f"{ev.device_id}.plugged", f"{n} booleans", len(ev.plugged))
            ids.append(ev.device_id)
        hps = []
        for hp in self.heat_pumps:
            if self.outdoor_c is None:
                raise ValueError(
                    f"outdoor_c: expected a temperature series for heat pump {hp.device_id}, found None"
                )
            d = hp.device_id
            lo = _series(f"{d}.comfort_min_c", hp.comfort_min_c, n, allow_nan=True)
            hi = _series(f"{d}.comfort_max_c", hp.comfort_max_c, n, allow_nan=True)
            both = ~np.isnan(lo) & ~np.isnan(hi)
            if (lo[both] > hi[both]).any():
                k = int(np.flatnonzero(both & (np.nan_to_num(lo) > np.nan_to_num(hi)))[0])
                raise ValueError(
                    f"{d}.comfort_min_c: expected <= comfort_max_c, found {lo[k]} > {hi[k]} at step {k}"
                )
            cop = _series(f"{d}.cop", hp.cop, n)
            _check(bool((cop > 0).all()), f"{d}.cop", "> 0", float(cop.min()))
            pmax = _series(f"{d}.max_electric_w", hp.max_electric_w, n)
            _check(bool((pmax >= 0).all()), f"{d}.max_electric_w", ">= 0 W", float(pmax.min()))
            hps.append(
                HeatPumpInputs(
                    d, hp.ua_w_per_k, hp.capacity_kwh_per_k, hp.indoor_c, lo, hi, cop, pmax,
                    hp.min_modulation, hp.min_modulation_steps,
                )
            )  # fmt: skip
            ids.append(d)
        _set(self, "heat_pumps", tuple(hps))
        ids += [a.device_id for a in self.appliances]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"device_id: expected unique ids, found {', '.join(dup)} repeated")
        lim = self.limits
        arrays: list[FloatArray | None] = []
        for name in ("import_max_w", "export_max_w"):
            v = getattr(lim, name)
            arr = None if v is None else _series(f"limits.{name}", v, n, allow_nan=True)
            if arr is not None:
                _check(bool((np.nan_to_num(arr, nan=0.0) >= 0).all()), f"limits.{name}", ">= 0 W", v)
            arrays.append(arr)
        _set(
            self, "limits", GridLimits(lim.connection_import_w, lim.connection_export_w, arrays[0], arrays[1])
        )
        cap = self.capacity
        if cap is not None and not isinstance(cap.counts, bool):
            _set(
                self,
                "capacity",
                CapacityTariff(cap.eur_per_kw, cap.peak_kw, _mask("capacity.counts", cap.counts, n)),
            )

    @property
    def n(self) -> int:
        return int(self.import_price.size)

    @property
    def timeline(self) -> Timeline:
        return Timeline(self.start, self.step_s, int(np.size(self.import_price)))

    @property
    def pv_total_w(self) -> FloatArray:
        total = np.zeros(self.n)
        for pv in self.pv:
            total += pv.forecast_w
        return total

    def import_limit_w(self) -> FloatArray:
        """Per-step import limit: the LPC limit where one is active, never above the connection."""
        lim = self.limits
        base = np.full(self.n, lim.connection_import_w)
        if lim.import_max_w is None:
            return base
        return np.where(np.isnan(lim.import_max_w), base, np.minimum(base, lim.import_max_w))

    def export_limit_w(self) -> FloatArray:
        lim = self.limits
        base = np.full(self.n, lim.connection_export_w)
        if lim.export_max_w is None:
            return base
        return np.where(np.isnan(lim.export_max_w), base, np.minimum(base, lim.export_max_w))

    def capacity_counts(self) -> BoolArray:
        cap = self.capacity
        if cap is None:
            return np.zeros(self.n, dtype=np.bool_)
        if isinstance(cap.counts, bool):
            return np.full(self.n, cap.counts)
        return cap.counts
