"""`gridedge plan` run as a user runs it: a subprocess on a scenario and the corpus's BE prices."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gridedge.physics.profiles import corpus_file

ROOT = Path(__file__).resolve().parents[1]
BE15 = corpus_file("ems/be_day_ahead/BE_DAM_2024-01_2025-10_15min_EURperMWh_nox.csv.gz")
HOME = ROOT / "examples" / "scenarios" / "belgian-home-energy.toml"


def plan(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridedge", "plan", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plan_json_meets_the_needs_and_adds_up() -> None:
    out = plan(
        "--scenario", HOME, "--prices", BE15, "--start", "2025-10-14T16:00", "--horizon", "24h", "--json"
    )
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)  # stdout is pure JSON (the solver's banner goes to stderr)
    assert rec["status"] in ("optimal", "time-limit") and not rec["relaxations"]
    steps = rec["steps"]
    assert len(steps) == 96 and steps[0]["start"] == "2025-10-14T16:00:00+02:00"
    for s in steps:
        devices = sum(d["power_w"] for d in s["devices"].values())
        # energy balance at the connection point, per step (W, rounded to 0.1 W per figure)
        assert abs(s["import_w"] - s["export_w"] - s["base_load_w"] - devices) < 2.0, s
        assert min(s["import_w"], s["export_w"]) < 1.0
    ev = [s["devices"]["ev"] for s in steps]
    assert all(e["power_w"] == 0 for e in ev[:8]), "the car is away until 18:00"
    assert ev[61]["soc"] >= 0.8 - 1e-3, "80 % by its 07:30 departure (end of the 07:15 step)"
    for e in ev:  # off, or 6-16 A on its phases (IEC 61851-1)
        assert e["power_w"] == 0 or 6.0 - 1e-6 <= e["current_a"] <= 16.0 + 1e-6
    hp = [s["devices"]["heat-pump"]["indoor_c"] for s in steps]
    assert min(hp) >= 20.25 - 0.01 and max(hp) <= 20.75 + 0.01  # the comfort band 20.5 ± 0.25
    washer = rec["appliance_starts"]["washer"]
    assert washer is not None and "2025-10-15T09:00" <= washer[:16] <= "2025-10-15T15:00"
    cost = rec["cost_eur"]
    assert abs(cost["energy"] + cost["fees"] + cost["capacity"] + cost["penalties"] - cost["total"]) < 1e-3


def test_plan_table_explains_a_relaxed_need(tmp_path: Path) -> None:
    # the house starts at 17 °C: the heat pump cannot reach the band at once, and says so
    text = HOME.read_text().replace("indoor_c = 20.5", "indoor_c = 17.0")
    assert "indoor_c = 17.0" in text
    cold = tmp_path / "cold.toml"
    cold.write_text(text)
    out = plan("--scenario", cold, "--prices", BE15, "--start", "2025-10-14T16:00", "--horizon", "12h")
    assert out.returncode == 1, out.stderr
    assert "needs that gave way:" in out.stdout
    assert "heat-pump: indoor up to" in out.stdout and "below the" in out.stdout
    assert "cost EUR: energy" in out.stdout


def test_plan_errors_name_the_problem() -> None:
    out = plan("--scenario", HOME, "--start", "2025-10-14T16:00")
    assert out.returncode == 2 and "expected day-ahead prices" in out.stderr
    out = plan("--scenario", HOME, "--prices", BE15, "--start", "2030-01-01T00:00")
    assert out.returncode == 2 and "no price for 2029-12-31T23:00:00+00:00" in out.stderr
    out = plan("--scenario", HOME, "--prices", BE15, "--horizon", "3d")
    assert out.returncode == 2 and "expected 15min..48h" in out.stderr
    out = plan("--scenario", ROOT / "nope.toml")
    assert out.returncode == 2 and "cannot read" in out.stderr
