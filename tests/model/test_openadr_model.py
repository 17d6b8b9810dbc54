"""OpenADR 3.0.1 models: the spec's examples round-trip, bad input is refused naming the field,
durations follow the spec's pattern, and events convert to gridedge prices and limits."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pydantic import BaseModel, ValidationError

from gridedge.model.limits import Direction
from gridedge.model.openadr import (
    DURATION_PATTERN,
    AuthError,
    CapacityLimit,
    CapacityLimitSchedule,
    ClientCredentialRequest,
    ClientCredentialResponse,
    DurationError,
    Event,
    EventPayloadDescriptor,
    Interval,
    IntervalPeriod,
    IsoDuration,
    Notification,
    OpenAdrConversionError,
    Problem,
    Program,
    Report,
    ReportDescriptor,
    ReportPayloadDescriptor,
    Resource,
    Subscription,
    ValuesMap,
    Ven,
    capacity_limit_event,
    capacity_limits_from_event,
    format_duration,
    merge_limit_schedules,
    merge_price_series,
    parse_duration,
    price_event,
    price_series_from_event,
    usage_report,
)
from gridedge.model.tariff import PriceSeries

SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "openadr3" / "openadr3-3.0.1.yaml"


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    if not SPEC.is_file():
        pytest.skip(f"{SPEC} not found")
    doc = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return dict(doc["components"]["schemas"])


_NONE = object()
"""A property without an example (left out of the instance)."""


def example_of(schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """An instance built from the spec's element-level `example`s (the yaml gives examples per
    field "to aid readability", not whole objects): every property that has one, recursively."""
    if "$ref" in schema:
        return example_of(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    if "example" in schema and schema.get("type") != "object":
        ex = schema["example"]
        # YAML reads an unquoted 2023-06-15T09:30:00Z as a datetime; on the wire it is that text
        return ex.isoformat().replace("+00:00", "Z") if isinstance(ex, datetime) else ex
    if "anyOf" in schema:
        return example_of(schema["anyOf"][0], schemas)
    if "oneOf" in schema:
        return example_of(schema["oneOf"][0], schemas)
    if schema.get("type") == "array":
        item = example_of(schema["items"], schemas)
        return _NONE if item is _NONE else [item]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") == "object" or "properties" in schema:
        props = {name: example_of(prop, schemas) for name, prop in schema.get("properties", {}).items()}
        return {k: v for k, v in props.items() if v is not _NONE}
    return schema.get("default", _NONE)


CASES: list[tuple[str, type[BaseModel]]] = [
    ("program", Program),
    ("event", Event),
    ("report", Report),
    ("subscription", Subscription),
    ("ven", Ven),
    ("resource", Resource),
    ("interval", Interval),
    ("intervalPeriod", IntervalPeriod),
    ("valuesMap", ValuesMap),
    ("eventPayloadDescriptor", EventPayloadDescriptor),
    ("reportPayloadDescriptor", ReportPayloadDescriptor),
    ("reportDescriptor", ReportDescriptor),
    ("problem", Problem),
    ("clientCredentialRequest", ClientCredentialRequest),
    ("clientCredentialResponse", ClientCredentialResponse),
    ("authError", AuthError),
]


def _equal(a: Any, b: Any) -> bool:
    """JSON equality where 1 == 1.0 (a float example such as `x: 1.0` loads as a float either way)
    and date-times compare as instants (Z and +00:00 are the same)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) and isinstance(b, str) and re.match(r"^\d{4}-\d\d-\d\dT", a):
        return datetime.fromisoformat(a) == datetime.fromisoformat(b)
    return bool(a == b)


@pytest.mark.parametrize(("name", "cls"), CASES, ids=[c[0] for c in CASES])
def test_spec_examples_round_trip(name: str, cls: type[BaseModel], schemas: dict[str, Any]) -> None:
    example = example_of(schemas[name], schemas)
    assert isinstance(example, dict) and example
    obj = cls.model_validate(example)
    again = obj.model_dump(mode="json", by_alias=True, exclude_none=True)
    # every field the example gave comes back under its spec name with its value
    for key, value in example.items():
        assert key in again, f"{name}.{key} lost"
        assert _equal(again[key], value), f"{name}.{key}: {again[key]!r} != {value!r}"
    assert cls.model_validate(again) == obj


def test_spec_examples_carry_the_values_we_expect(schemas: dict[str, Any]) -> None:
    program = Program.model_validate(example_of(schemas["program"], schemas))
    assert program.program_name == "ResTOU"
    assert program.retailer_long_name == "ACME Electric Inc."
    assert program.program_descriptions is not None
    assert program.program_descriptions[0].url == "www.myCorporation.com/myProgramDescription"
    assert program.interval_period is not None
    assert program.interval_period.start == datetime(2023, 6, 15, 9, 30, tzinfo=UTC)
    assert str(program.interval_period.duration) == "PT1H"
    event = Event.model_validate(example_of(schemas["event"], schemas))
    assert event.intervals[0].payloads[0].type == "PRICE"
    assert event.intervals[0].payloads[0].values == [0.17]
    sub = Subscription.model_validate(example_of(schemas["subscription"], schemas))
    assert sub.object_operations[0].callback_url == "https://myserver.com/send/callback/here"


def test_notification_object_is_parsed_by_its_object_type(schemas: dict[str, Any]) -> None:
    event = example_of(schemas["event"], schemas)
    note = Notification.model_validate({"objectType": "EVENT", "operation": "POST", "object": event})
    assert isinstance(note.object, Event)
    with pytest.raises(ValidationError, match="programName"):
        Notification.model_validate({"objectType": "PROGRAM", "operation": "PUT", "object": event})


def test_python_names_are_accepted_too() -> None:
    p = Program(program_name="tariff", binding_events=True)
    assert p.dump() == {"objectType": "PROGRAM", "programName": "tariff", "bindingEvents": True}
    assert Program.model_validate({"program_name": "x"}).program_name == "x"


def test_values_keep_their_json_types() -> None:
    vm = ValuesMap.model_validate({"type": "X", "values": [True, 1, 1.5, "1", {"x": 1, "y": 2}]})
    assert vm.dump()["values"] == [True, 1, 1.5, "1", {"x": 1.0, "y": 2.0}]
    assert [type(v).__name__ for v in vm.values] == ["bool", "int", "float", "str", "Point"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"programName": ""}, "programName"),
        ({"programName": "x" * 129}, "programName"),
        ({"programName": "p", "id": "bad id!"}, "id"),
        ({"programName": "p", "timeZoneOffset": "1 hour"}, "timeZoneOffset"),
        ({"programName": "p", "intervalPeriod": {"start": "2024-01-01T00:00:00"}}, "intervalPeriod.start"),
        ({"programName": "p", "objectType": "EVENT"}, "objectType"),
    ],
)
def test_bad_programs_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        Program.model_validate(data)
    locs = [".".join(str(x) for x in e["loc"]) for e in err.value.errors()]
    assert field in locs, locs


def test_bad_events_and_subscriptions() -> None:
    with pytest.raises(ValidationError, match="programID"):
        Event.model_validate({"intervals": []})
    with pytest.raises(ValidationError, match="priority"):
        Event.model_validate({"programID": "p", "intervals": [], "priority": -1})
    with pytest.raises(ValidationError, match="id"):
        Event.model_validate({"programID": "p", "intervals": [{"id": 2**31, "payloads": []}]})
    with pytest.raises(ValidationError, match="absolute http"):
        Subscription.model_validate(
            {
                "clientName": "c",
                "programID": "p",
                "objectOperations": [
                    {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "/relative"}
                ],
            }
        )
    with pytest.raises(ValidationError, match="confidence"):
        ReportPayloadDescriptor.model_validate({"payloadType": "USAGE", "confidence": 101})


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT1H", 3600),
        ("P1D", 86400),
        ("P1W", 7 * 86400),
        ("PT15M", 900),
        ("PT0S", 0),
        ("-PT15M", -900),
        ("PT0.5S", 0.5),
        ("P1DT2H3M4S", 86400 + 7384),
        ("PT60M", 3600),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    d = parse_duration(text)
    assert d.total_seconds() == seconds
    assert str(d) == text
    assert re.match(DURATION_PATTERN, text)


@pytest.mark.parametrize("text", ["", "P", "PT", "1H", "PT1.5H", "P1D1W", "P-1D", "PT1h", "P1Y1"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(DurationError, match="ISO 8601 duration"):
        parse_duration(text)
    assert not re.match(DURATION_PATTERN, text)


def test_calendar_durations_are_added_on_the_calendar() -> None:
    jan31 = datetime(2024, 1, 31, tzinfo=UTC)
    assert parse_duration("P1M").add_to(jan31) == datetime(2024, 2, 29, tzinfo=UTC)
    assert parse_duration("P1Y").add_to(datetime(2024, 2, 29, tzinfo=UTC)) == datetime(
        2025, 2, 28, tzinfo=UTC
    )
    assert parse_duration("-P1M").add_to(jan31) == datetime(2023, 12, 31, tzinfo=UTC)
    with pytest.raises(DurationError, match="no fixed length"):
        parse_duration("P1M").to_timedelta()


def test_format_duration() -> None:
    assert format_duration(timedelta(hours=1)) == "PT1H"
    assert format_duration(timedelta(days=1)) == "P1D"
    assert format_duration(timedelta(minutes=15)) == "PT15M"
    assert format_duration(timedelta(0)) == "PT0S"
    assert format_duration(timedelta(seconds=1.5)) == "PT1.5S"
    assert format_duration(-timedelta(minutes=15)) == "-PT15M"
    assert IsoDuration.parse(format_duration(timedelta(days=1, seconds=61))).total_seconds() == 86461


# --------------------------------------------------------------------------- conversions

T0 = datetime(2025, 10, 1, 22, 0, tzinfo=UTC)


def test_price_event_round_trip_with_units_and_currency() -> None:
    series = PriceSeries(start=T0, step_s=900, values=np.arange(8) / 100.0, source="test")
    event = price_event("prog-1", series, event_name="day-ahead")
    wire = Event.model_validate_json(event.dump_json())
    assert wire.interval_period is not None and str(wire.interval_period.duration) == "PT15M"
    back = price_series_from_event(wire)
    assert back.start == T0 and back.step_s == 900 and back.currency == "EUR"
    np.testing.assert_allclose(back.values, series.values)


def test_price_event_in_mwh_with_uneven_intervals_and_a_gap() -> None:
    event = Event(
        program_id="p",
        payload_descriptors=[EventPayloadDescriptor(payload_type="PRICE", units="MWH", currency="eur")],
        intervals=[
            Interval(
                id=0,
                interval_period=IntervalPeriod(start=T0, duration=IsoDuration.parse("PT1H")),
                payloads=[ValuesMap(type="PRICE", values=[100])],
            ),
            Interval(
                id=1,
                interval_period=IntervalPeriod(
                    start=T0 + timedelta(hours=2), duration=IsoDuration.parse("PT30M")
                ),
                payloads=[ValuesMap(type="PRICE", values=[50.0])],
            ),
        ],
    )
    s = price_series_from_event(event)
    assert s.step_s == 1800 and s.currency == "EUR"
    assert s.values.tolist()[:2] == [0.1, 0.1]
    assert math.isnan(s.values[2]) and math.isnan(s.values[3])
    assert s.values[4] == 0.05
    assert s.missing_intervals() == ((T0 + timedelta(hours=1), T0 + timedelta(hours=2)),)


def test_price_series_with_gaps_becomes_explicit_intervals() -> None:
    series = PriceSeries(start=T0, step_s=3600, values=[0.1, float("nan"), 0.3])
    event = price_event("p", series)
    assert [iv.id for iv in event.intervals] == [0, 2]
    back = price_series_from_event(event)
    assert back.values[0] == 0.1 and math.isnan(back.values[1]) and back.values[2] == 0.3


def test_bad_price_events_are_named() -> None:
    open_ended = Event(
        id="e1",
        program_id="p",
        interval_period=IntervalPeriod(start=T0),
        intervals=[Interval(id=0, payloads=[ValuesMap(type="PRICE", values=[0.1])])],
    )
    with pytest.raises(OpenAdrConversionError, match=r"event e1.intervals\[0\].*needs a duration"):
        price_series_from_event(open_ended)
    text = Event(
        id="e2",
        program_id="p",
        interval_period=IntervalPeriod(start=T0, duration=IsoDuration.parse("PT1H")),
        intervals=[Interval(id=0, payloads=[ValuesMap(type="PRICE", values=["cheap"])])],
    )
    with pytest.raises(OpenAdrConversionError, match="expected a number, found 'cheap'"):
        price_series_from_event(text)
    with pytest.raises(OpenAdrConversionError, match="no PRICE payload"):
        price_series_from_event(Event(program_id="p", intervals=[]))
    no_start = Event(
        program_id="p", intervals=[Interval(id=0, payloads=[ValuesMap(type="PRICE", values=[1])])]
    )
    with pytest.raises(OpenAdrConversionError, match="no start time"):
        price_series_from_event(no_start)


def test_capacity_limit_event_round_trip() -> None:
    sched = CapacityLimitSchedule(
        Direction.CONSUMPTION,
        (
            CapacityLimit(T0, T0 + timedelta(hours=2), 4200.0),
            CapacityLimit(T0 + timedelta(hours=3), None, 8000.0),
        ),
    )
    event = capacity_limit_event("p", sched, event_name="congestion")
    assert event.payload_descriptors is not None and event.payload_descriptors[0].units == "KW"
    assert event.intervals[0].payloads[0].values == [4.2]
    wire = Event.model_validate(event.dump())
    back = capacity_limits_from_event(wire, "IMPORT_CAPACITY_LIMIT")
    assert back.limits == sched.limits and back.direction is Direction.CONSUMPTION
    lim = back.power_limit_at(T0 + timedelta(minutes=30))
    assert lim is not None and lim.value_w == 4200.0 and lim.duration_s == 5400.0 and lim.active
    assert back.power_limit_at(T0 + timedelta(hours=2, minutes=30)) is None
    last = back.power_limit_at(T0 + timedelta(days=30))
    assert last is not None and last.value_w == 8000.0 and last.duration_s is None


def test_export_limits_in_watts_and_negative_limits() -> None:
    event = Event(
        program_id="p",
        payload_descriptors=[EventPayloadDescriptor(payload_type="EXPORT_CAPACITY_LIMIT", units="W")],
        interval_period=IntervalPeriod(start=T0, duration=IsoDuration.parse("PT1H")),
        intervals=[
            Interval(id=0, payloads=[ValuesMap(type="EXPORT_CAPACITY_LIMIT", values=[0])]),
            Interval(id=1, payloads=[ValuesMap(type="EXPORT_CAPACITY_LIMIT", values=[2500])]),
        ],
    )
    s = capacity_limits_from_event(event, "EXPORT_CAPACITY_LIMIT")
    assert s.direction is Direction.PRODUCTION
    assert [(lim.start, lim.watts) for lim in s.limits] == [(T0, 0.0), (T0 + timedelta(hours=1), 2500.0)]
    bad = event.model_copy(
        update={
            "intervals": [Interval(id=0, payloads=[ValuesMap(type="EXPORT_CAPACITY_LIMIT", values=[-1])])]
        }
    )
    with pytest.raises(OpenAdrConversionError, match="limit >= 0"):
        capacity_limits_from_event(bad, "EXPORT_CAPACITY_LIMIT")


def test_merges() -> None:
    a = PriceSeries(start=T0, step_s=3600, values=[1.0, 2.0])
    b = PriceSeries(start=T0 + timedelta(hours=1), step_s=900, values=[5.0] * 8)
    m = merge_price_series([a, b])
    assert m is not None and m.step_s == 900 and len(m) == 12
    assert m.values.tolist() == [1.0] * 4 + [5.0] * 8
    x = CapacityLimitSchedule(Direction.CONSUMPTION, (CapacityLimit(T0, T0 + timedelta(hours=2), 5000),))
    y = CapacityLimitSchedule(Direction.CONSUMPTION, (CapacityLimit(T0 + timedelta(hours=1), None, 3000),))
    z = merge_limit_schedules([x, y])
    assert z is not None
    assert [(lim.start - T0, lim.end, lim.watts) for lim in z.limits] == [
        (timedelta(0), T0 + timedelta(hours=1), 5000),
        (timedelta(hours=1), None, 3000),
    ]


def test_usage_report() -> None:
    r = usage_report(
        program_id="p",
        event_id="e",
        client_name="ven-1",
        resource_name="meter",
        start=T0,
        step_s=900,
        values=[0.25, 0.5],
    )
    d = Report.model_validate(r.dump()).dump()
    assert d["resources"][0]["intervalPeriod"] == {"start": "2025-10-01T22:00:00Z", "duration": "PT15M"}
    assert d["resources"][0]["intervals"][1] == {"id": 1, "payloads": [{"type": "USAGE", "values": [0.5]}]}
    with pytest.raises(ValueError, match="finite"):
        usage_report(
            program_id="p",
            event_id="e",
            client_name="c",
            resource_name="r",
            start=T0,
            step_s=900,
            values=[float("nan")],
        )
