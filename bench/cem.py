"""The energy manager's benchmarks (issue 5, `bench/cem.py`), one entry point for the three parts.

    python bench/cem.py solve  [--instances 12] [--gap 0.005] [--modulating] [--quiet]
    python bench/cem.py emhass [--capacity] [--gap G] [--emhass-gap G] ...   (bash bench/emhass_env.sh first)
    python bench/cem.py year   [--days N] [--checkpoint PATH] [--resume] ...

(a) `solve`: planner solve time at 96 and 192 steps with battery, EV, heat pump and two
    appliances on a fixed instance set, MIP gap 0.5 % (`cem_solve.py`).
(b) `emhass`: side by side with EMHASS in its own virtual environment on the same inputs, both
    plans checked and costed alike, both solve times (`emhass_side.py`).
(c) `year`: a simulated year of a Belgian household re-planned every hour against the rule-based
    baseline: the bill and the monthly capacity peaks (`cem_year.py`).

Each part prints its figures; `bench/README.md` records them.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

PARTS = {"solve": "cem_solve.py", "emhass": "emhass_side.py", "year": "cem_year.py"}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in PARTS:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    script = Path(__file__).with_name(PARTS[sys.argv[1]])
    sys.argv = [str(script), *sys.argv[2:]]
    sys.path.insert(0, str(script.parent))
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
