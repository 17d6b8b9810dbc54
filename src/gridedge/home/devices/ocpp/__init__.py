"""OCPP 1.6J and 2.0.1 chargers as gridedge devices: gridedge is their local CSMS.

`OcppCsms` accepts charge points over WebSocket, `OcppAdapter` is each one's `DeviceAdapter`
(power setpoints become charging profiles in amperes), `OcppChargerConfig` the installation facts
OCPP does not announce.
"""

from gridedge.home.devices.ocpp.adapter import OcppAdapter, ProfileChannel, ProfileRequest
from gridedge.home.devices.ocpp.config import OcppChargerConfig
from gridedge.home.devices.ocpp.convert import MeterReading, current_limit_a, read_meter_values
from gridedge.home.devices.ocpp.csms import OcppCsms, charge_point_id

__all__ = [
    "MeterReading",
    "OcppAdapter",
    "OcppChargerConfig",
    "OcppCsms",
    "ProfileChannel",
    "ProfileRequest",
    "charge_point_id",
    "current_limit_a",
    "read_meter_values",
]
