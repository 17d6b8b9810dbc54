"""gridedge's planner side by side with EMHASS on the same inputs, both plans costed alike.

Run (gridedge's python; EMHASS lives in its own environment, made once by bench/emhass_env.sh):

    bash bench/emhass_env.sh
    .venv/bin/python bench/emhass_side.py [--days 20] [--days192 5] [--capacity] [--emhass-gap 0.01]

For each instance one neutral problem description is built (a JSON-able dict, see `Problem`
below); EMHASS runs it in a subprocess (`bench/.venv-emhass/bin/python bench/emhass_runner.py`,
a fresh `Optimization` and one timed `perform_optimization` call per instance), gridedge's
planner runs the same description mapped onto `PlanInputs` (`plan_inputs`), and both schedules
are checked against the shared model (`violations`) and costed by one function
(`shared_cost`). Printed per instance and in summary: cost of each, difference (EMHASS -
gridedge, EUR and relative to EMHASS's cost), solve time of each (gridedge: `build` + `solve`
wall time; EMHASS: its `perform_optimization` call alone, CVXPY build + HiGHS solve + result
extraction, not the interpreter start), median and max.

Instances:

* `sample` / `sample+bat`: EMHASS's own sample data (`corpus/ems/emhass_sample`, the files its
  tests read): PV = data_weather_forecast.csv (W), load = data_load_forecast.csv (W), buy/sell =
  the first 48 rows of data_load_cost_forecast.csv / data_prod_price_forecast.csv; 48 steps of
  30 min; EMHASS's default devices: deferrable load 0 = 3 000 W x 4 h (one block, anywhere in
  the day; its load 1 has 0 h and is dropped), grid limits 9 000 W, and in `sample+bat` its
  default battery (5 kWh, 1 kW, which is 1 000 W AC charging and 950 W AC discharging in
  EMHASS's model, efficiencies 0.95, SOC 0.3-0.9, start = end 0.6). `opt_res_latest.csv`
  beside them is an older EMHASS output for other inputs (another date, PV and load, two
  multi-block deferrable loads): it is not comparable and not used.
* `be-MM-DD/96` and `be-MM-DD/192`: Belgian days from local midnight, 2025-10-01..20, the corpus
  days with true 15-minute day-ahead prices (`corpus/ems/be_day_ahead`): buy = DAM + 0.12
  EUR/kWh energy part + 0.05 grid fee, sell = DAM - 0.015 (as in bench/cem_solve.py); base
  load Synergrid RLP0N x 3 500 kWh, PV Synergrid SPP x 5 kWp (Flanders); battery 10 kWh, 5 kW AC
  both ways, efficiencies 0.95, SOC 0.05-1.0, start = end 0.5; grid 9.2 kW both ways; EV 11.1
  kWh, 0-7.4 kW continuous, plugged 00:00-07:00; dishwasher 1 800 W x 1.5 h as one block in
  12:00-24:00; washing machine power sequence 2 000, 2 000, 300 x 4, 800, 800 W in 08:00-22:00;
  PV curtailable. With `--capacity` also a capacity tariff of 50.24/12 EUR/kW on the horizon's
  highest quarter-hour import above an already-billed 2.5 kW. At 192 steps the devices run once
  (first day's windows); the EV is plugged 00:00-07:00 of the first day only.

The shared model (both sides get exactly this, and `violations` checks both plans against it):
per step, import - export = load + deferrable loads + battery charge - battery discharge -
(PV - curtailment); 0 <= import <= import limit, 0 <= export <= export limit, not both;
curtailment in [0, PV] when curtailable; battery: stored energy e[t] = e[t-1] + eff_c dt charge
- dt discharge / eff_d (AC powers), charge <= charge max, discharge <= discharge max, not both,
soc_min <= e / capacity <= soc_max, end SOC >= start SOC (surplus unvalued); a block load runs
its power for its steps once, contiguously, inside its window; a sequence load runs its
profile once inside its window; a continuous load takes exactly its energy in its window at
0..max power. Cost = sum over steps of dt x (import x buy - export x sell) [+ capacity tariff
x (horizon peak - billed peak)+]. Nothing else (gridedge's tie-breaks, EMHASS's terminal-SOC
slacks and curtailment tie-break, are not part of it).

Mapping and what is left out:

* gridedge: block and sequence loads -> `ApplianceInputs` (fixed power sequence in a window);
  continuous load -> `EVInputs` with min current 0 on one phase, efficiency 1, capacity = the
  energy (so exactly that energy); battery -> `BatteryInputs` with `terminal_soc` = start (soft,
  50 EUR/kWh short); grid -> `GridLimits` (soft at 10 000 EUR/kWh over); fee folded into buy.
* EMHASS: see bench/emhass_runner.py (battery power limits converted to EMHASS's sides, no-discharge-to-grid
  off, terminal surplus made free, semi-continuous single-constant blocks, sequence loads,
  continuous loads, `compute_curtailment`).
* Left out because one side cannot express it the same way: heat pumps (EMHASS's thermal load
  is a different first-order model with a linear COP; gridedge's is an exact RC step with
  hplib COP), EV minimum current / phase switching (EMHASS: semi-continuous at one power only),
  loads that may run in several blocks (EMHASS's default deferrable load; gridedge's appliance is
  one run), LPC per-step limits (EMHASS takes per-step limit lists, could be added), battery
  wear costs, and the capacity tariff's monthly bookkeeping beyond one horizon peak.

Solver settings: gridedge HiGHS 1 thread, MIP gap 0.1 % (`--gap`; the planner's own default is
0.5 %, at which gridedge stopped above EMHASS's cost on 3 of 52 instances by at most 0.19 %, each
within its reported gap); EMHASS HiGHS 1 thread (`num_threads`), its default MIP gap 1 %
(`--emhass-gap`) and 45 s limit. EMHASS is never a dependency of gridedge: nothing here imports it.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from cem_solve import be_prices, spp  # the same corpus readers as part (a)
from gridedge.cli_progress import add_progress_flag, progress, progress_wanted
from gridedge.home.cem.planner import (
    ApplianceInputs,
    BatteryInputs,
    CapacityTariff,
    EVInputs,
    GridLimits,
    Plan,
    PlanInputs,
    PVInputs,
    SolverOptions,
    build,
    solve,
)
from gridedge.model.scenario import BaseLoadProfile
from gridedge.physics.profiles import corpus_dir, load_profile

HERE = Path(__file__).resolve().parent
EMHASS_PYTHON = HERE / ".venv-emhass" / "bin" / "python"
RUNNER = HERE / "emhass_runner.py"
TZ = ZoneInfo("Europe/Brussels")
SAMPLE = "ems/emhass_sample"

Problem = dict[str, Any]
"""The neutral description (JSON-able). Keys: name, start (ISO), step_s, n, buy_eur_per_kwh,
sell_eur_per_kwh, load_w, pv_w (lists of n), pv_curtailable, grid {import_max_w, export_max_w},
battery None | {capacity_kwh, charge_max_w, discharge_max_w (AC), charge_efficiency,
discharge_efficiency, soc_min, soc_max, soc_init, soc_final}, deferrable [ {id, start, end
(steps, end exclusive)} + one of {power_w, steps} (block) | {profile_w} (sequence) |
{energy_kwh, max_power_w} (continuous) ], capacity None | {eur_per_kw, billed_peak_kw}, solver
{mip_rel_gap, emhass_mip_rel_gap, time_limit_s, threads}."""

TOL_W = 1.0
"""Power tolerance (W) of the constraint checks (EMHASS's results are rounded by the solver)."""
TOL_KWH = 1e-3


# ------------------------------------------------------------------------------------------------
# instances


def _csv_values(path: Path, rows: int) -> list[float]:
    with path.open(encoding="utf-8") as f:
        vals = [float(r[1]) for r in csv.reader(f) if r]
    return vals[:rows]


def sample_problem(battery: bool, solver: dict[str, float]) -> Problem:
    """EMHASS's sample day (48 x 30 min) with its default devices."""
    d = corpus_dir() / SAMPLE
    n = 48
    bat = None
    if battery:
        # EMHASS defaults: 5 kWh, 1 000 W charge and discharge, which EMHASS applies on the AC
        # side when charging and on the cell side when discharging (see emhass_runner.py)
        bat = {
            "capacity_kwh": 5.0,
            "charge_max_w": 1000.0,
            "discharge_max_w": 1000.0 * 0.95,
            "charge_efficiency": 0.95,
            "discharge_efficiency": 0.95,
            "soc_min": 0.3,
            "soc_max": 0.9,
            "soc_init": 0.6,
            "soc_final": 0.6,
        }
    return {
        "name": "sample+bat" if battery else "sample",
        "start": "2025-02-24T00:00:00+00:00",
        "step_s": 1800,
        "n": n,
        "buy_eur_per_kwh": _csv_values(d / "data_load_cost_forecast.csv", n),
        "sell_eur_per_kwh": _csv_values(d / "data_prod_price_forecast.csv", n),
        "load_w": _csv_values(d / "data_load_forecast.csv", n),
        "pv_w": [max(0.0, v) for v in _csv_values(d / "data_weather_forecast.csv", n)],
        "pv_curtailable": False,
        "grid": {"import_max_w": 9000.0, "export_max_w": 9000.0},
        "battery": bat,
        "deferrable": [{"id": "deferrable0", "power_w": 3000.0, "steps": 8, "start": 0, "end": 0}],
        "capacity": None,
        "solver": solver,
    }


def be_problem(day: date, n: int, capacity: bool, solver: dict[str, float]) -> Problem:
    """A Belgian household from local midnight of `day`, `n` quarter hours (see the docstring)."""
    start = datetime(day.year, day.month, day.day, tzinfo=TZ)
    utc = [start.astimezone(UTC) + timedelta(minutes=15 * k) for k in range(n)]
    dam = np.array([be_prices()[t] for t in utc])
    rlp = load_profile(BaseLoadProfile.SYNERGRID_RLP0N, "flanders")
    load = [rlp.watts_per_kwh(t.astimezone(TZ)) * 3500.0 for t in utc]
    pv = [spp()[t] * 5.0 * 1000.0 for t in utc]  # the SPP column is kW per kWp

    def at(hour: float) -> int:
        return round(hour * 4)

    return {
        "name": f"be-{day:%m-%d}/{n}" + ("+cap" if capacity else ""),
        "start": start.isoformat(),
        "step_s": 900,
        "n": n,
        "buy_eur_per_kwh": [float(x) for x in dam + 0.12 + 0.05],
        "sell_eur_per_kwh": [float(x) for x in dam - 0.015],
        "load_w": load,
        "pv_w": pv,
        "pv_curtailable": True,
        "grid": {"import_max_w": 9200.0, "export_max_w": 9200.0},
        "battery": {
            "capacity_kwh": 10.0,
            "charge_max_w": 5000.0,
            "discharge_max_w": 5000.0,
            "charge_efficiency": 0.95,
            "discharge_efficiency": 0.95,
            "soc_min": 0.05,
            "soc_max": 1.0,
            "soc_init": 0.5,
            "soc_final": 0.5,
        },
        "deferrable": [
            {"id": "ev", "energy_kwh": 11.1, "max_power_w": 7400.0, "start": 0, "end": at(7)},
            {"id": "dishwasher", "power_w": 1800.0, "steps": 6, "start": at(12), "end": at(24)},
            {
                "id": "washing-machine",
                "profile_w": [2000.0] * 2 + [300.0] * 4 + [800.0] * 2,
                "start": at(8),
                "end": at(22),
            },
        ],
        "capacity": {"eur_per_kw": 50.24 / 12, "billed_peak_kw": 2.5} if capacity else None,
        "solver": solver,
    }


# ------------------------------------------------------------------------------------------------
# the shared model: mapping to gridedge, schedules, checks, cost


def window(problem: Problem, d: dict[str, Any]) -> tuple[int, int]:
    """A deferrable load's window [start, end) in steps; end 0 means the horizon's end."""
    n = int(problem["n"])
    start, end = int(d["start"]), int(d["end"])
    return max(0, start), (n if end <= 0 else min(n, end))


def profile(d: dict[str, Any]) -> list[float] | None:
    """The fixed power sequence of a block or sequence load (None for a continuous load)."""
    if "profile_w" in d:
        return [float(x) for x in d["profile_w"]]
    if "power_w" in d:
        return [float(d["power_w"])] * int(d["steps"])
    return None


def plan_inputs(problem: Problem) -> PlanInputs:
    """The neutral description as gridedge `PlanInputs` (see the module docstring)."""
    n = int(problem["n"])
    bat = problem.get("battery")
    batteries: tuple[BatteryInputs, ...] = ()
    if bat is not None:
        batteries = (
            BatteryInputs(
                "battery",
                capacity_kwh=float(bat["capacity_kwh"]),
                charge_max_w=float(bat["charge_max_w"]),
                discharge_max_w=float(bat["discharge_max_w"]),
                soc=float(bat["soc_init"]),
                charge_efficiency=float(bat["charge_efficiency"]),
                discharge_efficiency=float(bat["discharge_efficiency"]),
                soc_min=float(bat["soc_min"]),
                soc_max=float(bat["soc_max"]),
                terminal_soc=float(bat["soc_final"]),
            ),
        )
    apps: list[ApplianceInputs] = []
    evs: list[EVInputs] = []
    for d in problem.get("deferrable", []):
        lo, hi = window(problem, d)
        prof = profile(d)
        if prof is not None:
            apps.append(ApplianceInputs(str(d["id"]), lo, hi, np.array(prof)))
            continue
        energy = float(d["energy_kwh"])
        if energy <= 0:
            continue
        plugged = np.zeros(n, dtype=np.bool_)
        plugged[lo:hi] = True
        evs.append(
            EVInputs(
                str(d["id"]),
                capacity_kwh=energy,
                plugged=plugged,
                soc=0.0,
                energy_needed_kwh=energy,
                departure_step=hi,
                phases=1,
                min_current_a=0.0,
                max_current_a=float(d["max_power_w"]) / 230.0,
                efficiency=1.0,
                voltage_v=230.0,
            )
        )
    cap = problem.get("capacity")
    grid = problem["grid"]
    return PlanInputs(
        start=datetime.fromisoformat(str(problem["start"])),
        import_price=np.array(problem["buy_eur_per_kwh"], dtype=np.float64),
        export_price=np.array(problem["sell_eur_per_kwh"], dtype=np.float64),
        grid_fee=np.zeros(n),
        base_load_w=np.array(problem["load_w"], dtype=np.float64),
        step_s=int(problem["step_s"]),
        pv=(PVInputs("pv", np.array(problem["pv_w"], dtype=np.float64), bool(problem["pv_curtailable"])),),
        batteries=batteries,
        evs=tuple(evs),
        appliances=tuple(apps),
        capacity=None
        if cap is None
        else CapacityTariff(float(cap["eur_per_kw"]), float(cap["billed_peak_kw"])),
        limits=GridLimits(float(grid["import_max_w"]), float(grid["export_max_w"])),
    )


@dataclass(frozen=True)
class Schedule:
    """One plan in the shared model's terms: per-step W, all >= 0."""

    import_w: np.ndarray
    export_w: np.ndarray
    charge_w: np.ndarray
    discharge_w: np.ndarray
    curtailment_w: np.ndarray
    deferrable_w: tuple[np.ndarray, ...]
    soc: np.ndarray | None = None
    """The solver's own SOC (end of each step), to compare with the one recomputed here."""


def gridedge_schedule(problem: Problem, plan: Plan) -> Schedule:
    n = int(problem["n"])
    bat = plan.batteries[0].power_w if plan.batteries else np.zeros(n)
    apps = {a.device_id: a.power_w for a in plan.appliances}
    evs = {e.device_id: e.power_w for e in plan.evs}
    loads = []
    for d in problem.get("deferrable", []):
        loads.append(np.asarray(apps.get(d["id"], evs.get(d["id"], np.zeros(n))), dtype=np.float64))
    return Schedule(
        import_w=np.asarray(plan.grid_import_w, dtype=np.float64),
        export_w=np.asarray(plan.grid_export_w, dtype=np.float64),
        charge_w=np.maximum(bat, 0.0),
        discharge_w=np.maximum(-bat, 0.0),
        curtailment_w=np.asarray(plan.pv[0].curtailed_w if plan.pv else np.zeros(n), dtype=np.float64),
        deferrable_w=tuple(loads),
        soc=np.asarray(plan.batteries[0].soc) if plan.batteries else None,
    )


def emhass_schedule(problem: Problem, result: dict[str, Any]) -> Schedule:
    n = int(problem["n"])
    z = [0.0] * n
    return Schedule(
        import_w=np.array(result["import_w"], dtype=np.float64),
        export_w=np.array(result["export_w"], dtype=np.float64),
        charge_w=np.array(result.get("battery_charge_w", z), dtype=np.float64),
        discharge_w=np.array(result.get("battery_discharge_w", z), dtype=np.float64),
        curtailment_w=np.array(result.get("curtailment_w", z), dtype=np.float64),
        deferrable_w=tuple(np.array(x, dtype=np.float64) for x in result["deferrable_w"]),
        soc=np.array(result["soc"], dtype=np.float64) if "soc" in result else None,
    )


def soc_trajectory(problem: Problem, s: Schedule) -> np.ndarray | None:
    """SOC at the end of each step under the shared battery model (None without a battery)."""
    bat = problem.get("battery")
    if bat is None:
        return None
    dt = int(problem["step_s"]) / 3600.0
    gain = dt * (
        float(bat["charge_efficiency"]) * s.charge_w - s.discharge_w / float(bat["discharge_efficiency"])
    )
    e = float(bat["soc_init"]) * float(bat["capacity_kwh"]) + np.cumsum(gain) / 1000.0
    return np.asarray(e / float(bat["capacity_kwh"]))


def net_import_w(problem: Problem, s: Schedule) -> np.ndarray:
    """Import - export that the energy balance requires for this schedule."""
    load = np.array(problem["load_w"], dtype=np.float64)
    pv = np.array(problem["pv_w"], dtype=np.float64)
    defer = sum(s.deferrable_w, np.zeros(len(load)))
    return np.asarray(load + defer + s.charge_w - s.discharge_w - (pv - s.curtailment_w))


def violations(problem: Problem, s: Schedule) -> list[str]:
    """Every way the schedule breaks the shared model (empty: it is feasible)."""
    out: list[str] = []
    n = int(problem["n"])
    pv = np.array(problem["pv_w"], dtype=np.float64)

    def worst(name: str, excess: np.ndarray, unit: str = "W", tol: float = TOL_W) -> None:
        if excess.size and float(excess.max()) > tol:
            k = int(np.argmax(excess))
            out.append(f"{name}: {float(excess.max()):.3g} {unit} at step {k}")

    for name, arr in (
        ("import < 0", -s.import_w),
        ("export < 0", -s.export_w),
        ("charge < 0", -s.charge_w),
        ("discharge < 0", -s.discharge_w),
        ("curtailment < 0", -s.curtailment_w),
    ):
        worst(name, arr)
    worst("energy balance", np.abs(s.import_w - s.export_w - net_import_w(problem, s)))
    worst("import and export together", np.minimum(s.import_w, s.export_w))
    worst("import limit", s.import_w - float(problem["grid"]["import_max_w"]))
    worst("export limit", s.export_w - float(problem["grid"]["export_max_w"]))
    worst("curtailment > PV", s.curtailment_w - pv)
    if not problem.get("pv_curtailable"):
        worst("curtailment of a fixed PV", s.curtailment_w)
    bat = problem.get("battery")
    if bat is None:
        worst("battery power without a battery", s.charge_w + s.discharge_w)
    else:
        worst("charge limit", s.charge_w - float(bat["charge_max_w"]))
        worst("discharge limit", s.discharge_w - float(bat["discharge_max_w"]))
        worst("charge and discharge together", np.minimum(s.charge_w, s.discharge_w))
        soc = soc_trajectory(problem, s)
        assert soc is not None
        cap = float(bat["capacity_kwh"])
        worst("soc below min", (float(bat["soc_min"]) - soc) * cap, "kWh", TOL_KWH)
        worst("soc above max", (soc - float(bat["soc_max"])) * cap, "kWh", TOL_KWH)
        worst("end soc below target", np.array([(float(bat["soc_final"]) - soc[-1]) * cap]), "kWh", TOL_KWH)
        if s.soc is not None and s.soc.size == n:
            worst("solver soc differs from the schedule's", np.abs(s.soc - soc) * cap, "kWh", 0.01)
    dt = int(problem["step_s"]) / 3600.0
    for d, p in zip(problem.get("deferrable", []), s.deferrable_w, strict=True):
        lo, hi = window(problem, d)
        name = str(d["id"])
        outside = np.concatenate([p[:lo], p[hi:]])
        worst(f"{name} outside its window", outside if outside.size else np.zeros(1))
        prof = profile(d)
        if prof is None:
            energy = float(np.sum(p)) * dt / 1000.0
            if abs(energy - float(d["energy_kwh"])) > TOL_KWH:
                out.append(f"{name}: {energy:.4f} kWh, expected {float(d['energy_kwh']):.4f}")
            worst(f"{name} above max power", p - float(d["max_power_w"]))
            continue
        shape = np.array(prof)
        fits = [
            k
            for k in range(lo, hi - shape.size + 1)
            if np.allclose(p[k : k + shape.size], shape, atol=TOL_W)
            and np.allclose(np.delete(p, np.arange(k, k + shape.size)), 0.0, atol=TOL_W)
        ]
        if not fits:
            on = np.flatnonzero(p > TOL_W)
            out.append(f"{name}: not one run of its profile inside [{lo}, {hi}) (on at steps {on.tolist()})")
    return out


@dataclass(frozen=True)
class Cost:
    energy: float
    capacity: float
    peak_kw: float

    @property
    def total(self) -> float:
        return self.energy + self.capacity


def shared_cost(problem: Problem, s: Schedule) -> Cost:
    """EUR of a schedule under the shared tariff: energy (+ capacity tariff when the model has one).

    The grid exchange is taken from the energy balance (netted per step), so a schedule that
    imports and exports in one step is costed as its net."""
    dt = int(problem["step_s"]) / 3600.0
    net = net_import_w(problem, s)
    imp = np.maximum(net, 0.0) / 1000.0
    exp = np.maximum(-net, 0.0) / 1000.0
    buy = np.array(problem["buy_eur_per_kwh"], dtype=np.float64)
    sell = np.array(problem["sell_eur_per_kwh"], dtype=np.float64)
    energy = float(np.sum(dt * (imp * buy - exp * sell)))
    peak = float(imp.max()) if imp.size else 0.0  # steps of >= 15 min: each is its own quarter
    cap = problem.get("capacity")
    capacity = (
        0.0 if cap is None else float(cap["eur_per_kw"]) * max(0.0, peak - float(cap["billed_peak_kw"]))
    )
    return Cost(energy, capacity, peak)


# ------------------------------------------------------------------------------------------------
# running both


@dataclass(frozen=True)
class Side:
    cost: Cost | None
    seconds: float
    """gridedge: build + solve wall; EMHASS: its perform_optimization call."""
    detail: str
    problems: tuple[str, ...]


def run_gridedge(problem: Problem) -> Side:
    inputs = plan_inputs(problem)
    solver = problem["solver"]
    opts = SolverOptions(
        time_limit_s=float(solver["time_limit_s"]),
        mip_rel_gap=float(solver["mip_rel_gap"]),
        threads=int(solver["threads"]),
    )
    t0 = time.perf_counter()
    model = build(inputs)
    plan = solve(model, opts)
    wall = time.perf_counter() - t0
    sched = gridedge_schedule(problem, plan)
    bad = violations(problem, sched)
    bad += [f"relaxed: {r.message}" for r in plan.relaxations]
    detail = f"{plan.status.value} gap {plan.mip_gap:.2%} bin {model.num_binaries} own {plan.cost.total:.4f}"
    return Side(shared_cost(problem, sched), wall, detail, tuple(bad))


def run_emhass(problem: Problem) -> Side:
    if not EMHASS_PYTHON.exists():
        raise SystemExit(f"{EMHASS_PYTHON} not found: run `bash bench/emhass_env.sh` first")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "problem.json", Path(tmp) / "result.json"
        src.write_text(json.dumps(problem), encoding="utf-8")
        proc = subprocess.run(
            [str(EMHASS_PYTHON), str(RUNNER), str(src), str(dst)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0 or not dst.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            return Side(None, float("nan"), "runner failed", tuple(tail))
        result = json.loads(dst.read_text(encoding="utf-8"))
    sched = emhass_schedule(problem, result)
    bad = violations(problem, sched)
    if result["status"] != "Optimal":
        bad.insert(0, f"status {result['status']}")
    solve_s = result.get("stages_s", {}).get("optim_solve.solve", float("nan"))
    detail = (
        f"{result['status']} bin {result.get('num_binaries', '?')} HiGHS {solve_s:.3f}s"
        f" (+ constructor {result.get('init_s', float('nan')):.3f}s)"
    )
    return Side(shared_cost(problem, sched), float(result["solve_wall_s"]), detail, tuple(bad))


@dataclass(frozen=True)
class Row:
    name: str
    n: int
    ge: Side
    em: Side

    @property
    def diff(self) -> float:
        """EMHASS cost - gridedge cost (EUR): > 0 means gridedge is cheaper."""
        if self.ge.cost is None or self.em.cost is None:
            return float("nan")
        return self.em.cost.total - self.ge.cost.total

    @property
    def rel(self) -> float:
        """The difference relative to |EMHASS's cost|."""
        if self.em.cost is None:
            return float("nan")
        return self.diff / max(abs(self.em.cost.total), 1e-9)


def report(rows: list[Row]) -> None:
    print(
        f"{'instance':<18}{'gridedge EUR':>13}{'EMHASS EUR':>12}{'EM-GE EUR':>11}{'rel':>8}"
        f"{'t gridedge':>12}{'t EMHASS':>10}"
    )
    for r in rows:
        ge = f"{r.ge.cost.total:.4f}" if r.ge.cost else "-"
        em = f"{r.em.cost.total:.4f}" if r.em.cost else "-"
        print(
            f"{r.name:<18}{ge:>13}{em:>12}{r.diff:>11.4f}{r.rel:>8.2%}{r.ge.seconds:>11.3f}s{r.em.seconds:>9.3f}s"
        )
        print(f"{'':<18}gridedge: {r.ge.detail}; EMHASS: {r.em.detail}")
        for who, side in (("gridedge", r.ge), ("EMHASS", r.em)):
            for p in side.problems:
                print(f"{'':<18}!! {who}: {p}")
    print()
    groups: dict[str, list[Row]] = {}
    for r in rows:
        key = (
            "sample"
            if r.name.startswith("sample")
            else f"BE {r.n} steps" + (" cap" if "+cap" in r.name else "")
        )
        groups.setdefault(key, []).append(r)
    for key, rs in groups.items():
        # cost statistics only over instances where both plans are feasible in the shared model
        ok = [r for r in rs if np.isfinite(r.diff) and not r.ge.problems and not r.em.problems]
        d = np.array([r.diff for r in ok] or [float("nan")])
        rel = np.array([r.rel for r in ok] or [float("nan")])
        tg = np.array([r.ge.seconds for r in rs])
        te = np.array([r.em.seconds for r in rs if np.isfinite(r.em.seconds)])
        worse = sum(1 for r in ok if r.diff < -1e-4)
        infeasible = sum(1 for r in rs if r.ge.problems or r.em.problems)
        print(
            f"{key} ({len(rs)}): EMHASS - gridedge median {np.median(d):.4f} EUR ({np.median(rel):.2%}), "
            f"min {d.min():.4f} EUR ({rel.min():.2%}), max {d.max():.4f} EUR; "
            f"gridedge dearer on {worse}; instances with a plan off the shared model {infeasible}"
        )
        print(
            f"{'':<4}solve time gridedge median {np.median(tg):.3f} s max {tg.max():.3f} s; "
            f"EMHASS median {np.median(te):.3f} s max {te.max():.3f} s"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=20, help="BE days at 96 steps from 2025-10-01 (max 20)")
    ap.add_argument("--days192", type=int, default=5, help="BE days at 192 steps (every 4th day, max 20)")
    ap.add_argument(
        "--capacity", action="store_true", help="also run every BE instance with a capacity tariff"
    )
    ap.add_argument("--gap", type=float, default=0.001, help="gridedge MIP gap (0.1 %%: see the docstring)")
    ap.add_argument("--emhass-gap", type=float, default=0.01, help="EMHASS MIP gap (its default 0.01)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=45.0)
    ap.add_argument("--only", default="", help="run only instances whose name contains this")
    ap.add_argument("--dump", default="", help="write each problem JSON into this folder")
    add_progress_flag(ap)
    args = ap.parse_args()
    solver = {
        "mip_rel_gap": args.gap,
        "emhass_mip_rel_gap": args.emhass_gap,
        "time_limit_s": args.time_limit,
        "threads": args.threads,
    }
    problems = [sample_problem(False, solver), sample_problem(True, solver)]
    first = date(2025, 10, 1)
    caps = (False, True) if args.capacity else (False,)
    for cap in caps:
        for k in range(min(args.days, 20)):
            problems.append(be_problem(first + timedelta(days=k), 96, cap, solver))
        step = max(1, 20 // max(1, args.days192))
        for k in range(0, 20, step)[: args.days192]:
            problems.append(be_problem(first + timedelta(days=k), 192, cap, solver))
    rows = []
    problems = [p for p in problems if not args.only or args.only in p["name"]]
    bar_on = progress_wanted(args.no_progress)
    with progress(
        "instances", total=len(problems), unit="instances", enabled=bar_on, proxy_stdout=True
    ) as bar:
        for p in problems:
            bar.describe(p["name"])
            if args.dump:
                Path(args.dump).mkdir(parents=True, exist_ok=True)
                (Path(args.dump) / (p["name"].replace("/", "_") + ".json")).write_text(
                    json.dumps(p), encoding="utf-8"
                )
            em = run_emhass(p)
            ge = run_gridedge(p)
            rows.append(Row(p["name"], int(p["n"]), ge, em))
            r = rows[-1]
            print(
                f"  {r.name}: gridedge {r.ge.seconds:.3f} s, EMHASS {r.em.seconds:.3f} s,"
                f" EM-GE {r.diff:.4f} EUR",
                file=sys.stderr,
            )
            bar.advance()
    report(rows)


if __name__ == "__main__":
    main()
