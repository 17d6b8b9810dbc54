"""Enumerated strings of OpenADR 3.0.1 that the schemas carry as plain strings.

`valuesMap.type`, `payloadType`, `units` and target types are "enumerated or private strings"
(openadr3-3.0.1.yaml); the enumerations are listed in the OpenADR 3.0.1 Definitions document,
which is not shipped in `specs/openadr3/`. Only the values gridedge reads or writes are named
here; any other string still passes validation, as the spec allows private values.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EventPayloadType", "ReportPayloadType", "TargetType", "Unit"]


class EventPayloadType(StrEnum):
    """Event payload types gridedge understands."""

    SIMPLE = "SIMPLE"
    PRICE = "PRICE"
    """Price per `units` (default KWH) in `currency` of the event's payload descriptor."""
    EXPORT_PRICE = "EXPORT_PRICE"
    """Price received per exported unit."""
    IMPORT_CAPACITY_LIMIT = "IMPORT_CAPACITY_LIMIT"
    """Highest import power allowed (units default KW)."""
    EXPORT_CAPACITY_LIMIT = "EXPORT_CAPACITY_LIMIT"
    """Highest export (feed-in) power allowed (units default KW)."""
    GHG = "GHG"
    ALERT_GRID_EMERGENCY = "ALERT_GRID_EMERGENCY"


class ReportPayloadType(StrEnum):
    """Report payload types gridedge sends."""

    READING = "READING"
    USAGE = "USAGE"
    DEMAND = "DEMAND"


class Unit(StrEnum):
    """Units of `payloadDescriptor.units` that gridedge converts."""

    KWH = "KWH"
    MWH = "MWH"
    WH = "WH"
    KW = "KW"
    MW = "MW"
    W = "W"


class TargetType(StrEnum):
    """`valuesMap.type` values used in targets."""

    VEN_NAME = "VEN_NAME"
    GROUP = "GROUP"
    RESOURCE_NAME = "RESOURCE_NAME"
    POWER_SERVICE_LOCATION = "POWER_SERVICE_LOCATION"
