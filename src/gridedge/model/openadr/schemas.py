"""Pydantic models of the OpenADR 3.0.1 schemas (`components/schemas` of openadr3-3.0.1.yaml).

One class per schema, field names as in the spec (camelCase aliases; Python names in snake_case,
both accepted on input: `populate_by_name`). Objects serialise by alias, and `dump()` leaves out
absent (None) fields, so what a VTN sends validates against the spec's schemas (fields that are
not `nullable` in the spec are never sent as null).

Checks follow the spec: `objectID` pattern and length, 1..128-character names, int32 ranges,
`priority >= 0`, `confidence` 0..100, the `duration` pattern (see `duration.py`), timezone-aware
date-times (the spec's `format: date-time` is RFC 3339, which always carries an offset). Unknown
fields are ignored (the spec does not forbid them). Non-finite numbers are refused: JSON has none.

Objects are frozen; a VTN provisions `id`, `createdDateTime` and `modificationDateTime` with
`model_copy(update=...)`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)

from gridedge.model.openadr.duration import IsoDuration

__all__ = [
    "OBJECT_ID_PATTERN",
    "AuthError",
    "AuthServerInfo",
    "ClientCredentialRequest",
    "ClientCredentialResponse",
    "Event",
    "EventPayloadDescriptor",
    "Interval",
    "IntervalPeriod",
    "Notification",
    "NotificationOperation",
    "ObjectID",
    "ObjectOperation",
    "ObjectType",
    "OpenAdrModel",
    "OpenAdrObject",
    "Operation",
    "Point",
    "Problem",
    "Program",
    "ProgramDescription",
    "Report",
    "ReportDescriptor",
    "ReportPayloadDescriptor",
    "ReportResource",
    "Resource",
    "Subscription",
    "ValuesMap",
    "Ven",
]

OBJECT_ID_PATTERN: Final = r"^[a-zA-Z0-9_-]*$"
"""Schema `objectID`: URL-safe, 1..128 characters."""

ObjectID = Annotated[str, StringConstraints(pattern=OBJECT_ID_PATTERN, min_length=1, max_length=128)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
"""programName, clientName, venName, resourceName, payloadType, valuesMap.type: 1..128 characters."""
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
DateTime = AwareDatetime
"""Schema `dateTime` (RFC 3339 `date-time`): an offset is required."""


class OpenAdrModel(BaseModel):
    """Common configuration: aliases on the wire, frozen, unknown fields ignored, finite numbers."""

    model_config = ConfigDict(
        populate_by_name=True,
        serialize_by_alias=True,
        frozen=True,
        extra="ignore",
        allow_inf_nan=False,
    )

    def dump(self) -> dict[str, Any]:
        """JSON-ready mapping as on the wire: aliases, no null fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def dump_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


class ObjectType(StrEnum):
    """Schema `objectTypes`: the objects addressable through the API."""

    PROGRAM = "PROGRAM"
    EVENT = "EVENT"
    REPORT = "REPORT"
    SUBSCRIPTION = "SUBSCRIPTION"
    VEN = "VEN"
    RESOURCE = "RESOURCE"


class Operation(StrEnum):
    """`subscription.objectOperations[].operations`: what a subscriber wants to hear about."""

    READ = "READ"
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class NotificationOperation(StrEnum):
    """`notification.operation`: the HTTP method that changed the object."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"


# --------------------------------------------------------------------------- building blocks


class Point(OpenAdrModel):
    """Schema `point`: a pair of floats, e.g. one point of a curve."""

    x: float
    y: float


ValueItem: TypeAlias = bool | int | float | str | Point
"""One item of `valuesMap.values` (anyOf number, integer, string, boolean, point); the exact JSON
type is kept (1 stays an integer, 1.0 a number, "1" a string)."""


class ValuesMap(OpenAdrModel):
    """Schema `valuesMap`: a type (PRICE, GROUP, ...) and its values; payloads, targets, attributes."""

    type: Name
    values: list[ValueItem]


class IntervalPeriod(OpenAdrModel):
    """Schema `intervalPeriod`: start, and duration (absent = the spec's default PT0S)."""

    start: DateTime
    duration: IsoDuration | None = None
    randomize_start: IsoDuration | None = Field(
        default=None, validation_alias="randomizeStart", serialization_alias="randomizeStart"
    )


class Interval(OpenAdrModel):
    """Schema `interval`: a client-numbered window (`id` is not a sequence number) and its payloads."""

    id: Int32
    interval_period: IntervalPeriod | None = Field(
        default=None, validation_alias="intervalPeriod", serialization_alias="intervalPeriod"
    )
    payloads: list[ValuesMap]


class EventPayloadDescriptor(OpenAdrModel):
    """Schema `eventPayloadDescriptor`: units and currency of an event's payload values."""

    object_type: Literal["EVENT_PAYLOAD_DESCRIPTOR"] = Field(
        default="EVENT_PAYLOAD_DESCRIPTOR", validation_alias="objectType", serialization_alias="objectType"
    )
    payload_type: Name = Field(validation_alias="payloadType", serialization_alias="payloadType")
    units: str | None = None
    currency: str | None = None


class ReportPayloadDescriptor(OpenAdrModel):
    """Schema `reportPayloadDescriptor`: reading type, units, accuracy and confidence of a report."""

    object_type: Literal["REPORT_PAYLOAD_DESCRIPTOR"] = Field(
        default="REPORT_PAYLOAD_DESCRIPTOR", validation_alias="objectType", serialization_alias="objectType"
    )
    payload_type: Name = Field(validation_alias="payloadType", serialization_alias="payloadType")
    reading_type: str | None = Field(
        default=None, validation_alias="readingType", serialization_alias="readingType"
    )
    units: str | None = None
    accuracy: float | None = None
    confidence: Annotated[int, Field(ge=0, le=100)] | None = None


def _descriptor_kind(value: object) -> str:
    """`program.payloadDescriptors` is anyOf event/report descriptor, told apart by `objectType`
    (optional in both); without it, report-only fields mark a report descriptor."""
    get = value.get if isinstance(value, dict) else lambda k, d=None: getattr(value, k, d)
    kind = get("objectType", None) or get("object_type", None)
    if kind in ("EVENT_PAYLOAD_DESCRIPTOR", "REPORT_PAYLOAD_DESCRIPTOR"):
        return str(kind)
    report_only = ("readingType", "reading_type", "accuracy", "confidence")
    if any(get(k, None) is not None for k in report_only):
        return "REPORT_PAYLOAD_DESCRIPTOR"
    return "EVENT_PAYLOAD_DESCRIPTOR"


PayloadDescriptor = Annotated[
    Annotated[EventPayloadDescriptor, Tag("EVENT_PAYLOAD_DESCRIPTOR")]
    | Annotated[ReportPayloadDescriptor, Tag("REPORT_PAYLOAD_DESCRIPTOR")],
    Discriminator(_descriptor_kind),
]


class ReportDescriptor(OpenAdrModel):
    """Schema `reportDescriptor`: how an event asks VENs for reports (defaults as in the spec)."""

    payload_type: Name = Field(validation_alias="payloadType", serialization_alias="payloadType")
    reading_type: str | None = Field(
        default=None, validation_alias="readingType", serialization_alias="readingType"
    )
    units: str | None = None
    targets: list[ValuesMap] | None = None
    aggregate: bool = False
    start_interval: Int32 = Field(
        default=-1, validation_alias="startInterval", serialization_alias="startInterval"
    )
    num_intervals: Int32 = Field(
        default=-1, validation_alias="numIntervals", serialization_alias="numIntervals"
    )
    historical: bool = True
    frequency: Int32 = -1
    repeat: Int32 = 1


class ProgramDescription(OpenAdrModel):
    """An item of `program.programDescriptions`. The spec says `format: uri` but its own example
    (`www.myCorporation.com/...`) is not an absolute URI, so any string is accepted."""

    url: str = Field(validation_alias="URL", serialization_alias="URL")


# --------------------------------------------------------------------------- top-level objects


class _Provisioned(OpenAdrModel):
    """Fields the VTN provisions on creation and modification (every top-level object has them)."""

    id: ObjectID | None = None
    created_date_time: DateTime | None = Field(
        default=None, validation_alias="createdDateTime", serialization_alias="createdDateTime"
    )
    modification_date_time: DateTime | None = Field(
        default=None, validation_alias="modificationDateTime", serialization_alias="modificationDateTime"
    )


class Program(_Provisioned):
    """Schema `program`: metadata of a program (a tariff, a capacity-limit scheme) from VTN to VEN."""

    object_type: Literal["PROGRAM"] = Field(
        default="PROGRAM", validation_alias="objectType", serialization_alias="objectType"
    )
    program_name: Name = Field(validation_alias="programName", serialization_alias="programName")
    program_long_name: str | None = Field(
        default=None, validation_alias="programLongName", serialization_alias="programLongName"
    )
    retailer_name: str | None = Field(
        default=None, validation_alias="retailerName", serialization_alias="retailerName"
    )
    retailer_long_name: str | None = Field(
        default=None, validation_alias="retailerLongName", serialization_alias="retailerLongName"
    )
    program_type: str | None = Field(
        default=None, validation_alias="programType", serialization_alias="programType"
    )
    country: str | None = None
    principal_subdivision: str | None = Field(
        default=None, validation_alias="principalSubdivision", serialization_alias="principalSubdivision"
    )
    time_zone_offset: IsoDuration | None = Field(
        default=None, validation_alias="timeZoneOffset", serialization_alias="timeZoneOffset"
    )
    interval_period: IntervalPeriod | None = Field(
        default=None, validation_alias="intervalPeriod", serialization_alias="intervalPeriod"
    )
    program_descriptions: list[ProgramDescription] | None = Field(
        default=None, validation_alias="programDescriptions", serialization_alias="programDescriptions"
    )
    binding_events: bool | None = Field(
        default=None, validation_alias="bindingEvents", serialization_alias="bindingEvents"
    )
    local_price: bool | None = Field(
        default=None, validation_alias="localPrice", serialization_alias="localPrice"
    )
    payload_descriptors: list[PayloadDescriptor] | None = Field(
        default=None, validation_alias="payloadDescriptors", serialization_alias="payloadDescriptors"
    )
    targets: list[ValuesMap] | None = None


class Event(_Provisioned):
    """Schema `event`: a demand-response request (prices, limits...) as a list of intervals.

    `intervalPeriod`, when present, gives the start of the first interval and every interval's
    duration; an interval's own `intervalPeriod` overrides it (User Guide: intervals follow each
    other, interval n starting n durations after the start).
    """

    object_type: Literal["EVENT"] = Field(
        default="EVENT", validation_alias="objectType", serialization_alias="objectType"
    )
    program_id: ObjectID = Field(validation_alias="programID", serialization_alias="programID")
    event_name: str | None = Field(
        default=None, validation_alias="eventName", serialization_alias="eventName"
    )
    priority: Annotated[int, Field(ge=0)] | None = None
    targets: list[ValuesMap] | None = None
    report_descriptors: list[ReportDescriptor] | None = Field(
        default=None, validation_alias="reportDescriptors", serialization_alias="reportDescriptors"
    )
    payload_descriptors: list[EventPayloadDescriptor] | None = Field(
        default=None, validation_alias="payloadDescriptors", serialization_alias="payloadDescriptors"
    )
    interval_period: IntervalPeriod | None = Field(
        default=None, validation_alias="intervalPeriod", serialization_alias="intervalPeriod"
    )
    intervals: list[Interval]
    gridedge_signature: str | None = Field(
        default=None, validation_alias="gridedgeSignature", serialization_alias="gridedgeSignature"
    )
    """gridedge extension: the service provider's COSE_Sign1 (base64url) over `signed_content(event)`.
    OpenADR 3.0.1 defines no message signature; its objects allow extra properties."""


def signed_content(event: Event) -> bytes:
    """What the service provider signs of an event: everything it says, as canonical JSON (sorted
    keys, no spaces), without what the VTN provisions (id, times) and without the signature. Both
    sides compute it from the parsed model, so the VTN's own serialisation does not matter."""
    body = event.model_dump(
        mode="json",
        by_alias=True,
        exclude={"id", "created_date_time", "modification_date_time", "gridedge_signature"},
        exclude_none=True,
    )
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class ReportResource(OpenAdrModel):
    """An item of `report.resources`: one resource's (or AGGREGATED_REPORT's) intervals."""

    resource_name: Name = Field(validation_alias="resourceName", serialization_alias="resourceName")
    interval_period: IntervalPeriod | None = Field(
        default=None, validation_alias="intervalPeriod", serialization_alias="intervalPeriod"
    )
    intervals: list[Interval]


class Report(_Provisioned):
    """Schema `report`: data a VEN sends back about an event (usage, readings...)."""

    object_type: Literal["REPORT"] = Field(
        default="REPORT", validation_alias="objectType", serialization_alias="objectType"
    )
    program_id: ObjectID = Field(validation_alias="programID", serialization_alias="programID")
    event_id: ObjectID = Field(validation_alias="eventID", serialization_alias="eventID")
    client_name: Name = Field(validation_alias="clientName", serialization_alias="clientName")
    report_name: str | None = Field(
        default=None, validation_alias="reportName", serialization_alias="reportName"
    )
    payload_descriptors: list[ReportPayloadDescriptor] | None = Field(
        default=None, validation_alias="payloadDescriptors", serialization_alias="payloadDescriptors"
    )
    resources: list[ReportResource]


class ObjectOperation(OpenAdrModel):
    """An item of `subscription.objectOperations`: which objects, which operations, which webhook.

    `callbackUrl` is `format: uri`; the VTN posts to it, so it must be an absolute http(s) URL.
    """

    objects: list[ObjectType]
    operations: list[Operation]
    callback_url: str = Field(validation_alias="callbackUrl", serialization_alias="callbackUrl")
    bearer_token: str | None = Field(
        default=None, validation_alias="bearerToken", serialization_alias="bearerToken"
    )

    @field_validator("callback_url")
    @classmethod
    def _absolute_http(cls, v: str) -> str:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(v)
        except ValueError as exc:
            raise ValueError(f"expected an absolute http(s) URL, found {v!r}") from exc
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected an absolute http(s) URL, found {v!r}")
        return v


class Subscription(_Provisioned):
    """Schema `subscription`: a client's webhook for operations on objects of one program."""

    object_type: Literal["SUBSCRIPTION"] = Field(
        default="SUBSCRIPTION", validation_alias="objectType", serialization_alias="objectType"
    )
    client_name: Name = Field(validation_alias="clientName", serialization_alias="clientName")
    program_id: ObjectID = Field(validation_alias="programID", serialization_alias="programID")
    object_operations: list[ObjectOperation] = Field(
        validation_alias="objectOperations", serialization_alias="objectOperations"
    )
    targets: list[ValuesMap] | None = None


class Resource(_Provisioned):
    """Schema `resource`: a device or system behind a VEN (`venID` is set by the VTN from the path)."""

    object_type: Literal["RESOURCE"] = Field(
        default="RESOURCE", validation_alias="objectType", serialization_alias="objectType"
    )
    resource_name: Name = Field(validation_alias="resourceName", serialization_alias="resourceName")
    ven_id: ObjectID | None = Field(default=None, validation_alias="venID", serialization_alias="venID")
    attributes: list[ValuesMap] | None = None
    targets: list[ValuesMap] | None = None


class Ven(_Provisioned):
    """Schema `ven`: a client in the VEN role; `venName` is unique within a VTN."""

    object_type: Literal["VEN"] = Field(
        default="VEN", validation_alias="objectType", serialization_alias="objectType"
    )
    ven_name: Name = Field(validation_alias="venName", serialization_alias="venName")
    attributes: list[ValuesMap] | None = None
    targets: list[ValuesMap] | None = None
    resources: list[Resource] | None = None


OpenAdrObject: TypeAlias = Program | Event | Report | Subscription | Ven | Resource
"""Any top-level object (`notification.object` is oneOf these)."""

OBJECT_CLASSES: Final[dict[ObjectType, type[OpenAdrObject]]] = {
    ObjectType.PROGRAM: Program,
    ObjectType.EVENT: Event,
    ObjectType.REPORT: Report,
    ObjectType.SUBSCRIPTION: Subscription,
    ObjectType.VEN: Ven,
    ObjectType.RESOURCE: Resource,
}


class Notification(OpenAdrModel):
    """Schema `notification`: what the VTN posts to a subscription's `callbackUrl`.

    `object` is parsed with the class named by `objectType` (the spec's discriminator), so a
    notification about an EVENT carries an `Event`.
    """

    object_type: ObjectType = Field(validation_alias="objectType", serialization_alias="objectType")
    operation: NotificationOperation
    object: OpenAdrObject
    targets: list[ValuesMap] | None = None

    @model_validator(mode="before")
    @classmethod
    def _object_by_type(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kind = data.get("objectType", data.get("object_type"))
        obj = data.get("object")
        if isinstance(obj, dict) and kind in ObjectType._value2member_map_:
            data = {**data, "object": OBJECT_CLASSES[ObjectType(str(kind))].model_validate(obj)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Notification:
        if not isinstance(self.object, OBJECT_CLASSES[self.object_type]):
            found = type(self.object).__name__
            raise ValueError(f"object: expected a {self.object_type.value} object, found {found}")
        return self


# --------------------------------------------------------------------------- errors and auth


class Problem(OpenAdrModel):
    """Schema `problem` (Zalando/RFC 7807 shape): every error response of the VTN but /auth/token's 400."""

    type: str = "about:blank"
    title: str | None = None
    status: Annotated[int, Field(ge=100, lt=600)] | None = None
    detail: str | None = None
    instance: str | None = None


class ClientCredentialRequest(OpenAdrModel):
    """Schema `clientCredentialRequest`: the form body of POST /auth/token (RFC 6749 §4.4)."""

    grant_type: Literal["client_credentials"]
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    client_secret: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    scope: Annotated[str, StringConstraints(max_length=4096)] | None = None


class ClientCredentialResponse(OpenAdrModel):
    """Schema `clientCredentialResponse`: the bearer token and its lifetime in seconds."""

    access_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int | None = None
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    scope: Annotated[str, StringConstraints(max_length=4096)] | None = None


AuthErrorCode = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "invalid_scope",
    "unauthorized_client",
    "unsupported_grant_type",
]


class AuthError(OpenAdrModel):
    """Schema `authError`: the RFC 6749 §5.2 error body of a refused token request."""

    error: AuthErrorCode
    error_description: str | None = None
    error_uri: str | None = None


class AuthServerInfo(OpenAdrModel):
    """GET /auth/server (OpenADR 3.1 token discovery, not in the 3.0.1 yaml): where to get tokens."""

    token_url: str = Field(validation_alias="tokenURL", serialization_alias="tokenURL")
