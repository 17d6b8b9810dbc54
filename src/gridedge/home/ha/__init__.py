"""Home Assistant integration: MQTT discovery of the energy manager's sensors and controls.

`discovery` builds the configs and state documents (pure), `publisher` keeps them on a broker and
takes HA's commands (docs/home-assistant.md).
"""

from gridedge.home.ha.discovery import CONTROL_MANAGED, CONTROL_POWER_LIMIT, HaDevice, HaTopics
from gridedge.home.ha.publisher import (
    BridgeStats,
    HaCommand,
    HaMqttLink,
    HaSnapshot,
    HomeAssistantBridge,
)

__all__ = [
    "CONTROL_MANAGED",
    "CONTROL_POWER_LIMIT",
    "BridgeStats",
    "HaCommand",
    "HaDevice",
    "HaMqttLink",
    "HaSnapshot",
    "HaTopics",
    "HomeAssistantBridge",
]
