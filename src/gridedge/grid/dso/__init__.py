"""The grid operator's Energy Guard (DSO side of EEBus LPC/LPP, §14a EnWG): heartbeats, power
limits with durations and failsafe values per site; fair, §14a-respecting congestion limits per
feeder; fault location from the meters' voltage dips. See docs/dso.md.

Modules, each one thing:

* `topics`: the bus topics shared with the sites' energy managers;
* `para14a`: the §14a minimum of a site (BK6-22-300, simultaneity factors);
* `site_link`: what to send to one site and when (pure);
* `fair_share`: water-filling a feeder's capacity above the legal floors (pure);
* `congestion`: when a feeder is limited and released, with hysteresis (pure);
* `faults`: the section at fault from voltage dips (pure);
* `config`: the TOML configuration (`load_dso_config`);
* `service`: all of it on a bus `Transport` (`DsoService`, `run_dso`).
"""

from gridedge.grid.dso.config import DsoConfig, DsoConfigError, load_dso_config
from gridedge.grid.dso.service import DsoService, run_dso

__all__ = ["DsoConfig", "DsoConfigError", "DsoService", "load_dso_config", "run_dso"]
