"""Envelopes to bytes and back, for transports that leave the process (MQTT today).

Wire format: one JSON object (RFC 8259, UTF-8) per message, written and read with orjson:

    {"topic": "home/meter/reading", "source": "p1", "sequence": 7,
     "timestamp": "2024-01-01T00:00:00+00:00", "message_id": "<UUID>",
     "type": "gridedge.model.reading.MeterReading", "payload": {...}}

Why it looks like this:

* `type` names the payload's Python type by a stable registered name, so the receiver rebuilds
  the same typed object the publisher had (a `MeterReading`, not a dict) and can apply the same
  `payload_type` check as the in-process bus. An unregistered payload type cannot be published and
  an unknown type name cannot be received: both raise `CodecError`; nothing is passed on untyped.
* Dataclass payloads are encoded exactly as `gridedge p1 read --json` writes readings (orjson's
  native dataclass support with `OPT_NON_STR_KEYS`: enums as their values, datetimes as
  RFC 3339, int keys as strings, tuples as lists), so there is one JSON shape for a reading. The
  decoder is derived once per type from its type hints and checks every field: it raises
  `CodecError` naming the field path, what was expected and what was found.
* Plain JSON values (dict with str keys, list, str, int, float, bool, None) travel as type
  `"json"`; they are checked on encoding so that what arrives equals what was sent (no tuples,
  no NaN, no objects that orjson would silently turn into strings).

Limits: datetimes keep their UTC offset but not a zone name (`CET` comes back as `+01:00`;
datetimes compare equal); orjson writes a non-finite float inside a dataclass as `null`, which
the decoder rejects for a non-optional field but reads as None for an optional one (no P1 decoder
produces NaN). Adding a field to a registered type is a wire-format change: unknown fields are
rejected, so update receivers first (missing fields that have a default are filled in).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import orjson

from gridedge.bus.envelope import Envelope
from gridedge.model.flex import FLEX_PAYLOAD_TYPES
from gridedge.model.limits import (
    FailsafeValues,
    Heartbeat,
    LimitState,
    LimitValueError,
    PowerLimit,
    Rejected,
    Transition,
)
from gridedge.model.overload import OverloadWarning
from gridedge.model.reading import MeterReading

__all__ = [
    "DEFAULT_REGISTRY",
    "JSON_TYPE",
    "CodecError",
    "PayloadCodec",
    "PayloadRegistry",
    "decode_envelope",
    "encode_envelope",
]

T = TypeVar("T")

JSON_TYPE = "json"
"""Type name of plain JSON payloads (dict/list/str/int/float/bool/None)."""

_ENVELOPE_FIELDS = ("topic", "source", "sequence", "timestamp", "message_id", "type", "payload")
_DUMPS_OPTIONS = orjson.OPT_NON_STR_KEYS


class CodecError(ValueError):
    """A message cannot be encoded or decoded; says where (`path`), what was expected and found."""

    def __init__(self, path: str, expected: str, found: object) -> None:
        self.path = path
        self.expected = expected
        self.found = found
        shown = repr(found)
        if len(shown) > 200:
            shown = shown[:200] + "..."
        super().__init__(f"{path}: expected {expected}, found {shown}")


@dataclasses.dataclass(frozen=True, slots=True)
class PayloadCodec(Generic[T]):
    """How one payload type travels: its wire name, and JSON-value encode/decode functions.

    `encode` returns something orjson can serialise (a dataclass itself is fine); `decode` takes
    the decoded JSON value and the field path for error messages.
    """

    name: str
    type: type[T]
    encode: Callable[[T], object]
    decode: Callable[[object, str], T]


class PayloadRegistry:
    """Stable names for payload types, so both ends agree on what a `payload` field holds.

    Lookup is by exact type (a subclass is a different message). `DEFAULT_REGISTRY` holds the
    gridedge model types; make your own (or `copy()` it) to add application types.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, PayloadCodec[Any]] = {}
        self._by_type: dict[type, PayloadCodec[Any]] = {}

    def __contains__(self, item: object) -> bool:
        return item in self._by_name or item in self._by_type

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def copy(self) -> PayloadRegistry:
        other = PayloadRegistry()
        other._by_name = dict(self._by_name)
        other._by_type = dict(self._by_type)
        return other

    def register(
        self,
        name: str,
        type_: type[T],
        *,
        encode: Callable[[T], object] | None = None,
        decode: Callable[[object, str], T] | None = None,
    ) -> PayloadCodec[T]:
        """Register `type_` under `name`.

        Without `encode`/`decode`, `type_` must be a dataclass: it is encoded by orjson as is and
        decoded field by field from its type hints (nested dataclasses, enums, datetimes,
        optionals, tuples, lists, mappings with int or str keys). Raises ValueError if the name or
        the type is already registered, TypeError if a dataclass field type is not supported.
        """
        if not name or name == JSON_TYPE:
            raise ValueError(f"payload type name {name!r} is reserved or empty")
        if name in self._by_name:
            raise ValueError(f"payload type name {name!r} is already registered")
        if type_ in self._by_type:
            raise ValueError(f"payload type {type_.__qualname__} is already registered")
        if decode is None:
            if not (isinstance(type_, type) and dataclasses.is_dataclass(type_)):
                raise TypeError(f"{type_!r} is not a dataclass: give decode= explicitly")
            decode = typing.cast("Callable[[object, str], T]", _decoder_for(type_))
        codec = PayloadCodec(name, type_, encode if encode is not None else _identity, decode)
        self._by_name[name] = codec
        self._by_type[type_] = codec
        return codec

    def codec_for(self, payload: object) -> PayloadCodec[Any] | None:
        """The codec of `payload`'s exact type, or None (plain JSON values have none)."""
        return self._by_type.get(type(payload))

    def encode_payload(self, payload: object) -> tuple[str, object]:
        """(type name, JSON-able value) for `payload`; CodecError if its type is not registered."""
        codec = self._by_type.get(type(payload))
        if codec is not None:
            return codec.name, codec.encode(payload)
        if type(payload) in _JSON_SCALARS or type(payload) in (dict, list):
            _check_json(payload, "payload")
            return JSON_TYPE, payload
        raise CodecError(
            "payload",
            "a registered payload type or a plain JSON value "
            f"(registered: {', '.join(sorted(self._by_name)) or 'none'})",
            f"an unregistered {type(payload).__module__}.{type(payload).__qualname__}",
        )

    def decode_payload(self, name: object, value: object) -> object:
        """Rebuild the payload of type `name` from its JSON value; CodecError on any mismatch."""
        if name == JSON_TYPE:
            return value
        codec = self._by_name.get(name) if isinstance(name, str) else None
        if codec is None:
            raise CodecError("type", f"a registered payload type name or {JSON_TYPE!r}", name)
        return codec.decode(value, "payload")


def _identity(value: object) -> object:
    return value


# --------------------------------------------------------------------------- envelopes


def encode_envelope(envelope: Envelope[object], registry: PayloadRegistry | None = None) -> bytes:
    """The envelope as one UTF-8 JSON object; CodecError if the payload cannot travel."""
    reg = DEFAULT_REGISTRY if registry is None else registry
    name, value = reg.encode_payload(envelope.payload)
    doc = {
        "topic": envelope.topic,
        "source": envelope.source,
        "sequence": envelope.sequence,
        "timestamp": envelope.timestamp,
        "message_id": str(envelope.message_id),
        "type": name,
        "payload": value,
    }
    try:
        return orjson.dumps(doc, option=_DUMPS_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise CodecError("payload", f"a value orjson can serialise ({exc})", type(value).__name__) from exc


def decode_envelope(
    data: bytes | bytearray | memoryview, registry: PayloadRegistry | None = None
) -> Envelope[object]:
    """Parse and check one wire message; CodecError names the first bad field."""
    reg = DEFAULT_REGISTRY if registry is None else registry
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CodecError("<message>", "a UTF-8 JSON object", f"invalid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise CodecError("<message>", "a JSON object", type(doc).__name__)
    missing = [f for f in _ENVELOPE_FIELDS if f not in doc]
    if missing:
        raise CodecError(missing[0], "a value", "nothing (field missing)")
    extra = sorted(set(doc) - set(_ENVELOPE_FIELDS))
    if extra:
        raise CodecError(
            extra[0], "no such field (envelope fields: " + ", ".join(_ENVELOPE_FIELDS) + ")", doc[extra[0]]
        )
    topic = _str(doc["topic"], "topic")
    source = _str(doc["source"], "source")
    sequence = doc["sequence"]
    if type(sequence) is not int or sequence < 1:
        raise CodecError("sequence", "an integer >= 1", sequence)
    timestamp = _datetime(doc["timestamp"], "timestamp")
    if timestamp.tzinfo is None:
        raise CodecError("timestamp", "an RFC 3339 time with UTC offset", doc["timestamp"])
    raw_id = _str(doc["message_id"], "message_id")
    try:
        message_id = UUID(raw_id)
    except ValueError as exc:
        raise CodecError("message_id", "a UUID", raw_id) from exc
    payload = reg.decode_payload(doc["type"], doc["payload"])
    try:
        return Envelope(topic, payload, source, sequence, timestamp, message_id)
    except ValueError as exc:
        raise CodecError("<envelope>", "a valid envelope", str(exc)) from exc


# --------------------------------------------------------------------------- plain JSON

_JSON_SCALARS: tuple[type, ...] = (str, int, float, bool, type(None))


def _check_json(value: object, path: str) -> None:
    t = type(value)
    if t is float:
        if not math.isfinite(typing.cast(float, value)):
            raise CodecError(path, "a finite number (JSON has no NaN or infinity)", value)
    elif t is int:
        if not -(2**63) <= typing.cast(int, value) < 2**64:
            raise CodecError(path, "an integer within 64 bits", value)
    elif t in (str, bool, type(None)):
        return
    elif t is list:
        for i, item in enumerate(typing.cast(list[object], value)):
            _check_json(item, f"{path}[{i}]")
    elif t is dict:
        for key, item in typing.cast(dict[object, object], value).items():
            if type(key) is not str:
                raise CodecError(f"{path} key", "a string key (JSON object keys are strings)", key)
            _check_json(item, f"{path}.{key}")
    else:
        raise CodecError(
            path, "a plain JSON value (dict/list/str/int/float/bool/None)", f"a {t.__qualname__}"
        )


# --------------------------------------------------------------------------- typed decoding

_Decoder = Callable[[object, str], Any]


def _str(value: object, path: str) -> str:
    if type(value) is not str:
        raise CodecError(path, "a string", value)
    return value


def _datetime(value: object, path: str) -> datetime:
    if type(value) is not str:
        raise CodecError(path, "an RFC 3339 date-time string", value)
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise CodecError(path, "an RFC 3339 date-time string", value) from exc


def _int(value: object, path: str) -> int:
    if type(value) is not int:
        raise CodecError(path, "an integer", value)
    return value


def _float(value: object, path: str) -> float:
    t = type(value)
    if t is float:
        return typing.cast(float, value)
    if t is int:
        return float(typing.cast(int, value))
    raise CodecError(path, "a number", value)


def _bool(value: object, path: str) -> bool:
    if type(value) is not bool:
        raise CodecError(path, "true or false", value)
    return value


def _none(value: object, path: str) -> None:
    if value is not None:
        raise CodecError(path, "null", value)


def _any(value: object, path: str) -> object:
    return value


_SCALAR_DECODERS: dict[object, _Decoder] = {
    str: _str,
    int: _int,
    float: _float,
    bool: _bool,
    type(None): _none,
    datetime: _datetime,
    object: _any,
    Any: _any,
}

_decoder_cache: dict[object, _Decoder] = {}


def _decoder_for(tp: object) -> _Decoder:
    """Build (once) a checking decoder for type hint `tp`."""
    cached = _decoder_cache.get(tp)
    if cached is not None:
        return cached
    dec = _build_decoder(tp)
    _decoder_cache[tp] = dec
    return dec


def _build_decoder(tp: object) -> _Decoder:
    scalar = _SCALAR_DECODERS.get(tp)
    if scalar is not None:
        return scalar
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return _union_decoder(tp, args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder_for(args[0])

            def tuple_var(value: object, path: str) -> tuple[object, ...]:
                if type(value) is not list:
                    raise CodecError(path, "a JSON array", value)
                return tuple(item(v, f"{path}[{i}]") for i, v in enumerate(typing.cast(list[object], value)))

            return tuple_var
        items = [_decoder_for(a) for a in args]

        def tuple_fixed(value: object, path: str) -> tuple[object, ...]:
            if type(value) is not list or len(typing.cast(list[object], value)) != len(items):
                raise CodecError(path, f"a JSON array of {len(items)} items", value)
            return tuple(
                d(v, f"{path}[{i}]")
                for i, (d, v) in enumerate(zip(items, typing.cast(list[object], value), strict=True))
            )

        return tuple_fixed
    if origin is list:
        item = _decoder_for(args[0]) if args else _any

        def list_dec(value: object, path: str) -> list[object]:
            if type(value) is not list:
                raise CodecError(path, "a JSON array", value)
            return [item(v, f"{path}[{i}]") for i, v in enumerate(typing.cast(list[object], value))]

        return list_dec
    if origin in (dict, Mapping, typing.Mapping):
        key_type, value_type = args if args else (str, object)
        val = _decoder_for(value_type)
        if key_type is int:
            key: Callable[[str, str], object] = _int_key
        elif key_type is str:
            key = _str_key
        else:
            raise TypeError(f"mapping keys of type {key_type!r} cannot travel as JSON object keys")

        def map_dec(value: object, path: str) -> dict[object, object]:
            if type(value) is not dict:
                raise CodecError(path, "a JSON object", value)
            return {
                key(k, path): val(v, f"{path}.{k}") for k, v in typing.cast(dict[str, object], value).items()
            }

        return map_dec
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_decoder(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_decoder(tp)
    raise TypeError(f"no wire decoder for type {tp!r}")


def _int_key(key: str, path: str) -> int:
    try:
        number = int(key)
    except ValueError:
        raise CodecError(f"{path} key", "an integer key", key) from None
    if str(number) != key:  # "01", " 1", "+1": not what orjson writes for an int key
        raise CodecError(f"{path} key", "an integer key in canonical form", key)
    return number


def _str_key(key: str, path: str) -> str:
    return key


def _union_decoder(tp: object, args: tuple[object, ...]) -> _Decoder:
    optional = type(None) in args
    rest = [a for a in args if a is not type(None)]
    if len(rest) != 1:
        # A union of several non-None types would need a tag on the wire to be unambiguous.
        raise TypeError(f"unions other than `X | None` cannot be decoded unambiguously: {tp!r}")
    inner = _decoder_for(rest[0])
    if not optional:
        return inner

    def optional_dec(value: object, path: str) -> object:
        return None if value is None else inner(value, path)

    return optional_dec


def _enum_decoder(tp: type[enum.Enum]) -> _Decoder:
    members = tp._value2member_map_
    expected = f"one of {sorted(members, key=str)!r} ({tp.__qualname__})"

    def enum_dec(value: object, path: str) -> enum.Enum:
        # bool is not an IntEnum value even though True == 1.
        member = members.get(value) if type(value) in (str, int) else None
        if member is None:
            raise CodecError(path, expected, value)
        return member

    return enum_dec


def _dataclass_decoder(tp: type) -> _Decoder:
    hints = typing.get_type_hints(tp)
    fields = [f for f in dataclasses.fields(tp) if f.init]
    decoders = {f.name: _decoder_for(hints[f.name]) for f in fields}
    required = {
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    name = tp.__qualname__

    def dataclass_dec(value: object, path: str) -> object:
        if type(value) is not dict:
            raise CodecError(path, f"a JSON object ({name})", value)
        data = typing.cast(dict[str, object], value)
        for missing in required:
            if missing not in data:
                raise CodecError(f"{path}.{missing}", f"a value ({name} field)", "nothing (field missing)")
        kwargs: dict[str, object] = {}
        for key, item in data.items():
            dec = decoders.get(key)
            if dec is None:
                raise CodecError(
                    f"{path}.{key}", f"no such field ({name} fields: {', '.join(decoders)})", item
                )
            kwargs[key] = dec(item, f"{path}.{key}")
        try:
            return tp(**kwargs)
        except LimitValueError as exc:
            raise CodecError(f"{path}.{exc.field}", exc.expected, exc.found) from exc
        except (TypeError, ValueError) as exc:
            raise CodecError(path, f"a valid {name}", str(exc)) from exc

    return dataclass_dec


# --------------------------------------------------------------------------- the default registry


def _default_registry() -> PayloadRegistry:
    reg = PayloadRegistry()
    for tp in (PowerLimit, Heartbeat, FailsafeValues, LimitState, Transition, Rejected):
        reg.register(f"gridedge.model.limits.{tp.__name__}", tp)
    reg.register("gridedge.model.reading.MeterReading", MeterReading)
    reg.register("gridedge.model.overload.OverloadWarning", OverloadWarning)
    for name, flex_type in FLEX_PAYLOAD_TYPES:
        reg.register(name, flex_type)
    return reg


DEFAULT_REGISTRY = _default_registry()
"""The gridedge model types: `gridedge.model.limits.*`, `gridedge.model.reading.MeterReading` and the
flexibility messages `gridedge.model.flex.*`."""
