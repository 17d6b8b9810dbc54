"""Tests for gridedge.bus.codec: envelopes and every registered payload type round-trip exactly."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridedge.bus import Envelope
from gridedge.bus.codec import (
    DEFAULT_REGISTRY,
    JSON_TYPE,
    CodecError,
    decode_envelope,
    encode_envelope,
)
from gridedge.model.flex import FlexDirection, FlexDispatch, FlexOffer, FlexRequest, FlexSettlement
from gridedge.model.limits import (
    Direction,
    FailsafeValues,
    Heartbeat,
    LimitState,
    LpcState,
    PowerLimit,
    Rejected,
    Transition,
)
from gridedge.model.overload import OverloadWarning
from gridedge.model.reading import MeterReading
from gridedge.ports.p1 import decode
from gridedge.ports.p1.framer import TelegramFramer

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "examples" / "iskra-am550-p1-capture.txt"
CORPUS = ROOT.parent / "shared" / "corpus" / "p1"
T0 = datetime(2024, 3, 31, 1, 59, 59, 123456, tzinfo=UTC)


def envelope(payload: object, topic: str = "home/meter/reading", sequence: int = 1) -> Envelope[object]:
    return Envelope(topic, payload, "test", sequence, T0, UUID(int=sequence))


def roundtrip(payload: object) -> object:
    env = envelope(payload)
    back = decode_envelope(encode_envelope(env))
    assert back == env
    assert type(back.payload) is type(payload)
    return back.payload


def capture_readings() -> list[MeterReading]:
    framer = TelegramFramer()
    items = framer.feed(CAPTURE.read_bytes()) + framer.flush()
    return [decode(i) for i in items if isinstance(i, bytes)]


def corpus_readings() -> list[tuple[str, MeterReading]]:
    out = []
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file():
            try:
                out.append((path.name, decode(path.read_bytes())))
            except Exception:  # not a single plain telegram (encrypted, several, broken on purpose)
                continue
    return out


SAMPLE_LIMIT_STATE = LimitState(
    direction=Direction.CONSUMPTION,
    state=LpcState.LIMITED,
    effective_limit_w=4200.0,
    limit=PowerLimit(4200.0, True, 900.0),
    limit_active=True,
    failsafe=FailsafeValues(3000.0, 7200.0),
    nominal_max_w=17250.0,
    since=12.5,
    at=13.0,
    reason="limit accepted",
)
SAMPLE_TRANSITION = Transition(
    3,
    Direction.PRODUCTION,
    LpcState.UNLIMITED_CONTROLLED,
    LpcState.LIMITED,
    1.25,
    ("LPP-001", "LPP-002"),
    "x",
)
T_FLEX = datetime(2026, 1, 15, 16, 0, tzinfo=UTC)
SAMPLES: dict[str, object] = {
    "gridedge.model.limits.PowerLimit": PowerLimit(1000.0, True, None, Direction.PRODUCTION),
    "gridedge.model.limits.Heartbeat": Heartbeat(7, 120.0),
    "gridedge.model.limits.FailsafeValues": FailsafeValues(2500.5, 86400.0),
    "gridedge.model.limits.LimitState": SAMPLE_LIMIT_STATE,
    "gridedge.model.limits.Transition": SAMPLE_TRANSITION,
    "gridedge.model.limits.Rejected": Rejected("site/home/lpc/limit", "dso", "unsigned: not a COSE_Sign1"),
    "gridedge.model.overload.OverloadWarning": OverloadWarning("IT001E1", T_FLEX, 3800.0, 3300.0, 120.0),
    "gridedge.model.flex.FlexRequest": FlexRequest(
        "r1", FlexDirection.REDUCE, 3.0, T_FLEX, T_FLEX + timedelta(hours=2), 0.25,
        T_FLEX - timedelta(hours=1), "ghent",
    ),
    "gridedge.model.flex.FlexOffer": FlexOffer("r1", "home", (1.0, 0.5), 0.2, T_FLEX),
    "gridedge.model.flex.FlexDispatch": FlexDispatch(
        "r1", "home", FlexDirection.INCREASE, T_FLEX, (2.0, 0.0), 0.2
    ),
    "gridedge.model.flex.FlexSettlement": FlexSettlement(
        "r1", "home", 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, "10-of-10"
    ),
    "gridedge.model.reading.MeterReading": capture_readings()[0],
}


def test_every_registered_type_has_a_sample_and_round_trips() -> None:
    assert set(DEFAULT_REGISTRY.names) == set(SAMPLES)
    for name, payload in SAMPLES.items():
        doc = orjson.loads(encode_envelope(envelope(payload)))
        assert doc["type"] == name
        assert list(doc) == ["topic", "source", "sequence", "timestamp", "message_id", "type", "payload"]
        roundtrip(payload)


def test_capture_readings_round_trip_exactly() -> None:
    readings = capture_readings()
    assert len(readings) > 100
    for reading in readings:
        roundtrip(reading)


def test_corpus_readings_round_trip_exactly() -> None:
    readings = corpus_readings()
    assert len(readings) > 20
    # the corpus exercises the nested parts of a reading: M-Bus devices, peaks, failure log, raw objects
    for attr in ("mbus", "peak_history", "power_failure_log", "month_peak", "limiter_threshold", "other"):
        assert any(getattr(r, attr) for _, r in readings), attr
    for name, reading in readings:
        assert roundtrip(reading) == reading, name


def test_reading_payload_is_the_cli_json_shape() -> None:
    reading = capture_readings()[0]
    doc = orjson.loads(encode_envelope(envelope(reading)))
    assert doc["payload"] == orjson.loads(orjson.dumps(reading, option=orjson.OPT_NON_STR_KEYS))


def test_timestamps_keep_their_offset() -> None:
    cet = timezone(timedelta(hours=1), "CET")
    reading = replace(capture_readings()[0], timestamp=datetime(2024, 1, 1, 12, tzinfo=cet))
    back = roundtrip(reading)
    assert isinstance(back, MeterReading) and back.timestamp is not None
    assert back.timestamp.utcoffset() == timedelta(hours=1)


finite = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
directions = st.sampled_from(list(Direction))
power_limits = st.builds(PowerLimit, finite, st.booleans(), st.none() | finite, directions)
failsafes = st.builds(FailsafeValues, finite, st.floats(7200, 86400), directions)
heartbeats = st.builds(Heartbeat, st.integers(0, 2**63 - 1), st.floats(0.001, 1e6))
states = st.sampled_from(list(LpcState))
texts = st.text(max_size=20)
transitions = st.builds(
    Transition, st.integers(1, 12), directions, states, states, finite, st.tuples(texts, texts), texts
)
limit_states = st.builds(
    LimitState,
    directions,
    states,
    st.none() | finite,
    st.none() | power_limits,
    st.booleans(),
    failsafes,
    finite,
    finite,
    finite,
    texts,
)


@given(st.one_of(power_limits, failsafes, heartbeats, transitions, limit_states))
def test_limit_types_round_trip(payload: object) -> None:
    roundtrip(payload)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_plain_json_round_trips(value: object) -> None:
    doc = orjson.loads(encode_envelope(envelope(value)))
    assert doc["type"] == JSON_TYPE
    assert roundtrip(value) == value


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ((1, 2), "payload"),
        ({"a": float("nan")}, "payload.a"),
        ({1: "x"}, "payload key"),
        ([datetime(2024, 1, 1, tzinfo=UTC)], "payload[0]"),
        (Direction.CONSUMPTION, "payload"),  # a str subclass is not plain JSON
        (object(), "payload"),
    ],
)
def test_unregistered_or_lossy_payloads_are_refused(payload: object, path: str) -> None:
    with pytest.raises(CodecError) as info:
        encode_envelope(envelope(payload))
    assert info.value.path == path


def _doc(payload: object) -> dict[str, object]:
    doc: dict[str, object] = orjson.loads(encode_envelope(envelope(payload)))
    return doc


def _decode(doc: dict[str, object]) -> Envelope[object]:
    return decode_envelope(orjson.dumps(doc))


def test_unknown_type_name_is_an_error() -> None:
    doc = _doc({"x": 1})
    doc["type"] = "gridedge.model.Nope"
    with pytest.raises(
        CodecError, match=r"type: expected a registered payload type name .*'gridedge.model.Nope'"
    ):
        _decode(doc)


@pytest.mark.parametrize(
    ("change", "path", "found"),
    [
        (("value_w", "1000"), "payload.value_w", "'1000'"),
        (("value_w", -1.0), "payload.value_w", "-1.0"),
        (("active", 1), "payload.active", "1"),
        (("direction", "sideways"), "payload.direction", "'sideways'"),
        (("duration_s", [1]), "payload.duration_s", "[1]"),
        (("surprise", 1), "payload.surprise", "1"),
    ],
)
def test_field_errors_name_field_expectation_and_value(
    change: tuple[str, object], path: str, found: str
) -> None:
    doc = _doc(PowerLimit(1000.0, True))
    payload = doc["payload"]
    assert isinstance(payload, dict)
    payload[change[0]] = change[1]
    with pytest.raises(CodecError) as info:
        _decode(doc)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: expected ")
    assert str(info.value).endswith(f"found {found}")


def test_missing_field_is_named() -> None:
    doc = _doc(SAMPLE_LIMIT_STATE)
    payload = doc["payload"]
    assert isinstance(payload, dict)
    del payload["failsafe"]["limit_w"]
    with pytest.raises(CodecError, match=r"^payload\.failsafe\.limit_w: expected a value .*field missing"):
        _decode(doc)


def test_nested_reading_errors_have_a_path() -> None:
    doc = _doc(SAMPLES["gridedge.model.reading.MeterReading"])
    payload = doc["payload"]
    assert isinstance(payload, dict)
    payload["phases"][1]["voltage_v"] = "230"
    payload_ok = dict(payload)
    with pytest.raises(CodecError, match=r"^payload\.phases\[1\]\.voltage_v: expected a number, found '230'"):
        _decode(doc)
    payload_ok["phases"][1]["voltage_v"] = 230.0
    payload_ok["energy_import_kwh"] = {"one": 1.0}
    doc["payload"] = payload_ok
    with pytest.raises(CodecError, match=r"^payload\.energy_import_kwh key: expected an integer key"):
        _decode(doc)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sequence", 0),
        ("sequence", True),
        ("timestamp", "2024-01-01T00:00:00"),
        ("timestamp", "yesterday"),
        ("message_id", "not-a-uuid"),
        ("topic", "a/+/b"),
        ("source", ""),
    ],
)
def test_bad_envelope_fields(field: str, value: object) -> None:
    doc = _doc({"x": 1})
    doc[field] = value
    with pytest.raises(CodecError):
        _decode(doc)


def test_missing_and_extra_envelope_fields() -> None:
    doc = _doc(None)
    del doc["source"]
    with pytest.raises(CodecError, match=r"^source: expected a value"):
        _decode(doc)
    doc = _doc(None)
    doc["extra"] = 1
    with pytest.raises(CodecError, match=r"^extra: expected no such field"):
        _decode(doc)
    with pytest.raises(CodecError, match=r"^<message>: expected a UTF-8 JSON object"):
        decode_envelope(b"{nope")
    with pytest.raises(CodecError, match=r"^<message>: expected a JSON object"):
        decode_envelope(b"[1]")


def test_custom_registry() -> None:
    @dataclass(frozen=True)
    class Ping:
        n: int
        at: datetime | None = None

    reg = DEFAULT_REGISTRY.copy()
    reg.register("test.Ping", Ping)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("test.Ping2", Ping)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("test.Ping", int, decode=lambda v, p: 1)
    with pytest.raises(TypeError, match="not a dataclass"):
        reg.register("test.int", int)
    ids = itertools.count(1)
    env = Envelope("a", Ping(3, T0), "s", 1, T0, UUID(int=next(ids)))
    assert decode_envelope(encode_envelope(env, reg), reg) == env
    # the default registry does not know the type, in either direction
    with pytest.raises(CodecError):
        encode_envelope(env)
    with pytest.raises(CodecError, match=r"test\.Ping"):
        decode_envelope(encode_envelope(env, reg))
    # a field with a default may be absent
    doc = orjson.loads(encode_envelope(env, reg))
    del doc["payload"]["at"]
    assert decode_envelope(orjson.dumps(doc), reg).payload == Ping(3)
