"""The contract between the gateway core and a replaceable function, and the slots functions live in.

ESMIG use case "Update individual functions" (seeds/002): "The Smart Meter enables its functions
to be updated in isolation (like a traditional user based OS) without affecting its other
functions", with the constraint that "meters legally relevant functions should not be
changed/altered unless firmware update is within Welmec and MID regs". So the line is drawn here:

* the **core** - reading the P1 port, the consent gate, the outbox, the sender and the uplink, WAN
  monitoring - is never replaced by a package (and the metrology is in the meter, not here);
* a **function** turns readings into upstream records. It lives in a named *slot*
  (`SLOTS`: `events`, `load-curves`, `monitoring`), and may produce only the record types of its
  slot, for this meter. The core calls it between readings, one call at a time.

A function is any object with `name`, `version`, `on_reading(reading, arrival)` and `tick(now)`
(see `GatewayFunction`); `state()` / `restore(state)` are optional and let a new version carry on
where the old one stopped (e.g. the load curve of the quarter in progress). A package's entry
point is a factory `create(context) -> GatewayFunction`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from gridedge.bus.telemetry import encode_record
from gridedge.home.gateway.monitoring import MonitorConfig
from gridedge.model.reading import MeterReading
from gridedge.model.telemetry import GridPointSample, LoadCurve, MeterEvent, TelemetryRecord

__all__ = [
    "SLOTS",
    "FunctionContext",
    "FunctionFactory",
    "GatewayFunction",
    "Origin",
    "Release",
    "SlotSpec",
    "check_records",
]


@runtime_checkable
class GatewayFunction(Protocol):
    """What the core calls. Both calls return the records they complete (possibly none).

    `arrival` and `now` are the core's monotonic seconds (the injected clock), on one scale: a
    function notices that readings stopped by comparing them. A function must not block, sleep or
    do I/O: it runs on the gateway's event loop between two readings, under a time budget.
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def on_reading(self, reading: MeterReading, arrival: float) -> Sequence[TelemetryRecord]: ...

    def tick(self, now: float) -> Sequence[TelemetryRecord]: ...


class Stateful(Protocol):
    """The optional half: a plain, JSON-like mapping out, the same back in a successor."""

    def state(self) -> Mapping[str, object] | None: ...

    def restore(self, state: Mapping[str, object]) -> None: ...


@dataclass(frozen=True, slots=True)
class FunctionContext:
    """What a function is told when it is created: whose meter, and the monitoring parameters."""

    meter_id: str
    monitor: MonitorConfig
    core_version: str


FunctionFactory = Callable[[FunctionContext], GatewayFunction]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a running version came from: built in, or a signed package (its request sequence)."""

    name: str
    version: str
    builtin: bool
    sequence: int | None = None


@dataclass(frozen=True, slots=True)
class Release:
    """A version the host can instantiate (again): for a rollback, a self-test's reference run."""

    origin: Origin
    factory: FunctionFactory

    @property
    def version(self) -> str:
        return self.origin.version


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """A replaceable function's place: its name and the record types it may produce."""

    name: str
    produces: tuple[type, ...]
    description: str


SLOTS: tuple[SlotSpec, ...] = (
    SlotSpec("events", (MeterEvent,), "limit, breaker, power-failure and voltage-quality events"),
    SlotSpec("load-curves", (LoadCurve,), "15-min load curves of 10 s energy values"),
    SlotSpec("monitoring", (GridPointSample,), "10 s grid-point samples and NRTD"),
)
"""In the order the core calls them. This is the order in which the former single `Monitor`
returned its records for one reading (events, then finished curves, then samples), so the outbox
numbers records exactly as before the split."""


def check_records(records: object, spec: SlotSpec, meter_id: str) -> tuple[list[TelemetryRecord], str | None]:
    """(the records, None) if `records` is a sequence of well-formed records of `spec`'s types for
    `meter_id`; else (what was usable, why not). Well-formed = the right type, the right meter, and
    encodable on the wire (`bus.telemetry.encode_record`): the outbox could store every one."""
    if not isinstance(records, list | tuple):
        return [], f"returned {type(records).__name__}, expected a list of records"
    out: list[TelemetryRecord] = []
    for r in records:
        if not isinstance(r, spec.produces):
            allowed = ", ".join(t.__name__ for t in spec.produces)
            return out, f"produced a {type(r).__name__}, slot {spec.name} may produce {allowed} only"
        assert isinstance(r, GridPointSample | LoadCurve | MeterEvent)
        if r.meter_id != meter_id:
            return out, f"produced a record for meter {r.meter_id!r}, this is {meter_id!r}"
        try:
            encode_record(r)
        except Exception as exc:  # a field of the wrong type: CBOR cannot carry it
            return out, f"produced a record that does not encode: {exc!r}"
        out.append(r)
    return out, None
