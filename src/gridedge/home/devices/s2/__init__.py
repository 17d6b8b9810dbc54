"""S2 (EN 50491-12-2) device adapters with gridedge as the CEM, over WebSocket, on `s2-python`.

`S2CemServer` accepts resource managers; each becomes an `S2Adapter` in the `DeviceRegistry`
once it has shaken hands, described itself and accepted a control type.
"""

from gridedge.home.devices.s2.adapter import S2Adapter
from gridedge.home.devices.s2.server import S2CemServer
from gridedge.home.devices.s2.session import Phase, S2CemSession, SessionClosed

__all__ = ["Phase", "S2Adapter", "S2CemServer", "S2CemSession", "SessionClosed"]
