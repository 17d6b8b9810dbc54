"""Differential test: gridedge's P1 decoder against node-dsmr-parser (athombv), a second, independent oracle.

`corpus/p1/athombv_node-dsmr-parser/expected/*.json` is that parser's decoded result for each telegram
of the folder. Every leaf value of every JSON file is compared with what gridedge decodes from the
telegram (check_crc=False, lenient=True: many of these telegrams carry a wrong CRC on purpose). A JSON
path without a rule in `RULES` fails the test unless `NOT_COMPARED` says why it cannot be compared.

How node-dsmr-parser represents values (read from the JSON files themselves):
* energy in Wh (`123456.789*kWh` -> 123456789), power in W, voltage V, current A, as JS numbers;
* timestamps: the wall-clock digits with a `Z` appended (`101209113020W` -> `2010-12-09T11:30:20.000Z`),
  the DST letter ignored, so not the UTC instant; impossible dates roll over like JS `Date.UTC`;
* octet strings (equipment ids, text message) kept as the hex digits sent; the access point id
  (`0-0:96.1.2`, "serialNumber") and the Luxembourg `0-0:42.0.0` ("cosem.id") decoded to text;
* the message code `0-0:96.13.1` read as a decimal number from its hex digits (0 when empty).
Every difference is an explicit, asserted quirk (`_quirk`); docs/dsmr-parser-differences.md explains them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from p1_support import crc_valid

from gridedge.model.reading import MBusDevice, MeterReading, PhaseReading, RawObject
from gridedge.ports.p1 import P1CrcError, decode

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
assert CORPUS.is_dir(), f"corpus not found at {CORPUS}"
NODE = CORPUS / "p1" / "athombv_node-dsmr-parser"
EXPECTED = sorted((NODE / "expected").glob("*.json"))


def _id(p: Path) -> str:
    return p.stem


# --- the comparison log ------------------------------------------------------------------------------


@dataclass
class Log:
    where: str
    compared: list[str] = field(default_factory=list)
    quirks: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    def same(self, path: str, theirs: object, ours: object, equal: bool | None = None) -> None:
        self.compared.append(path)
        if not (theirs == ours if equal is None else equal):
            self.mismatches.append(f"{self.where}: {path}: node {theirs!r} != gridedge {ours!r}")

    def quirk(self, path: str, name: str, holds: bool, detail: str) -> None:
        """A known node-dsmr-parser difference: `holds` asserts node's value and gridedge's."""
        self.compared.append(path)
        self.quirks.append(name)
        if not holds:
            self.mismatches.append(f"{self.where}: {path}: quirk {name!r} no longer as documented: {detail}")


# --- conversions -------------------------------------------------------------------------------------


def _dec(x: float | int | None) -> Decimal | None:
    return None if x is None else Decimal(repr(x))


def _wh(kwh: float | None) -> Decimal | None:
    """gridedge's kWh as node's Wh, exactly."""
    return None if kwh is None else Decimal(repr(kwh)) * 1000


def _wall_clock(t: datetime | None) -> str | None:
    """gridedge's aware time the way node writes it: the meter's wall-clock digits with a 'Z'."""
    return None if t is None else t.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _js_date_utc(digits: str) -> str:
    """What JS `Date.UTC(2000 + YY, MM - 1, DD, hh, mm, ss)` makes of impossible digits (it rolls over)."""
    y, mo, d, h, mi, s = (int(digits[i : i + 2]) for i in range(0, 12, 2))
    months = 2000 * 12 + y * 12 + mo - 1
    start = datetime(months // 12, months % 12 + 1, 1)
    t = start + timedelta(days=d - 1, hours=h, minutes=mi, seconds=s)
    return t.isoformat(timespec="milliseconds") + "Z"


def _octets_match(sent: str, decoded: str | None) -> bool:
    """node keeps an octet string as hex; gridedge decodes it when it is text (re-encode to compare)."""
    if decoded is None:
        return False
    return decoded == sent or decoded.encode("utf-8").hex().upper() == sent.upper()


def _raw(r: MeterReading, obis: str) -> RawObject | None:
    return next((o for o in r.other if o.obis == obis), None)


def _phase(r: MeterReading, line: str) -> PhaseReading | None:
    return r.phase(int(line[1]))


def _device(r: MeterReading, channel: str) -> MBusDevice | None:
    return next((d for d in r.mbus if d.channel == int(channel)), None)


# --- one rule per JSON path ----------------------------------------------------------------------------


@dataclass
class Ctx:
    log: Log
    reading: MeterReading
    data: bytes
    text: str


Rule = Callable[[Ctx, str, "re.Match[str]", Any], None]
RULES: list[tuple[re.Pattern[str], Rule]] = []


def rule(pattern: str) -> Callable[[Rule], Rule]:
    def register(f: Rule) -> Rule:
        RULES.append((re.compile(pattern + r"\Z"), f))
        return f

    return register


@rule(r"dsmr\.header\.(xxx|z|identifier)")
def _header(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    # node splits the header line into manufacturer flag, baud character and identification
    h = c.reading.header
    ours = {"xxx": h[:3], "z": h[3:4], "identifier": h[4:]}[m[1]]
    c.log.same(path, v, ours)


@rule(r"dsmr\.crc\.value")
def _crc_value(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    c.log.same(path, v, c.reading.crc)


@rule(r"dsmr\.crc\.valid|crcValid")
def _crc_verdict(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    own = crc_valid(c.data)
    c.log.same(path, v, own)
    # and gridedge's decoder agrees: it rejects exactly the telegrams whose CRC is wrong
    try:
        decode(c.data, check_crc=True, lenient=True)
        rejected = False
    except P1CrcError:
        rejected = True
    c.log.same(f"{path}(decode)", v, not rejected)


@rule(r"dsmr\.unknownLines\[(\d+)\]")
def _unknown_line(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    # lines node could not place: the DSMR 2.2/3.0 gas value on the line after 0-n:24.3.0, which
    # gridedge joins to that object, or a malformed OBIS line, which gridedge keeps as a RawObject
    if v.startswith("("):
        values = [d.value for d in c.reading.mbus]
        c.log.same(path, Decimal(v[1:-1]), values, Decimal(v[1:-1]) in [_dec(x) for x in values])
    else:
        code, _, rest = v.partition("(")
        raw = _raw(c.reading, code)
        c.log.same(path, v, raw, raw is not None and "(" + ")(".join(raw.values) + ")" == "(" + rest)


@rule(r"cosem\.id")
def _cosem_id(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    c.log.same(path, v, c.reading.meter_id)  # 0-0:42.0.0, decoded by both


@rule(r"metadata\.dsmrVersion")
def _version(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    ours = c.reading.p1_version
    c.log.same(path, v, ours, ours is not None and Decimal(ours) / 10 == _dec(v))


@rule(r"metadata\.timestamp")
def _timestamp(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    ours = c.reading.timestamp
    if ours is None:
        # an impossible date (`0-0:1.0.0(123412341234W)`, `(250000000000W)`): gridedge has no timestamp
        # and keeps the object raw; node rolls the digits over into some date
        raw = _raw(c.reading, "0-0:1.0.0")
        digits = raw.values[0][:12] if raw is not None else ""
        holds = raw is not None and v == _js_date_utc(digits)
        c.log.quirk(path, "impossible date rolled over", holds, f"node {v}, gridedge raw {raw}")
        return
    c.log.same(path, v, _wall_clock(ours))


@rule(r"metadata\.equipmentId")
def _equipment_id(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    c.log.same(path, v, c.reading.meter_id, _octets_match(v, c.reading.meter_id))


@rule(r"metadata\.serialNumber")
def _serial(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    c.log.same(path, v, c.reading.access_point_id)  # 0-0:96.1.2, decoded by both


@rule(r"metadata\.textMessage")
def _text(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    c.log.same(path, v, c.reading.text_message, _octets_match(v, c.reading.text_message))


@rule(r"metadata\.numericMessage")
def _message_code(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    ours = c.reading.message_code
    if ours is None:
        # `0-0:96.13.1()`: no message code; node says 0
        c.log.quirk(path, "empty message code is 0", v == 0, f"node {v}")
        return
    # node reads the octet string's hex digits as a decimal number (a JS double)
    digits = int(ours.encode("utf-8").hex())
    if digits > 2**53:
        c.log.quirk(path, "message code beyond 2**53", v != digits and float(v) == float(digits), f"{v}")
        return
    c.log.same(path, v, ours, v == digits)


_EVENTS = {"powerFailures": "power_failures", "longPowerFailures": "long_power_failures"}


@rule(r"metadata\.events\.(powerFailures|longPowerFailures)")
def _events(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    c.log.same(path, v, getattr(c.reading, _EVENTS[m[1]]))


@rule(r"metadata\.events\.(voltageSags|voltageSwells)\.(l[123])")
def _sags(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    p = _phase(c.reading, m[2])
    attr = "voltage_sags" if m[1] == "voltageSags" else "voltage_swells"
    c.log.same(path, v, None if p is None else getattr(p, attr))


@rule(r"electricity\.(tariffs\.(\d)|total)\.(received|returned)")
def _energy(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    registers = c.reading.energy_import_kwh if m[3] == "received" else c.reading.energy_export_kwh
    tariff = 0 if m[1] == "total" else int(m[2])
    c.log.same(path, _dec(v), _wh(registers.get(tariff)))  # node Wh, gridedge kWh


@rule(r"electricity\.currentTariff")
def _tariff(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    c.log.same(path, v, c.reading.tariff)


@rule(r"electricity\.power(Received|Returned)Total")
def _power(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    ours = c.reading.power_import_w if m[1] == "Received" else c.reading.power_export_w
    c.log.same(path, _dec(v), _dec(ours))  # both W


_PHASE_ATTR = {
    "voltage": "voltage_v",
    "current": "current_a",
    "powerReceived": "power_import_w",
    "powerReturned": "power_export_w",
}


@rule(r"electricity\.(voltage|current|powerReceived|powerReturned)\.(l[123])")
def _phase_value(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    p = _phase(c.reading, m[2])
    c.log.same(path, _dec(v), None if p is None else _dec(getattr(p, _PHASE_ATTR[m[1]])))


@rule(r"mBus\.(\d)\.deviceType")
def _device_type(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    d = _device(c.reading, m[1])
    c.log.same(path, v, None if d is None else d.device_type)


@rule(r"mBus\.(\d)\.equipmentId")
def _device_id(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    d = _device(c.reading, m[1])
    ours = None if d is None else d.equipment_id
    if v == "":
        # `0-2:96.1.0()`: node "", gridedge None (an empty value group is "no value")
        c.log.quirk(path, "empty M-Bus id is ''", d is not None and ours is None, f"gridedge {ours!r}")
        return
    c.log.same(path, v, ours, _octets_match(v, ours))


@rule(r"mBus\.(\d)\.timestamp")
def _device_time(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    d = _device(c.reading, m[1])
    c.log.same(path, v, None if d is None else _wall_clock(d.capture_time))


@rule(r"mBus\.(\d)\.value")
def _device_value(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    d = _device(c.reading, m[1])
    c.log.same(path, _dec(v), None if d is None else _dec(d.value))


@rule(r"mBus\.(\d)\.unit")
def _device_unit(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    d = _device(c.reading, m[1])
    c.log.same(path, v, None if d is None else d.unit)


@rule(r"mBus\.(\d)\.recordingPeriodMinutes")
def _device_period(c: Ctx, path: str, m: re.Match[str], v: Any) -> None:
    # DSMR 2.2/3.0 `0-n:24.3.0(TST)(00)(60)(1)(0-n:24.2.1)(m3)`: the (60)
    d = _device(c.reading, m[1])
    c.log.same(path, v, None if d is None else d.capture_period_min)


# JSON paths deliberately not compared, with the reason
NOT_COMPARED: dict[str, str] = {
    # node's bookkeeping of which lines it interprets itself: no meter value, and node's split is not
    # gridedge's (node lists e.g. 0-0:96.3.10 and 1-0:1.4.0 as unknown; gridedge decodes them)
    r"cosem\.knownObjects\[\d+\]": "node's own classification of the lines, not a value",
    r"cosem\.unknownObjects\[\d+\]": "node's own classification of the lines, not a value",
}
_NOT_COMPARED = [re.compile(p + r"\Z") for p in NOT_COMPARED]


def _leaves(o: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(o, dict):
        return [leaf for k, v in o.items() for leaf in _leaves(v, f"{path}.{k}" if path else k)]
    if isinstance(o, list):
        return [leaf for i, v in enumerate(o) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, o)]


# --- the tests ---------------------------------------------------------------------------------------------


def test_every_node_result_has_its_telegram() -> None:
    assert len(EXPECTED) >= 23
    for p in EXPECTED:
        assert (NODE / f"{p.stem}.txt").is_file(), p.name


@pytest.mark.parametrize("path", EXPECTED, ids=_id)
def test_same_values_as_node_dsmr_parser(path: Path) -> None:
    expected = json.loads(path.read_text())
    data = (NODE / f"{path.stem}.txt").read_bytes()
    reading = decode(data, check_crc=False, lenient=True)
    c = Ctx(Log(path.stem), reading, data, data.decode("ascii"))
    skipped = 0
    for leaf, value in _leaves(expected):
        for pattern, compare in RULES:
            m = pattern.match(leaf)
            if m is not None:
                compare(c, leaf, m, value)
                break
        else:
            assert any(p.match(leaf) for p in _NOT_COMPARED), f"{path.stem}: no rule for {leaf} = {value!r}"
            skipped += 1
    # a telegram without CRC: node has no crc entry, gridedge no crc
    if "crc" not in expected["dsmr"]:
        c.log.same("dsmr.crc (absent)", None, reading.crc)
    assert not c.log.mismatches, "\n".join(c.log.mismatches)
    # every value node gives was compared, and that is a good many per telegram
    assert len(c.log.compared) >= 10, f"only {len(c.log.compared)} values compared"
    assert len(c.log.compared) + skipped >= len(_leaves(expected))
