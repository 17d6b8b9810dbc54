"""Run EMHASS on one neutral problem description and write its schedule back (bench/emhass_side.py).

Run with the EMHASS environment's python (bench/emhass_env.sh), never with gridedge's:

    bench/.venv-emhass/bin/python bench/emhass_runner.py problem.json result.json

Imports only emhass, pandas and numpy (and the standard library). The problem format is the one
`emhass_side.py` writes (see its docstring); the result holds EMHASS's per-step schedule (W, its
own sign conventions undone: import, export, battery charge and discharge at the AC side, each
deferrable load, curtailment), its status, and the wall time of the `perform_optimization` call
alone (building the CVXPY problem plus the HiGHS solve plus reading the result back; the
interpreter start, the imports and building the configuration dictionaries are not counted),
with EMHASS's own split into build / solve / extract, and apart from it the time of the
`Optimization` constructor (which creates the variables and their bounds, `init_s`).

How the neutral model is expressed in EMHASS 0.18.x (`Optimization.perform_optimization`,
cost function "profit", one fresh `Optimization` per call so every solve is cold):

* prices: `unit_load_cost` = buy price, `unit_prod_price` = sell price (EUR/kWh).
* grid: `maximum_power_from_grid` / `maximum_power_to_grid` (W).
* PV: `compute_curtailment` as the problem says (the curtailment variable is <= the forecast).
* battery: EMHASS 0.18.7 bounds the AC powers twice: `p_sto_neg >= -battery_charge_power_max`
  and `>= -battery_charge_power_max / eff_chg` (the first binds: the charge limit is on the AC
  side), `p_sto_pos <= battery_discharge_power_max` and `<= eff_dis x battery_discharge_power_max`
  (the second binds: the discharge limit is on the cell side). The neutral description gives
  AC limits, so charge_max = AC and discharge_max = AC / eff_dis. `set_nodischarge_to_grid`
  and `set_nocharge_from_grid` are off (the shared model has no such rule). The terminal SOC is
  soft in EMHASS: a shortfall is priced at 100x the dearest import price, a surplus by default
  at the same rate; `battery_soc_final_reward_factor` is set to a tiny positive number so that a
  surplus is free, as in the shared model (end SOC >= target).
* deferrable loads: a constant-power block ("power_w" x "steps") is a semi-continuous,
  single-constant load running `steps` x dt operating hours; a power sequence ("profile_w") is an EMHASS
  sequence load (nominal power given as a list); a continuous energy need ("energy_kwh", power
  0..max) is a plain continuous load with the operating hours = energy / max power. Each gets its
  window as start/end timesteps (end exclusive).
"""

from __future__ import annotations

import csv
import json
import logging
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd


def _configs(problem: dict) -> tuple[dict, dict, dict]:
    """EMHASS's default configuration, split into its three dicts, with the problem applied."""
    data = resources.files("emhass") / "data"
    defaults = json.loads((data / "config_defaults.json").read_text(encoding="utf-8"))
    category: dict[str, str] = {}
    with (data / "associations.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            category[row["parameter"]] = row["config_categorie"]
    conf: dict[str, dict] = {"retrieve_hass_conf": {}, "optim_conf": {}, "plant_conf": {}}
    for key, value in defaults.items():
        cat = category.get(key, "optim_conf")
        if cat in conf:
            conf[cat][key] = value
    rh, optim, plant = conf["retrieve_hass_conf"], conf["optim_conf"], conf["plant_conf"]

    step_s = int(problem["step_s"])
    rh["optimization_time_step"] = pd.Timedelta(seconds=step_s)
    rh["time_zone"] = "UTC"
    optim["delta_forecast_daily"] = pd.Timedelta(seconds=step_s * int(problem["n"]))

    solver = problem.get("solver", {})
    optim["lp_solver_mip_rel_gap"] = float(solver.get("emhass_mip_rel_gap", 0.01))
    optim["lp_solver_timeout"] = float(solver.get("time_limit_s", 45.0))
    optim["num_threads"] = int(solver.get("threads", 1))
    optim["costfun"] = "profit"
    optim["set_use_pv"] = False  # forecasts are passed in, nothing is computed from weather
    optim["set_total_pv_sell"] = False
    optim["set_nocharge_from_grid"] = False
    optim["set_nodischarge_to_grid"] = False
    optim["set_battery_dynamic"] = False
    optim["weight_battery_discharge"] = 0.0
    optim["weight_battery_charge"] = 0.0

    grid = problem["grid"]
    plant["maximum_power_from_grid"] = float(grid["import_max_w"])
    plant["maximum_power_to_grid"] = float(grid["export_max_w"])
    plant["compute_curtailment"] = bool(problem.get("pv_curtailable", False))
    plant["inverter_is_hybrid"] = False

    bat = problem.get("battery")
    optim["set_use_battery"] = bat is not None
    if bat is not None:
        plant["number_of_batteries"] = 1
        plant["battery_nominal_energy_capacity"] = float(bat["capacity_kwh"]) * 1000.0
        plant["battery_charge_efficiency"] = float(bat["charge_efficiency"])
        plant["battery_discharge_efficiency"] = float(bat["discharge_efficiency"])
        plant["battery_charge_power_max"] = float(bat["charge_max_w"])
        plant["battery_discharge_power_max"] = float(bat["discharge_max_w"]) / float(
            bat["discharge_efficiency"]
        )
        plant["battery_minimum_state_of_charge"] = float(bat["soc_min"])
        plant["battery_maximum_state_of_charge"] = float(bat["soc_max"])
        plant["battery_target_state_of_charge"] = float(bat["soc_final"])
        optim["battery_soc_final_reward_factor"] = 1e-9

    loads = problem.get("deferrable", [])
    nominal: list = []
    semi: list[bool] = []
    single: list[bool] = []
    for d in loads:
        if "profile_w" in d:
            nominal.append([float(x) for x in d["profile_w"]])
            semi.append(False)
            single.append(False)
        elif "energy_kwh" in d:
            nominal.append(float(d["max_power_w"]))
            semi.append(False)
            single.append(False)
        else:
            nominal.append(float(d["power_w"]))
            semi.append(True)
            single.append(True)
    k = len(loads)
    optim["number_of_deferrable_loads"] = k
    optim["nominal_power_of_deferrable_loads"] = nominal
    optim["minimum_power_of_deferrable_loads"] = [0.0] * k
    optim["cost_forecast_per_deferrable_load"] = [None] * k
    optim["is_electric_load"] = [True] * k
    optim["operating_hours_of_each_deferrable_load"] = [0.0] * k
    optim["start_timesteps_of_each_deferrable_load"] = [int(d["start"]) for d in loads]
    optim["end_timesteps_of_each_deferrable_load"] = [int(d["end"]) for d in loads]
    optim["treat_deferrable_load_as_semi_cont"] = semi
    optim["set_deferrable_load_single_constant"] = single
    optim["set_deferrable_startup_penalty"] = [0.0] * k
    optim["deferrable_load_max_cost"] = [0.0] * k
    optim["set_deferrable_max_startups"] = [0] * k
    optim["def_minimum_on_time"] = [0] * k
    optim["def_minimum_off_time"] = [0] * k
    optim["deferrable_load_groups"] = []

    cap = problem.get("capacity")
    if cap is not None:
        optim["capacity_cost_per_kw"] = float(cap["eur_per_kw"])
        optim["capacity_charge_interval_timesteps"] = 1
    else:
        optim["capacity_cost_per_kw"] = 0.0
    return rh, optim, plant


def run(problem: dict) -> dict:
    from emhass.optimization import Optimization  # imported here, outside the timing

    n = int(problem["n"])
    step_s = int(problem["step_s"])
    dt = step_s / 3600.0
    rh, optim, plant = _configs(problem)
    logger = logging.getLogger("emhass_runner")
    logger.setLevel(logging.ERROR)
    index = pd.date_range(pd.Timestamp(problem["start"]).tz_convert("UTC"), periods=n, freq=f"{step_s}s")
    pv = np.asarray(problem["pv_w"], dtype=float)
    load = np.asarray(problem["load_w"], dtype=float)
    buy = np.asarray(problem["buy_eur_per_kwh"], dtype=float)
    sell = np.asarray(problem["sell_eur_per_kwh"], dtype=float)
    data = pd.DataFrame({"unit_load_cost": buy, "unit_prod_price": sell}, index=index)

    loads = problem.get("deferrable", [])
    # operating hours: energy / max power for continuous loads, steps x dt for blocks (dt is a
    # binary fraction of an hour here, so EMHASS's ceil(hours / dt) gives the step count back);
    # def_total_timestep is not used: when given, EMHASS zeroes every load's hours
    total_hours: list[float] = []
    for d in loads:
        if "profile_w" in d:
            total_hours.append(0.0)
        elif "energy_kwh" in d:
            total_hours.append(float(d["energy_kwh"]) * 1000.0 / float(d["max_power_w"]))
        else:
            total_hours.append(int(d["steps"]) * dt)
    cap = problem.get("capacity")
    extra: dict = {}
    if cap is not None:
        extra["current_period_peak"] = float(cap["billed_peak_kw"]) * 1000.0
    bat = problem.get("battery")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        emhass_conf = {"data_path": root, "root_path": root, "config_path": root / "config.json"}
        t_init = time.perf_counter()
        opt = Optimization(
            rh,
            optim,
            plant,
            "unit_load_cost",
            "unit_prod_price",
            "profit",
            emhass_conf,
            logger,
            num_timesteps=n,
        )
        init = time.perf_counter() - t_init
        stages: dict[str, float] = {}
        t0 = time.perf_counter()
        res = opt.perform_optimization(
            data,
            pv,
            load,
            buy,
            sell,
            soc_init=None if bat is None else float(bat["soc_init"]),
            soc_final=None if bat is None else float(bat["soc_final"]),
            def_total_hours=total_hours,
            stage_times=stages,
            **extra,
        )
        wall = time.perf_counter() - t0

    def col(name: str) -> list[float]:
        return [float(x) for x in res[name].to_numpy()] if name in res.columns else [0.0] * n

    out: dict = {
        "status": str(opt.optim_status),
        "solve_wall_s": wall,
        "init_s": init,
        "stages_s": stages,
        "import_w": col("P_grid_pos"),
        "export_w": [-x for x in col("P_grid_neg")],
        "curtailment_w": col("P_PV_curtailment"),
        "deferrable_w": [col(f"P_deferrable{k}") for k in range(len(loads))],
    }
    if bat is not None:
        sto_pos = [float(v) for v in np.asarray(opt.vars["p_sto_pos"][0].value, dtype=float)]
        sto_neg = [float(v) for v in np.asarray(opt.vars["p_sto_neg"][0].value, dtype=float)]
        out["battery_discharge_w"] = [max(0.0, v) for v in sto_pos]
        out["battery_charge_w"] = [max(0.0, -v) for v in sto_neg]
        out["soc"] = col("SOC_opt")
    prob = getattr(opt, "prob", None)
    if prob is not None:
        out["objective"] = float(prob.value) if prob.value is not None else None
        size = prob.size_metrics
        out["num_variables"] = int(size.num_scalar_variables)
        out["num_binaries"] = int(
            sum(int(np.prod(v.shape)) for v in prob.variables() if v.attributes.get("boolean"))
        )
    return out


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: emhass_runner.py PROBLEM.json RESULT.json")
    problem = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    result = run(problem)
    Path(sys.argv[2]).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
