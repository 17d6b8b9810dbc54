"""The grid side of "Update individual functions" (ESMIG, seeds/002): build a function package
from a Python file, sign it with the update key, publish it to one gateway or a group, and follow
the gateways' answers. One module per job: `package` (build, check, encode), `topics`,
`publisher` (sign and publish), `status` (decode answers), `tracker` (collect and wait for
answers). The gateway's side is `home.gateway.functions`; see docs/function-updates.md.
"""

from gridedge.grid.updates.package import BuildError, FunctionPackageSpec, build_package, encode_rollback
from gridedge.grid.updates.publisher import Gateway, Group, SignedUpdate, UpdatePublisher
from gridedge.grid.updates.status import GatewayAnswer
from gridedge.grid.updates.topics import UPDATE_SOURCE
from gridedge.grid.updates.tracker import StatusTracker

__all__ = [
    "UPDATE_SOURCE",
    "BuildError",
    "FunctionPackageSpec",
    "Gateway",
    "GatewayAnswer",
    "Group",
    "SignedUpdate",
    "StatusTracker",
    "UpdatePublisher",
    "build_package",
    "encode_rollback",
]
