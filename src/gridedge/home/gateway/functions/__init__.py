"""The gateway's replaceable functions and their signed, verified, reversible updates.

ESMIG use case "Update individual functions" (seeds/002): a function is updated in isolation,
signed, without touching the meter-reading core. One module per job:

`api` (the function contract, the slots), `builtin` (today's functions, cut from `Monitor`),
`semver`, `package` (the signed payload), `topics`, `verify` (everything checked before code
runs), `loader` (source -> module object, off `sys.path`), `health` (budgets, failure rules),
`selftest`, `host` (the slots, the swap, the shadow, the rollback), `store` (SQLite), `status`
(the answers), `manager` (all of it wired to the link). See docs/function-updates.md.
"""

from gridedge.home.gateway.functions.api import (
    SLOTS,
    FunctionContext,
    GatewayFunction,
    Origin,
    Release,
    SlotSpec,
)
from gridedge.home.gateway.functions.health import HealthPolicy
from gridedge.home.gateway.functions.host import FunctionHost, HostEvent, HostEventKind
from gridedge.home.gateway.functions.manager import UpdateManager
from gridedge.home.gateway.functions.status import StatusKind, UpdateStatus
from gridedge.home.gateway.functions.topics import UPDATE_SOURCE

__all__ = [
    "SLOTS",
    "UPDATE_SOURCE",
    "FunctionContext",
    "FunctionHost",
    "GatewayFunction",
    "HealthPolicy",
    "HostEvent",
    "HostEventKind",
    "Origin",
    "Release",
    "SlotSpec",
    "StatusKind",
    "UpdateManager",
    "UpdateStatus",
]
