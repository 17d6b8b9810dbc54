"""P1 telegram decoder: bytes of one telegram to a `MeterReading`.

Objects are dispatched by OBIS code, never by position: order and number of objects are not
fixed (DSMR 5.0.2 §6.13, e-MUCS H Note 4, Fluvius brochure §4.5.1). Unknown objects are kept as
`RawObject`. M-Bus objects are keyed by their channel (`0-n:`), so the per-channel breaker lines
of e-MUCS 2.x (`0-1:96.3.10`) never overwrite the meter's own breaker state (`0-0:96.3.10`), the
dsmr-parser bug on Fluvius 50221 meters.

The telegram variant (DSMR 2.2 .. 5, e-MUCS H, Luxembourg, Nordic, Austria, Hungary) is
recognised from the telegram itself (`variants.detect`); the caller never names it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import tzinfo

from gridedge.model.reading import (
    BreakerState,
    MBusDevice,
    Measure,
    MeterReading,
    MonthlyPeak,
    PeakDemand,
    PhaseReading,
    PowerFailure,
    RawObject,
)
from gridedge.ports.p1 import variants
from gridedge.ports.p1.crc import crc16_arc
from gridedge.ports.p1.errors import P1CrcError, P1SyntaxError, P1TruncatedError
from gridedge.ports.p1.values import (
    APPARENT_POWER,
    CURRENT,
    DEFAULT_ZONE,
    ENERGY,
    FREQUENCY,
    NUMBER,
    POWER,
    REACTIVE_ENERGY,
    REACTIVE_POWER,
    VOLTAGE,
    integer,
    measure,
    number,
    number_with_unit,
    octet_string,
    scaled,
    timestamp,
)

#: A telegram header: '/', the 3-character manufacturer flag, then the baud or ID character
#: (DSMR 5.0.2 §6.2, IEC 62056-21).
HEADER = re.compile(rb"/[A-Za-z]{3}[!-~]")
#: A header that begins inside another telegram: at the start of a line, or glued right after
#: a closed value when bytes were dropped (`1-0:1.7.0(00.193*kW)/ISK5...`). A '/' inside a value
#: is text, not a header: DSMR 2.2 text messages are plain (`0-0:96.13.0(test-/-test)`).
EMBEDDED_HEADER = re.compile(rb"/(?<=[\n)]/)[A-Za-z]{3}[!-~]")  # '/' first: a fast literal scan
#: A header glued inside a value after dropped bytes (`1-0:1.8.1(0005/ISK5\2M550T`): flag and
#: baud digit. Could be text in a plain DSMR 2.2 message, so the framer lets a valid CRC overrule it.
LIKELY_HEADER = re.compile(rb"/[A-Za-z]{3}[0-9]")
_OBIS = re.compile(r"\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}\Z")
#: One object line: code, '(', values, ')' (DSMR 5.0.2 §6.4); values may hold ')(' separators.
_LINE = re.compile(r"^([^()\r\n]+)\(([^\r\n]*)\)\r?$", re.MULTILINE)


class _Builder:
    """Mutable scratch state while one telegram is decoded."""

    __slots__ = (
        "access_point_id",
        "apparent_power_export_va",
        "apparent_power_import_va",
        "breaker",
        "crc",
        "current_average_demand_export_w",
        "current_average_demand_w",
        "f_group",
        "frequency_hz",
        "header",
        "import_unit",
        "limiter",
        "long_power_failures",
        "mbus",
        "message_code",
        "meter_id",
        "meter_id_42",
        "month_peak",
        "other",
        "p1_version",
        "peak_history",
        "ph",
        "power_export_w",
        "power_factor",
        "power_failure_log",
        "power_failures",
        "power_import_w",
        "reactive_power_export_var",
        "reactive_power_import_var",
        "registers",
        "tariff",
        "text_message",
        "timestamp",
        "version_dsmr",
        "version_emucs",
        "zone",
    )

    def __init__(self, header: str, zone: tzinfo) -> None:
        self.header = header
        self.zone = zone
        self.crc: int | None = None
        self.timestamp = None
        self.meter_id: str | None = None
        self.meter_id_42: str | None = None
        self.access_point_id: str | None = None
        self.version_dsmr: str | None = None
        self.version_emucs: str | None = None
        self.p1_version: str | None = None
        self.tariff: int | None = None
        # energy_import, energy_export, reactive import, reactive export: tariff -> value
        self.registers: tuple[dict[int, float], dict[int, float], dict[int, float], dict[int, float]] = (
            {},
            {},
            {},
            {},
        )
        self.import_unit: str | None = None
        self.power_import_w: float | None = None
        self.power_export_w: float | None = None
        self.reactive_power_import_var: float | None = None
        self.reactive_power_export_var: float | None = None
        self.apparent_power_import_va: float | None = None
        self.apparent_power_export_va: float | None = None
        self.power_factor: float | None = None
        self.frequency_hz: float | None = None
        self.ph: tuple[dict[str, object], dict[str, object], dict[str, object]] = ({}, {}, {})
        self.power_failures: int | None = None
        self.long_power_failures: int | None = None
        self.power_failure_log: tuple[PowerFailure, ...] | None = None
        self.text_message: str | None = None
        self.message_code: str | None = None
        self.breaker: BreakerState | None = None
        self.limiter: Measure | None = None
        self.current_average_demand_w: float | None = None
        self.current_average_demand_export_w: float | None = None
        self.month_peak: PeakDemand | None = None
        self.peak_history: tuple[MonthlyPeak, ...] | None = None
        self.mbus: dict[int, dict[str, object]] = {}
        self.other: list[RawObject] = []
        self.f_group = False


_Handler = Callable[[_Builder, list[str]], None]


# --- handlers for electricity objects (A=1, B=0), keyed by "C.D.E" -------------------------------


def _one(v: list[str]) -> str:
    """The single value of an object; more values would be silently dropped, so they are an error."""
    if len(v) != 1:
        raise ValueError(f"expected 1 value, found {len(v)}")
    return v[0]


_UNITLESS = frozenset({""})


def _plain(attr: str) -> _Handler:
    def handle(b: _Builder, v: list[str]) -> None:
        setattr(b, attr, measure(_one(v), _UNITLESS)[0])

    return handle


def _phase_count(phase: int, name: str) -> _Handler:
    def handle(b: _Builder, v: list[str]) -> None:
        b.ph[phase][name] = integer(_one(v))

    return handle


def _phase_pf(phase: int) -> _Handler:
    def handle(b: _Builder, v: list[str]) -> None:
        b.ph[phase]["power_factor"] = measure(_one(v), _UNITLESS)[0]

    return handle


def _count(attr: str) -> _Handler:
    def handle(b: _Builder, v: list[str]) -> None:
        setattr(b, attr, integer(_one(v)))

    return handle


# Logs and histories repeat unchanged telegram after telegram: their parsed (immutable) form is
# cached by value text, bounded.
_CACHE: dict[str, object] = {}


def _cached(key: str, value: object) -> None:
    if len(_CACHE) >= 256:
        _CACHE.clear()
    _CACHE[key] = value


def _failure_log(b: _Builder, v: list[str]) -> None:
    # (z)(0-0:96.7.19)(TST end)(duration*s)...; malformed empty form `()` seen in the wild
    key = "99.97.0" + ")(".join(v)
    hit = _CACHE.get(key)
    if hit is not None:
        b.power_failure_log = hit  # type: ignore[assignment]
        return
    if v == [""]:
        b.power_failure_log = ()
        return
    if len(v) < 2 or len(v) != 2 + 2 * integer(v[0]):
        raise ValueError(f"power failure log announces {v[0]} entries but carries {len(v) - 2} values")
    entries = []
    for i in range(2, len(v) - 1, 2):
        entries.append(PowerFailure(end=timestamp(v[i], b.zone), duration_s=integer(v[i + 1])))
    b.power_failure_log = tuple(entries)
    _cached(key, b.power_failure_log)


def _month_peak(b: _Builder, v: list[str]) -> None:
    if len(v) != 2:
        raise ValueError(f"expected (time)(power), found {len(v)} values")
    b.month_peak = PeakDemand(time=timestamp(v[0], b.zone), power_w=number_with_unit(v[1], "power"))


def _peak_history(b: _Builder, v: list[str]) -> None:
    # (n)(1-0:1.6.0)(1-0:1.6.0)((month start)(peak time)(kW))*n; E.ON Hungary reuses the code
    # for a billing snapshot, which is kept raw.
    if len(v) < 3 or v[1] != "1-0:1.6.0":
        b.other.append(RawObject("0-0:98.1.0", tuple(v)))
        return
    key = "98.1.0" + ")(".join(v)
    hit = _CACHE.get(key)
    if hit is not None:
        b.peak_history = hit  # type: ignore[assignment]
        return
    n = integer(v[0])
    if len(v) != 3 + 3 * n and not (n == 0 and v[3:] == [""]):
        raise ValueError(f"peak history announces {n} months but carries {len(v) - 3} values")
    months = []
    for i in range(3, len(v) - 2, 3):
        months.append(
            MonthlyPeak(
                month_start=timestamp(v[i], b.zone),
                peak_time=timestamp(v[i + 1], b.zone),
                power_w=number_with_unit(v[i + 2], "power"),
            )
        )
    b.peak_history = tuple(months)
    _cached(key, b.peak_history)


# Numeric electricity objects, decoded inline in the hot loop: "C.D.E" -> (where, key, units)
# where: 0..3 = register (energy import/export, reactive import/export) with key = tariff;
# 4 = a scalar field of the reading (key = field name); 5..7 = phase 1..3 (key = field name).
_NumSpec = tuple[int, "int | str", dict[str, int]]
NUMERIC: dict[str, _NumSpec] = {
    "1.7.0": (4, "power_import_w", POWER),
    "2.7.0": (4, "power_export_w", POWER),
    "3.7.0": (4, "reactive_power_import_var", REACTIVE_POWER),
    "4.7.0": (4, "reactive_power_export_var", REACTIVE_POWER),
    "9.7.0": (4, "apparent_power_import_va", APPARENT_POWER),
    "10.7.0": (4, "apparent_power_export_va", APPARENT_POWER),
    "14.7.0": (4, "frequency_hz", FREQUENCY),
    "1.4.0": (4, "current_average_demand_w", POWER),
    "2.4.0": (4, "current_average_demand_export_w", POWER),
}
for _t in range(10):
    NUMERIC[f"1.8.{_t}"] = (0, _t, ENERGY)
    NUMERIC[f"2.8.{_t}"] = (1, _t, ENERGY)
    NUMERIC[f"3.8.{_t}"] = (2, _t, REACTIVE_ENERGY)
    NUMERIC[f"4.8.{_t}"] = (3, _t, REACTIVE_ENERGY)
for _i, _base in enumerate((20, 40, 60)):
    NUMERIC[f"{_base + 1}.7.0"] = (5 + _i, "power_import_w", POWER)
    NUMERIC[f"{_base + 2}.7.0"] = (5 + _i, "power_export_w", POWER)
    NUMERIC[f"{_base + 3}.7.0"] = (5 + _i, "reactive_power_import_var", REACTIVE_POWER)
    NUMERIC[f"{_base + 4}.7.0"] = (5 + _i, "reactive_power_export_var", REACTIVE_POWER)
    NUMERIC[f"{_base + 11}.7.0"] = (5 + _i, "current_a", CURRENT)
    NUMERIC[f"{_base + 12}.7.0"] = (5 + _i, "voltage_v", VOLTAGE)
    NUMERIC[f"{_base + 11}.4.0"] = (5 + _i, "fuse_threshold_a", CURRENT)

# the same, keyed by the full code for the hot loop: B = 0, and B = 1 (measurement channel 1,
# used instead of 0 by e.g. Sagemcom XT211 and Swiss 5S meters)
NUMERIC_FULL: dict[str, _NumSpec] = {f"1-{b}:{k}": v for k, v in NUMERIC.items() for b in (0, 1)}

ELECTRICITY: dict[str, _Handler] = {
    "13.7.0": _plain("power_factor"),
    "1.6.0": _month_peak,
    "99.97.0": _failure_log,
}
for _i, _base in enumerate((20, 40, 60)):
    ELECTRICITY[f"{_base + 13}.7.0"] = _phase_pf(_i)
    ELECTRICITY[f"{_base + 12}.32.0"] = _phase_count(_i, "voltage_sags")
    ELECTRICITY[f"{_base + 12}.36.0"] = _phase_count(_i, "voltage_swells")


# --- abstract objects (A=0, B=0), keyed by the full code ------------------------------------------


def _timestamp(b: _Builder, v: list[str]) -> None:
    b.timestamp = timestamp(_one(v), b.zone)  # type: ignore[assignment]


def _octets(attr: str) -> _Handler:
    """An octet-string object (ids, message code), decoded; empty means no value."""

    def handle(b: _Builder, v: list[str]) -> None:
        value = _one(v)
        setattr(b, attr, octet_string(value) if value else None)

    return handle


def _text_value(attr: str) -> _Handler:
    """A plain text object (version numbers); empty means no value."""

    def handle(b: _Builder, v: list[str]) -> None:
        setattr(b, attr, _one(v) or None)

    return handle


def _tariff(b: _Builder, v: list[str]) -> None:
    value = _one(v)
    b.tariff = integer(value) if value else None


def _breaker_state(value: str) -> BreakerState | None:
    if not value:
        return None
    state = integer(value)
    if not 0 <= state <= 2:
        raise ValueError(f"breaker state must be 0, 1 or 2, found {state}")
    return BreakerState(state)


def _breaker(b: _Builder, v: list[str]) -> None:
    b.breaker = _breaker_state(_one(v))


def _text(b: _Builder, v: list[str]) -> None:
    # the text message is always sent; empty means "no message" (DSMR 5.0.2 §7.2)
    b.text_message = octet_string(_one(v))


_LIMITER_UNITS = frozenset({"W", "VA", "A"})


def _limiter(b: _Builder, v: list[str]) -> None:
    value = _one(v)
    if value:
        b.limiter = Measure(*measure(value, _LIMITER_UNITS))


ABSTRACT: dict[str, _Handler] = {
    "0-0:1.0.0": _timestamp,
    "0-0:96.1.1": _octets("meter_id"),
    "0-0:42.0.0": _octets("meter_id_42"),
    "0-0:96.1.2": _octets("access_point_id"),
    "0-0:96.14.0": _tariff,
    "0-0:96.3.10": _breaker,
    "0-0:96.13.0": _text,
    "0-0:96.13.1": _octets("message_code"),
    "0-0:17.0.0": _limiter,
    "0-0:96.7.21": _count("power_failures"),
    "0-0:96.7.9": _count("long_power_failures"),
    "1-3:0.2.8": _text_value("version_dsmr"),
    "0-0:96.1.4": _text_value("version_emucs"),
    "0-0:98.1.0": _peak_history,
}


# --- M-Bus objects (0-n:, n = channel), keyed by "C.D.E" ------------------------------------------


_MBusHandler = Callable[[dict[str, object], list[str], tzinfo], None]


def _mbus_value(corrected: bool) -> _MBusHandler:
    def handle(d: dict[str, object], v: list[str], zone: tzinfo) -> None:
        if len(v) != 2:
            raise ValueError(f"expected (capture time)(value), found {len(v)} values")
        when = timestamp(v[0], zone)
        d["capture_time"] = when
        d["temperature_corrected"] = corrected
        raw = v[1]
        if when is None and (not raw or float(number(raw.partition("*")[0])) == 0.0):
            d["value"] = None  # the meter has not heard from the device yet
            return
        if not raw:
            return
        value, unit = measure(raw)
        d["value"] = value
        if unit:
            d["unit"] = unit

    return handle


def _mbus_dsmr3(d: dict[str, object], v: list[str], zone: tzinfo) -> None:
    # DSMR 2.2/3.0: (TST12)(00)(60)(1)(0-n:24.2.1)(m3) then (value) on the next line
    if len(v) != 7:
        raise ValueError(f"DSMR 3.0 gas object needs 7 values (the last on the next line), found {len(v)}")
    d["capture_time"] = timestamp(v[0], zone)
    d["capture_period_min"] = integer(v[2]) if v[2] else None
    d["unit"] = v[5] or None
    d["value"] = float(number(v[6])) if v[6] else None
    d["temperature_corrected"] = True


def _mbus_text(key: str) -> _MBusHandler:
    def handle(d: dict[str, object], v: list[str], zone: tzinfo) -> None:
        value = _one(v)
        if value:
            d[key] = octet_string(value)

    return handle


def _mbus_type(d: dict[str, object], v: list[str], zone: tzinfo) -> None:
    value = _one(v)
    if value:
        d["device_type"] = integer(value)


def _mbus_state(key: str) -> _MBusHandler:
    def handle(d: dict[str, object], v: list[str], zone: tzinfo) -> None:
        d[key] = _breaker_state(_one(v))

    return handle


MBUS: dict[str, _MBusHandler] = {
    "24.1.0": _mbus_type,
    "96.1.0": _mbus_text("equipment_id"),
    "96.1.1": _mbus_text("equipment_id_2"),
    "96.1.2": _mbus_text("access_point_id"),
    "24.2.1": _mbus_value(True),
    "24.2.3": _mbus_value(False),
    "24.3.0": _mbus_dsmr3,
    "24.4.0": _mbus_state("valve_state"),
    "96.3.10": _mbus_state("breaker_state"),
}


# --- the decoder ---------------------------------------------------------------------------------


def _numeric(b: _Builder, spec: _NumSpec, inner: str, checked: bool) -> None:
    """Store numeric electricity object `inner` (`000015.758*kWh`) where `spec` says.

    `checked`: the CRC was verified, so the digits need no validation; otherwise a regex makes
    sure `float()` never accepts a transmission error such as `1e5` or ` 12`.
    """
    where, key, units = spec
    num, _, unit = inner.partition("*")
    exp = units.get(unit)
    if exp is None:
        exp = units.get(unit.lower())
        if exp is None:
            raise ValueError(f"unit {unit!r} does not fit this object")
    if not checked and NUMBER.match(num) is None:
        raise ValueError(f"not a number: {num!r}")
    if exp == 0:
        x = float(num)
    elif exp == 3 and len(num) > 4 and num[-4] == ".":
        x = float(num[:-4] + num[-3:])  # kW with 3 decimals: the digits are the watts
    else:
        x = scaled(num, exp)
    if where < 4:
        b.registers[where][key] = x  # type: ignore[index]
        if where == 0 and key == 0:
            b.import_unit = unit
    elif where == 4:
        setattr(b, key, x)  # type: ignore[arg-type]
    else:
        b.ph[where - 5][key] = x  # type: ignore[index]


def _dispatch(b: _Builder, code: str, inner: str, checked: bool) -> bool:
    """Decode object `code` with value text `inner`; False when it is not one we interpret."""
    if code[0] == "1" and code[1] == "-" and code[3] == ":" and code[2] in "01":
        # B = 1: measurement channel 1, used instead of 0 by e.g. Sagemcom XT211 and Swiss 5S
        cde = code[4:]
        spec = NUMERIC.get(cde)
        if spec is not None and ")(" not in inner:
            _numeric(b, spec, inner, checked)
            return True
        eh = ELECTRICITY.get(cde)
        if eh is not None:
            eh(b, inner.split(")("))
            return True
    else:
        ah = ABSTRACT.get(code)
        if ah is not None:
            ah(b, inner.split(")("))
            return True
        if code[0] == "0" and code[1] == "-" and code[3] == ":" and "1" <= code[2] <= "9":
            mh = MBUS.get(code[4:])
            if mh is not None:
                channel = int(code[2])
                d = b.mbus.get(channel)
                if d is None:
                    d = b.mbus[channel] = {}
                mh(d, inner.split(")("), b.zone)
                return True
    return False


def _normalise(code: str) -> str:
    """Drop value group F: `1-0:1.8.0*255` and `1-0:31.7.0.255` become `1-0:1.8.0`, `1-0:31.7.0`."""
    star = code.find("*")
    if star >= 0:
        return code[:star]
    if code.count(".") == 3:
        return code[: code.rfind(".")]
    return code


def decode(
    data: bytes | bytearray | memoryview,
    *,
    check_crc: bool = True,
    lenient: bool | None = None,
    zone: tzinfo = DEFAULT_ZONE,
) -> MeterReading:
    """Decode one telegram (`/` .. `!CRC`); bytes before `/` and after the CRC are ignored.

    `check_crc`: validate CRC-16/ARC when the telegram carries one (DSMR 4+); DSMR 2.2/3.0
    telegrams carry none and are accepted.

    `lenient`: what to do with an object that is malformed (bad OBIS code, a value that does not
    fit its format, an impossible date): True keeps it as `RawObject` in `other` and decodes the
    rest; False raises `P1SyntaxError` naming line and column. The default (None) is lenient
    exactly when a CRC was present and verified: then the oddity is the meter's own (the DSMR 4.2.2
    specification example has `1-0:72:32.0`, anonymised captures have `250000000000W`), not a
    transmission error, and rejecting the telegram would lose good data. Lenient decoding also
    accepts a telegram whose end '!' is missing at the end of `data` (captures cut at the end).
    Raises only `P1Error` subclasses.
    """
    data = bytes(data)
    start = data.find(b"/")
    if start < 0:
        raise P1TruncatedError("no telegram header: '/' not found", offset=0)
    end = data.find(b"!", start)
    if end < 0:
        if not lenient:
            raise P1TruncatedError(f"telegram starting at byte {start} has no end '!'", offset=len(data))
        end = len(data.rstrip())
    crc = _read_crc(data, end)
    verified = False
    if crc is not None and check_crc:
        computed = crc16_arc(data[start : end + 1])
        if computed != crc:
            _check_embedded_header(data, start, end)  # the more telling error, when it is one
            raise P1CrcError(computed, crc, offset=end + 1)
        verified = True
        if lenient is None:
            lenient = True
    else:
        _check_embedded_header(data, start, end)
    text = data[start + 1 : end].decode("latin-1")
    if not text.isascii():
        _raise_non_ascii(text, start)
    reading = _decode_text(text, crc, bool(lenient), zone, verified)
    if crc is None and check_crc and reading.p1_version is not None and reading.p1_version[:1] in "45":
        raise P1CrcError(
            None,
            None,
            offset=end + 1,
            message=f"CRC missing after '!': a P1 version {reading.p1_version} telegram carries a"
            " CRC-16 (DSMR 4.0 §5.4, DSMR 5.0.2 §6.2); the telegram may be cut short",
        )
    return reading


def _check_embedded_header(data: bytes, start: int, end: int) -> None:
    """Another header inside the telegram: it was cut short and the next one began."""
    match = EMBEDDED_HEADER.search(data, start + 1, end) or LIKELY_HEADER.search(data, start + 1, end)
    if match is not None:
        at = match.start()
        line = data.count(b"\n", start, at) + 1
        raise P1TruncatedError(
            f"telegram cut short: a new header starts at line {line} (byte {at})", offset=at
        )


def _read_crc(data: bytes, end: int) -> int | None:
    """The CRC after '!': 4 hex digits, or 3 (an NWA heat meter), or none (DSMR 2.2/3.0)."""
    digits = data[end + 1 : end + 5]
    n = 0
    for ch in digits:
        if ch not in b"0123456789ABCDEFabcdef":
            break
        n += 1
    if n == 4 or (n == 3 and (len(digits) == 3 or digits[3] in b"\r\n")):
        return int(digits[:n], 16)
    if n == 0:
        return None
    raise P1SyntaxError(
        "CRC after '!' must be 4 hex digits",
        line=data.count(b"\n", 0, end) + 1,
        column=1,
        text=data[end : end + 6].decode("latin-1"),
        offset=end + 1,
    )


def _raise_non_ascii(text: str, start: int) -> None:
    for i, ch in enumerate(text):
        if ord(ch) > 127:
            line = text.count("\n", 0, i) + 1
            col = i - text.rfind("\n", 0, i)
            line_text = text.splitlines()[line - 1] if text.splitlines() else text
            raise P1SyntaxError(
                f"non-ASCII byte 0x{ord(ch):02X}",
                line=line,
                column=col,
                text=line_text,
                offset=start + 1 + i,
            )


def _decode_text(text: str, crc: int | None, lenient: bool, zone: tzinfo, checked: bool) -> MeterReading:
    # one split; real telegrams end every line with CR LF (DSMR 5.0.2 §6.2), others LF only
    if text.count("\n") == text.count("\r\n"):
        lines = text.split("\r\n")
    else:
        lines = [ln[:-1] if ln[-1:] == "\r" else ln for ln in text.split("\n")]
    if not lines[0]:
        raise P1SyntaxError(
            "empty header: a telegram starts with '/XXX5' and the meter identification (DSMR 5.0.2 §6.2)",
            line=1,
            column=2,
            text="/",
        )
    b = _Builder(lines[0], zone)
    b.crc = crc
    # Fast path: one regex pass in C yields (code, values) for every line; taken when every
    # non-blank line matched. Otherwise (DSMR 3.0 continuation lines, a malformed line) the
    # line-by-line path finds and names the offending line.
    pairs: list[tuple[str, str]] = _LINE.findall(text, len(lines[0]))
    linenos: list[int] | None = None
    if len(pairs) != len(lines) - 1 - lines.count(""):
        pairs, linenos = _split_lines(b, lines, lenient)
    numeric = NUMERIC_FULL
    for k, (code, inner) in enumerate(pairs):
        try:
            # hot path: numeric electricity objects, most lines of a telegram
            spec = numeric.get(code)
            if spec is not None and ")(" not in inner:
                _numeric(b, spec, inner, checked)
                continue
            if _dispatch(b, code, inner, checked):
                continue
            norm = _normalise(code)
            if norm != code:
                b.f_group = True
                if _dispatch(b, norm, inner, checked):
                    continue
        except (ValueError, IndexError, KeyError, OverflowError) as exc:
            if lenient:
                b.other.append(RawObject(_normalise(code), tuple(inner.split(")("))))
                continue
            line_no, line = _locate(lines, linenos, k)
            raise P1SyntaxError(
                str(exc) or "bad value", line=line_no, column=len(code) + 2, text=line
            ) from None
        if _OBIS.match(norm) is None:
            if lenient:
                b.other.append(RawObject(code, tuple(inner.split(")("))))
                continue
            line_no, line = _locate(lines, linenos, k)
            raise P1SyntaxError("malformed OBIS code", line=line_no, column=1, text=line)
        b.other.append(RawObject(norm, tuple(inner.split(")("))))
    return _finish(b)


def _split_lines(b: _Builder, lines: list[str], lenient: bool) -> tuple[list[tuple[str, str]], list[int]]:
    """Line-by-line split into (code, values), joining DSMR 2.2/3.0 continuation lines.

    Returns the pairs and the 1-based line number of each. Malformed lines raise P1SyntaxError,
    or are kept raw in `b.other` when lenient.
    """
    pairs: list[tuple[str, str]] = []
    linenos: list[int] = []
    count = len(lines)
    i = 1
    while i < count:
        line = lines[i]
        i += 1
        if not line:
            continue
        first = i
        # DSMR 2.2/3.0 put the gas value on the next line, starting with '('
        while i < count and lines[i].startswith("("):
            line += lines[i]
            i += 1
        p = line.find("(")
        if p <= 0 or line[-1] != ")":
            if lenient:
                b.other.append(RawObject(line, ()))
                continue
            reason = "expected OBIS(value)" if p <= 0 else "line must end with ')'"
            raise P1SyntaxError(reason, line=first, column=max(p, 0) + 1, text=line)
        pairs.append((line[:p], line[p + 1 : -1]))
        linenos.append(first)
    return pairs, linenos


def _locate(lines: list[str], linenos: list[int] | None, k: int) -> tuple[int, str]:
    """Line number and text of the k-th object (for error messages only)."""
    if linenos is not None:
        n = linenos[k]
        return n, lines[n - 1]
    seen = -1
    for n, line in enumerate(lines[1:], start=2):
        if line:
            seen += 1
            if seen == k:
                return n, line
    return len(lines), lines[-1]


def _finish(b: _Builder) -> MeterReading:
    variant = variants.detect(
        header=b.header,
        version_dsmr=b.version_dsmr,
        version_emucs=b.version_emucs,
        has_crc=b.crc is not None,
        has_logical_name=b.meter_id_42 is not None,
        import_unit=b.import_unit,
        has_total_register=0 in b.registers[0],
        has_tariff_registers=1 in b.registers[0],
        limiter_unit=b.limiter.unit if b.limiter is not None else None,
        meter_id=b.meter_id,
        f_group=b.f_group,
    )
    phases = tuple(
        PhaseReading(phase=n + 1, **d)  # type: ignore[arg-type]
        for n, d in enumerate(b.ph)
        if d
    )
    mbus = tuple(
        MBusDevice(channel=ch, **d)  # type: ignore[arg-type]
        for ch, d in sorted(b.mbus.items())
    )
    reg = b.registers
    return MeterReading(
        variant=variant,
        header=b.header,
        timestamp=b.timestamp,
        meter_id=b.meter_id if b.meter_id is not None else b.meter_id_42,
        access_point_id=b.access_point_id,
        p1_version=b.version_emucs or b.version_dsmr,
        tariff=b.tariff,
        tariff_period=variants.tariff_period(variant, b.tariff),
        energy_import_kwh=reg[0],
        energy_export_kwh=reg[1],
        reactive_energy_import_kvarh=reg[2],
        reactive_energy_export_kvarh=reg[3],
        power_import_w=b.power_import_w,
        power_export_w=b.power_export_w,
        reactive_power_import_var=b.reactive_power_import_var,
        reactive_power_export_var=b.reactive_power_export_var,
        apparent_power_import_va=b.apparent_power_import_va,
        apparent_power_export_va=b.apparent_power_export_va,
        power_factor=b.power_factor,
        frequency_hz=b.frequency_hz,
        phases=phases,
        power_failures=b.power_failures,
        long_power_failures=b.long_power_failures,
        power_failure_log=b.power_failure_log,
        text_message=b.text_message,
        message_code=b.message_code,
        breaker_state=b.breaker,
        limiter_threshold=b.limiter,
        current_average_demand_w=b.current_average_demand_w,
        current_average_demand_export_w=b.current_average_demand_export_w,
        month_peak=b.month_peak,
        peak_history=b.peak_history,
        mbus=mbus,
        other=tuple(b.other),
        crc=b.crc,
    )


__all__ = ["EMBEDDED_HEADER", "HEADER", "LIKELY_HEADER", "decode"]
