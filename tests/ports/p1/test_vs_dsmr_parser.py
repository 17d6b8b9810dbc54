"""Differential test: gridedge's P1 decoder against dsmr-parser (ndokter/dsmr_parser), the reference parser.

Every corpus telegram is parsed by both. Every object dsmr-parser decodes is compared with the field
gridedge exposes for it (`DSMR_FIELDS` / `MBUS_FIELDS`), after converting dsmr-parser's value into
gridedge's canonical unit exactly (Decimal arithmetic: `01.193*kW` is 1193 W, never 1193.0000000002).
An object dsmr-parser decodes that has no entry in those tables fails the test, unless it is listed in
`NOT_COMPARED` with the reason. Where the two disagree, the disagreement is an explicit, asserted
exception: the test checks that dsmr-parser still has its value and gridedge the right one, and that
each known difference occurs exactly where the telegram text predicts it (`_expected_known`), so a fix
on either side is noticed. The differences are explained in `docs/dsmr-parser-differences.md`.

How dsmr-parser 1.11.2 represents values (read from its source, `dsmr_parser/value_types.py`,
`parsers.py`, `objects.py`):
* numbers are `Decimal` in the unit the telegram gives (`kW`, `W`, `Wh`, `kvarh`, ...), with the unit
  string alongside; empty value groups `()` become None;
* timestamps are localised in Europe/Amsterdam (whatever the meter's country) and converted to UTC; the
  DST letter is only used to pick the fold in the repeated October hour; the two-digit year goes through
  `strptime('%y')`, so `70`..`99` are 1970..1999; an impossible date (`632525252525W`, month 00) is None;
* octet strings (equipment identifiers, text messages) are kept as the hex digits sent; message codes
  (0-0:96.13.1) are those hex digits read as a decimal integer;
* every object is found with a regular expression over the whole telegram; when a pattern matches
  several lines the telegram attribute keeps the last match (M-Bus lines are also grouped per channel).
"""

from __future__ import annotations

import copy
import functools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dsmr_parser import telegram_specifications
from dsmr_parser.objects import DSMRObject, MbusDevice, Telegram
from dsmr_parser.parsers import TelegramParser
from p1_support import crc_valid

from gridedge.model.reading import BreakerState, MBusDevice, MeterReading, RawObject
from gridedge.ports.p1 import P1CrcError, P1Error, decode
from gridedge.ports.p1.framer import TelegramFramer

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
assert CORPUS.is_dir(), f"corpus not found at {CORPUS}"
P1 = CORPUS / "p1"
STREAM = P1 / "nielsbasjes_dsmr-tools" / "stream" / "ttyUSB0-raw.crlf.txt"
assert STREAM.is_file(), f"raw stream capture not found at {STREAM}"

FILES = sorted(
    p for p in P1.rglob("*.txt") if not {"bad", "encrypted", "expected"} & set(p.relative_to(P1).parts)
)


def _id(p: Path) -> str:
    return str(p.relative_to(P1))


# --- which dsmr-parser specification reads which file ---------------------------------------------
# dsmr-parser cannot detect the dialect; its own tests name one specification per example telegram
# (test_parse_v2_2.py -> V2_2, test_parse_fluvius.py -> BELGIUM_FLUVIUS, ...). Same here, per file.
# "SAGEMCOM_T210_D_R" and "MSN" are used with `general_global_cipher` off: the corpus holds the
# decrypted text of these (DLMS-encrypted) telegrams. MSN is the Luxembourg Smarty specification with
# the full object table of the Luxmetering P1 specification (a superset of LUXEMBOURG_SMARTY).
SPEC_OF: dict[str, str] = {
    "Wassasin_dsmr5/isk.txt": "V5",
    "Wassasin_dsmr5/kaifa.txt": "V4",
    "Wassasin_dsmr5/mcs.txt": "V5",
    "Wassasin_dsmr5/t211.txt": "V5",
    "athombv_node-dsmr-parser/dsmr-2.2-kfm-1.txt": "V2_2",
    "athombv_node-dsmr-parser/dsmr-3.0-spec-example.txt": "V3",
    "athombv_node-dsmr-parser/dsmr-4.0-isk-1.txt": "V4",
    "athombv_node-dsmr-parser/dsmr-4.0-isk-2.txt": "V4",
    "athombv_node-dsmr-parser/dsmr-4.0-spec-example.txt": "V4",
    "athombv_node-dsmr-parser/dsmr-4.2-kfm-1.txt": "V4",
    "athombv_node-dsmr-parser/dsmr-4.2-xmx-1.txt": "V4",
    "athombv_node-dsmr-parser/dsmr-4.2.2-spec-example.txt": "V4",
    "athombv_node-dsmr-parser/dsmr-5.0-ene-1.txt": "V5",
    "athombv_node-dsmr-parser/dsmr-5.0-ene-2.txt": "V5",
    "athombv_node-dsmr-parser/dsmr-5.0-ene-3.txt": "V5",
    "athombv_node-dsmr-parser/dsmr-5.0-est-units.txt": "SAGEMCOM_T210_D_R",
    "athombv_node-dsmr-parser/dsmr-5.0-isk-1.txt": "V5",
    "athombv_node-dsmr-parser/dsmr-5.0-spec-example-lowercase.txt": "V5",
    "athombv_node-dsmr-parser/dsmr-5.0-spec-example.txt": "V5",
    "athombv_node-dsmr-parser/dsmr-luxembourgh-spec-example.txt": "MSN",
    "athombv_node-dsmr-parser/emucs-p1-v2.1.1-spec-example-1.txt": "BELGIUM_FLUVIUS",
    "athombv_node-dsmr-parser/emucs-p1-v2.1.1-spec-example-2.txt": "BELGIUM_FLUVIUS",
    "athombv_node-dsmr-parser/iskra-mt-382-no-crc-with-text-message.txt": "V2_2",
    "athombv_node-dsmr-parser/iskra-mt-382-no-crc.txt": "V2_2",
    "athombv_node-dsmr-parser/kamstrup-OMNIA-e-meter-three-phase.txt": "SWEDEN",
    # Sagemcom XT211 (ESO Lithuania style, `1-1:` registers, count-only 0-0:98.1.0): dsmr-parser 1.11.2
    # has no specification for it and BELGIUM_FLUVIUS crashes on it (test_fluvius_spec_crashes_...).
    "athombv_node-dsmr-parser/sagemcom-xt211.txt": "V5",
    "athombv_node-dsmr-parser/unknown-xmx-1.txt": "V2_2",
    "ndokter_dsmr_parser/telegram_esy5q3da1004_v304.txt": "Q3D",
    "ndokter_dsmr_parser/telegram_esy5q3db1024_v304.txt": "Q3D",
    "ndokter_dsmr_parser/telegram_fluvius_v171.txt": "BELGIUM_FLUVIUS",
    "ndokter_dsmr_parser/telegram_fluvius_v171_alt.txt": "BELGIUM_FLUVIUS",
    "ndokter_dsmr_parser/telegram_iskra_ie.txt": "ISKRA_IE",
    "ndokter_dsmr_parser/telegram_sagemcom_t210_d_r.txt": "SAGEMCOM_T210_D_R",
    "ndokter_dsmr_parser/telegram_unpadded_crc.txt": "V5",
    "ndokter_dsmr_parser/telegram_v2_2.txt": "V2_2",
    "ndokter_dsmr_parser/telegram_v3.txt": "V3",
    "ndokter_dsmr_parser/telegram_v4_2.txt": "V4",
    "ndokter_dsmr_parser/telegram_v5.txt": "V5",
    "ndokter_dsmr_parser/telegram_v5_eon_hu.txt": "EON_HUNGARY",
    "ndokter_dsmr_parser/telegram_v5_two_mbus.txt": "V5",
    "nielsbasjes_dsmr-tools/CRCValidator_L37_ISK5_2M550T_1012.txt": "V5",
    "nielsbasjes_dsmr-tools/DsmrParser_L284_ISk5_2MT382_1000.txt": "V5",
    "nielsbasjes_dsmr-tools/PowerFailure_L35_ISK5_2M550T_1012.txt": "V5",
    "nielsbasjes_dsmr-tools/RealDSMR2_L102_ISk5_2MT382_1003.txt": "V2_2",
    "nielsbasjes_dsmr-tools/RealDSMR2_L161_XMX5XMXABCE100103855.txt": "V2_2",
    "nielsbasjes_dsmr-tools/RealDSMR2_L217_KMP5_ZABF001551772711.txt": "V2_2",
    "nielsbasjes_dsmr-tools/RealDSMR2_L273_KMP5_KA6U001660297912.txt": "V2_2",
    "nielsbasjes_dsmr-tools/RealDSMR2_L330_KMP5_ZABF001587315111.txt": "V2_2",
    "nielsbasjes_dsmr-tools/RealDSMR2_L43_ISk5_2MT382_1003.txt": "V2_2",
    "nielsbasjes_dsmr-tools/RealDSMR4_L136_XMX5LGBBFG1009089532.txt": "V4",
    "nielsbasjes_dsmr-tools/RealDSMR4_L232_KFM5KAIFA_METER.txt": "V4",
    "nielsbasjes_dsmr-tools/RealDSMR4_L46_XMX5LGBBFG1009325446.txt": "V4",
    "nielsbasjes_dsmr-tools/RealDSMR5_L136_Ene5_XS210_ESMR_5_0.txt": "V5",
    "nielsbasjes_dsmr-tools/RealDSMR5_L178_Ene5_SAGEMCOM_CX2000.txt": "V5",
    "nielsbasjes_dsmr-tools/RealDSMR5_L43_ISK5_2M550T_1012.txt": "V5",
    "nielsbasjes_dsmr-tools/Specification30_L43_ISk5_2MT382_1000.txt": "V3",
    "nielsbasjes_dsmr-tools/Specification42_L64_ISk5_2MT382_1000.txt": "V4",
    "nielsbasjes_dsmr-tools/Specification50_L67_ISk5_2MT382_1000.txt": "V5",
    "nielsbasjes_dsmr-tools/stream/ttyUSB0-raw.crlf.txt": "V5",
    "nielsbasjes_dsmr-tools/ttyUSB0_raw_ISK5_2M550T-1012_telegram000.txt": "V5",
    "nielsbasjes_dsmr-tools/ttyUSB0_raw_ISK5_2M550T-1012_telegram001.txt": "V5",
    "nielsbasjes_dsmr-tools/ttyUSB0_raw_ISK5_2M550T-1012_telegram002.txt": "V5",
}

_DECRYPTED = {"SAGEMCOM_T210_D_R", "MSN"}


@functools.cache
def _spec(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = getattr(telegram_specifications, name)
    if name in _DECRYPTED:
        spec = copy.deepcopy(spec)
        spec["general_global_cipher"] = False
    return spec


def _pattern(spec: str, name: str) -> str:
    """The regular expression with which specification `spec` finds object `name`."""
    return next(str(o["obis_reference"]) for o in _spec(spec)["objects"] if o["value_name"] == name)


@functools.cache
def _parser(name: str, checksum: bool) -> TelegramParser:
    return TelegramParser(_spec(name), apply_checksum_validation=checksum)


# --- CRC verdict, computed here (not by either parser) --------------------------------------------


def _gridedge(data: bytes, check_crc: bool) -> MeterReading:
    """Decode with the default leniency; lenient=True only for telegrams that need it."""
    try:
        return decode(data, check_crc=check_crc)
    except P1CrcError:
        raise
    except P1Error:
        # spec examples with typos (`1-0:72:32.0`, wrong CRC) and captures cut before their '!'
        return decode(data, check_crc=check_crc, lenient=True)


# --- value conversion: dsmr-parser value -> gridedge's canonical unit, exactly ----------------------

# quantity -> {unit (lower case, None = the unit of the DSMR format) -> factor to the canonical unit}
_SCALE: dict[str, dict[str | None, Decimal]] = {
    "energy": {"kwh": Decimal(1), "wh": Decimal("0.001"), None: Decimal(1)},
    "reactive_energy": {"kvarh": Decimal(1), "varh": Decimal("0.001"), None: Decimal(1)},
    "power": {"kw": Decimal(1000), "w": Decimal(1), None: Decimal(1000)},
    "reactive_power": {"kvar": Decimal(1000), "var": Decimal(1), None: Decimal(1000)},
    "apparent_power": {"kva": Decimal(1000), "va": Decimal(1), None: Decimal(1000)},
    "voltage": {"v": Decimal(1), None: Decimal(1)},
    "current": {"a": Decimal(1), None: Decimal(1)},
    "frequency": {"hz": Decimal(1), None: Decimal(1)},
    "ratio": {None: Decimal(1)},
}
_CANONICAL_UNIT = {"power": "W", "current": "A", "apparent_power": "VA"}
_LIMITER_QUANTITY = {"kw": "power", "a": "current", "kva": "apparent_power"}


def _canonical(value: Decimal | None, unit: str | None, quantity: str) -> Decimal | None:
    if value is None:
        return None
    scale = _SCALE[quantity]
    key = unit.lower() if unit else None
    assert key in scale, f"dsmr-parser unit {unit!r} is not a unit of {quantity}"
    return value * scale[key]


def _dec(x: float | None) -> Decimal | None:
    """gridedge's float as the decimal it stands for (repr is the shortest round-trip form)."""
    return None if x is None else Decimal(repr(x))


def _octets_match(sent: str | None, decoded: str | None) -> bool:
    """dsmr-parser keeps an octet string as hex digits; gridedge decodes it when it is text.

    Equal when gridedge kept the value as sent, or when gridedge's text, re-encoded, gives the hex.
    """
    if sent is None or decoded is None:
        return sent is None and decoded is None
    return decoded == sent or decoded.encode("utf-8").hex().upper() == sent.upper()


# --- the comparison log ------------------------------------------------------------------------------


@dataclass
class Log:
    """What one telegram's comparison did: fields compared, raw objects compared, disagreements."""

    where: str
    compared: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    objects: int = 0

    def same(self, label: str, theirs: object, ours: object, equal: bool | None = None) -> None:
        self.compared.append(label)
        if not (theirs == ours if equal is None else equal):
            self.mismatches.append(f"{self.where}: {label}: dsmr-parser {theirs!r} != gridedge {ours!r}")


# --- dsmr-parser object -> gridedge field ------------------------------------------------------------


def _phase(n: int, attr: str) -> Callable[[MeterReading], Any]:
    def get(r: MeterReading) -> Any:
        p = r.phase(n)
        return None if p is None else getattr(p, attr)

    return get


def _register(attr: str, key: int) -> Callable[[MeterReading], Any]:
    return lambda r: getattr(r, attr).get(key)


def _attr(attr: str) -> Callable[[MeterReading], Any]:
    return lambda r: getattr(r, attr)


@dataclass(frozen=True)
class Field:
    """How to compare one dsmr-parser object: `kind` says how its value is converted, `get` reads gridedge."""

    kind: str
    get: Callable[[MeterReading], Any] | str  # a str is the OBIS code of a RawObject in `reading.other`


DSMR_FIELDS: dict[str, Field] = {
    "P1_MESSAGE_HEADER": Field("version", _attr("p1_version")),  # 1-3:0.2.8, the DSMR version
    "BELGIUM_VERSION_INFORMATION": Field("version", _attr("p1_version")),  # 0-0:96.1.4
    "P1_MESSAGE_TIMESTAMP": Field("timestamp", _attr("timestamp")),
    "EQUIPMENT_IDENTIFIER": Field("octets", _attr("meter_id")),
    "BELGIUM_EQUIPMENT_IDENTIFIER": Field("octets", _attr("meter_id")),
    "LUXEMBOURG_EQUIPMENT_IDENTIFIER": Field("octets", _attr("meter_id")),  # 0-0:42.0.0
    "COSEM_LOGICAL_DEVICE_NAME": Field("octets", _attr("meter_id")),  # 0-0:42.0.0 (E.ON)
    "ELECTRICITY_ACTIVE_TARIFF": Field("tariff", _attr("tariff")),
    "ELECTRICITY_IMPORTED_TOTAL": Field("energy", _register("energy_import_kwh", 0)),
    "ELECTRICITY_EXPORTED_TOTAL": Field("energy", _register("energy_export_kwh", 0)),
    "ELECTRICITY_REACTIVE_IMPORTED_TOTAL": Field(
        "reactive_energy", _register("reactive_energy_import_kvarh", 0)
    ),
    "ELECTRICITY_REACTIVE_EXPORTED_TOTAL": Field(
        "reactive_energy", _register("reactive_energy_export_kvarh", 0)
    ),
    "CURRENT_ELECTRICITY_USAGE": Field("power", _attr("power_import_w")),
    "CURRENT_ELECTRICITY_DELIVERY": Field("power", _attr("power_export_w")),
    "CURRENT_REACTIVE_IMPORTED": Field("reactive_power", _attr("reactive_power_import_var")),
    "CURRENT_REACTIVE_EXPORTED": Field("reactive_power", _attr("reactive_power_export_var")),
    "MSN_INSTANTANEOUS_APPARENT_POWER_POSITIVE": Field("apparent_power", _attr("apparent_power_import_va")),
    "MSN_INSTANTANEOUS_APPARENT_POWER_NEGATIVE": Field("apparent_power", _attr("apparent_power_export_va")),
    "INSTANTANEOUS_POWER_FACTOR_TOTAL": Field("ratio", _attr("power_factor")),
    "FREQUENCY": Field("frequency", _attr("frequency_hz")),
    "SHORT_POWER_FAILURE_COUNT": Field("int", _attr("power_failures")),
    "LONG_POWER_FAILURE_COUNT": Field("int", _attr("long_power_failures")),
    "POWER_EVENT_FAILURE_LOG": Field("failure_log", _attr("power_failure_log")),
    "TEXT_MESSAGE": Field("octets", _attr("text_message")),
    "TEXT_MESSAGE_CODE": Field("code", _attr("message_code")),
    "ACTUAL_SWITCH_POSITION": Field("breaker", _attr("breaker_state")),
    "ACTUAL_TRESHOLD_ELECTRICITY": Field("limiter", _attr("limiter_threshold")),
    "BELGIUM_CURRENT_AVERAGE_DEMAND": Field("power", _attr("current_average_demand_w")),
    "BELGIUM_MAXIMUM_DEMAND_MONTH": Field("month_peak", _attr("month_peak")),
    "BELGIUM_MAXIMUM_DEMAND_13_MONTHS": Field("peak_history", _attr("peak_history")),
    # objects gridedge keeps as sent (RawObject in `other`): compared value by value with the raw text
    "EQUIPMENT_IDENTIFIER_GAS": Field("raw", "0-0:96.1.0"),  # on channel 0 (Iskra IE), not M-Bus
    "EQUIPMENT_SERIAL_NUMBER": Field("raw", "0-0:96.1.0"),  # E.ON
    "ELECTRICITY_REACTIVE_TOTAL_Q1": Field("raw", "1-0:5.8.0"),
    "ELECTRICITY_REACTIVE_TOTAL_Q2": Field("raw", "1-0:6.8.0"),
    "ELECTRICITY_REACTIVE_TOTAL_Q3": Field("raw", "1-0:7.8.0"),
    "ELECTRICITY_REACTIVE_TOTAL_Q4": Field("raw", "1-0:8.8.0"),
    "ELECTRICITY_COMBINED": Field("raw", "1-0:15.8.0"),
    "INSTANTANEOUS_REACTIVE_POWER_Q1": Field("raw", "1-0:5.7.0"),
    "INSTANTANEOUS_REACTIVE_POWER_Q2": Field("raw", "1-0:6.7.0"),
    "INSTANTANEOUS_REACTIVE_POWER_Q3": Field("raw", "1-0:7.7.0"),
    "INSTANTANEOUS_REACTIVE_POWER_Q4": Field("raw", "1-0:8.7.0"),
    "MSN_CT_RATIO": Field("raw", "1-1:31.4.0"),
    "MSN_TEXT_MESSAGE_2": Field("raw", "0-0:96.13.2"),
    "MSN_TEXT_MESSAGE_3": Field("raw", "0-0:96.13.3"),
    "MSN_TEXT_MESSAGE_4": Field("raw", "0-0:96.13.4"),
    "MSN_TEXT_MESSAGE_5": Field("raw", "0-0:96.13.5"),
    "Q3D_EQUIPMENT_IDENTIFIER": Field("raw", "1-0:0.0.0"),
    "Q3D_EQUIPMENT_STATE": Field("raw", "1-0:96.5.5"),
    "Q3D_EQUIPMENT_SERIALNUMBER": Field("raw", "0-0:96.1.255"),
}
for _t in range(1, 5):
    DSMR_FIELDS[f"ELECTRICITY_USED_TARIFF_{_t}"] = Field("energy", _register("energy_import_kwh", _t))
    DSMR_FIELDS[f"ELECTRICITY_DELIVERED_TARIFF_{_t}"] = Field("energy", _register("energy_export_kwh", _t))
for _t in (1, 2):
    DSMR_FIELDS[f"ELECTRICITY_REACTIVE_IMPORTED_TARIFF_{_t}"] = Field(
        "reactive_energy", _register("reactive_energy_import_kvarh", _t)
    )
    DSMR_FIELDS[f"ELECTRICITY_REACTIVE_EXPORTED_TARIFF_{_t}"] = Field(
        "reactive_energy", _register("reactive_energy_export_kvarh", _t)
    )
for _n in (1, 2, 3):
    DSMR_FIELDS[f"INSTANTANEOUS_VOLTAGE_L{_n}"] = Field("voltage", _phase(_n, "voltage_v"))
    DSMR_FIELDS[f"INSTANTANEOUS_CURRENT_L{_n}"] = Field("current", _phase(_n, "current_a"))
    DSMR_FIELDS[f"INSTANTANEOUS_ACTIVE_POWER_L{_n}_POSITIVE"] = Field("power", _phase(_n, "power_import_w"))
    DSMR_FIELDS[f"INSTANTANEOUS_ACTIVE_POWER_L{_n}_NEGATIVE"] = Field("power", _phase(_n, "power_export_w"))
    DSMR_FIELDS[f"INSTANTANEOUS_REACTIVE_POWER_L{_n}_POSITIVE"] = Field(
        "reactive_power", _phase(_n, "reactive_power_import_var")
    )
    DSMR_FIELDS[f"INSTANTANEOUS_REACTIVE_POWER_L{_n}_NEGATIVE"] = Field(
        "reactive_power", _phase(_n, "reactive_power_export_var")
    )
    DSMR_FIELDS[f"INSTANTANEOUS_POWER_FACTOR_L{_n}"] = Field("ratio", _phase(_n, "power_factor"))
    DSMR_FIELDS[f"VOLTAGE_SAG_L{_n}_COUNT"] = Field("int", _phase(_n, "voltage_sags"))
    DSMR_FIELDS[f"VOLTAGE_SWELL_L{_n}_COUNT"] = Field("int", _phase(_n, "voltage_swells"))
    DSMR_FIELDS[f"FUSE_THRESHOLD_L{_n}"] = Field("current", _phase(_n, "fuse_threshold_a"))


def _mbus_id(d: MBusDevice) -> str | None:
    # MBUS_EQUIPMENT_IDENTIFIER matches 0-n:96.1.0 (NL, "equipment identifier") and 0-n:96.1.1 (BE,
    # "M-Bus device ID 2"); no corpus device sends both, which would make dsmr-parser keep the last.
    return d.equipment_id if d.equipment_id is not None else d.equipment_id_2


# dsmr-parser names inside an M-Bus device (grouped by channel) -> gridedge's MBusDevice field
MBUS_FIELDS: dict[str, tuple[str, Callable[[MBusDevice], Any]]] = {
    "MBUS_DEVICE_TYPE": ("int", lambda d: d.device_type),
    "DEVICE_TYPE": ("int", lambda d: d.device_type),
    "MBUS_EQUIPMENT_IDENTIFIER": ("octets", _mbus_id),
    "EQUIPMENT_IDENTIFIER_GAS": ("octets", lambda d: d.equipment_id),  # 0-n:96.1.0
    "EQUIPMENT_IDENTIFIER": ("octets", lambda d: d.equipment_id_2),  # 0-n:96.1.1 (Iskra IE)
    "MBUS_METER_READING": ("mbus_value", lambda d: d),  # 0-n:24.2.1 / 24.2.3
    "HOURLY_GAS_METER_READING": ("mbus_value", lambda d: d),  # 0-n:24.2.1
    "GAS_METER_READING": ("mbus_value", lambda d: d),  # DSMR 2.2/3.0 0-n:24.3.0 + next line
    "MBUS_VALVE_POSITION": ("breaker", lambda d: d.valve_state),
    "VALVE_POSITION_GAS": ("breaker", lambda d: d.valve_state),
    "ACTUAL_SWITCH_POSITION": ("breaker", lambda d: d.breaker_state),  # 0-n:96.3.10 (e-MUCS 2.x, Lux)
    "MSN_MBUS_SWITCH_POSITION": ("breaker", lambda d: d.breaker_state),
}

# dsmr-parser objects deliberately not compared, with the reason. Everything else dsmr-parser decodes
# must have an entry in DSMR_FIELDS or MBUS_FIELDS, else the test fails (nothing is skipped silently).
NOT_COMPARED: dict[str, str] = {
    # the container of the grouped M-Bus devices; each device and each of its objects is compared
    "MBUS_DEVICES": "container: its devices are compared object by object through MBUS_FIELDS",
}


# --- known differences: asserted in both directions ---------------------------------------------------
# Each is recognised on dsmr-parser's side; then gridedge's value is asserted to be the right one. How
# often each occurs is predicted from the telegram text (`_expected_known`) and checked, so the test
# fails when dsmr-parser fixes one (or gridedge regresses). Explained in docs/dsmr-parser-differences.md.

_EPOCH_ZERO = datetime(1970, 1, 1, tzinfo=UTC)

# dsmr-parser's value pattern (parsers.py): a value group with any other character is not read
_DSMR_VALUE = re.compile(r"[0-9a-zA-Z.*\-:]*")


_AMSTERDAM = ZoneInfo("Europe/Amsterdam")
_TST = re.compile(r"\((\d{12})([SW])\)")


def _letter_contradicts_calendar(digits: str, letter: str) -> bool:
    """True when the DST letter of `YYMMDDhhmmssX` disagrees with the CET/CEST calendar at that time."""
    try:
        wall = datetime.strptime(digits, "%y%m%d%H%M%S")
    except ValueError:
        return False  # no date (632525252525W, 000000000000W): both parsers say None
    offset = wall.replace(tzinfo=_AMSTERDAM, fold=1 if letter == "W" else 0).utcoffset()
    return offset != timedelta(hours=2 if letter == "S" else 1)


def _lines_read(text: str, spec: str) -> dict[str, list[str]]:
    """Object name -> the lines dsmr-parser's specification finds for it, in telegram order."""
    found: dict[str, list[str]] = {}
    for o in _spec(spec)["objects"]:
        for m in re.finditer(o["obis_reference"], text, re.DOTALL | re.MULTILINE):
            found.setdefault(o["value_name"], []).append(m.group(0).split("\r\n")[0])
    return found


def _expected_known(text: str, spec: str) -> Counter[str]:
    """The known differences this telegram must show, predicted from its text alone."""
    lines = _lines_read(text, spec)
    expected: Counter[str] = Counter()
    for line in lines.get("TEXT_MESSAGE", []):
        value = line[line.index("(") + 1 : line.rindex(")")]
        if value == "":
            expected["empty-text"] += 1
        elif not _DSMR_VALUE.fullmatch(value):
            expected["dropped-text"] += 1
    switch = lines.get("ACTUAL_SWITCH_POSITION", [])
    if any(s.startswith("0-0:") for s in switch) and not switch[-1].startswith("0-0:"):
        expected["breaker-collision"] += 1
    for name in ("MBUS_METER_READING", "HOURLY_GAS_METER_READING"):
        for line in lines.get(name, []):
            expected["mbus-no-value"] += "(632525252525" in line
            expected["mbus-epoch-zero"] += "(700101010000W)" in line
    for line in {line for found in lines.values() for line in found}:
        if "(632525252525" in line or "(700101010000W)" in line:
            continue  # compared as "no value" above, not as a time
        expected["dst-letter"] += sum(_letter_contradicts_calendar(d, x) for d, x in _TST.findall(line))
    return +expected


def _same_time(log: Log, label: str, theirs: datetime | None, ours: datetime | None) -> None:
    """Timestamps, both aware: the same instant (dsmr-parser in UTC, gridedge at the letter's offset).

    Known difference: when the DST letter contradicts the calendar (the e-MUCS 1.7.1 / 2.1.1 spec
    examples: `200305122139S` in March; dsmr-parser's Iskra IE.5 fixture: `230202132747S` in February,
    where the real meter sends 12 digits without letter), dsmr-parser takes the offset from the
    Europe/Amsterdam calendar and gridedge from the letter (DSMR 5.0.2 §6.4): the same wall-clock time,
    one hour apart. Where letter and calendar agree (every real capture in the corpus) they agree.
    """
    if theirs is not None and ours is not None and theirs != ours:
        local = theirs.astimezone(_AMSTERDAM)
        if local.replace(tzinfo=None) == ours.replace(tzinfo=None) and local.utcoffset() != ours.utcoffset():
            log.known.append("dst-letter")
            log.compared.append(label)
            return
    log.same(label, theirs, ours)


def _collision_bug(log: Log, obj: DSMRObject, telegram: Telegram, spec: str, r: MeterReading) -> None:
    """The `^\\d-\\d:96\\.3\\.10` collision (meter-ports.md §E.1): dsmr-parser's meter breaker state is
    overwritten by the last M-Bus channel's `0-n:96.3.10` line (e-MUCS 2.x, Luxembourg)."""
    channel = obj.obis_id_code[1]
    device = _device(r, channel)
    assert device is not None and device.breaker_state is not None, f"{log.where}: no channel {channel}"
    # the bug value: dsmr-parser's meter breaker state is channel n's state (0, disconnected) ...
    assert int(obj.value) == int(device.breaker_state) == BreakerState.DISCONNECTED
    # ... while gridedge reports the meter's own line (connected), which dsmr-parser's dict still holds
    first = telegram[_pattern(spec, "ACTUAL_SWITCH_POSITION")]
    assert first.obis_id_code == (0, 0)
    assert r.breaker_state is BreakerState.CONNECTED
    assert int(first.value) == int(r.breaker_state) != int(obj.value)
    log.known.append("breaker-collision")
    log.compared.append("ACTUAL_SWITCH_POSITION")


# --- comparing one object ------------------------------------------------------------------------------


def _device(r: MeterReading, channel: int) -> MBusDevice | None:
    return next((d for d in r.mbus if d.channel == channel), None)


def _raw(r: MeterReading, obis: str) -> RawObject | None:
    found = [o for o in r.other if o.obis == obis]
    assert len(found) <= 1, f"{obis} twice in other"
    return found[0] if found else None


def _compare_raw(log: Log, label: str, obj: DSMRObject, raw: RawObject | None) -> None:
    """An object gridedge keeps as sent: dsmr-parser's parsed values against the raw value groups."""
    log.raw.append(label)
    if raw is None:
        log.mismatches.append(f"{log.where}: {label}: gridedge has no RawObject")
        return
    if len(raw.values) != len(obj.values):
        log.mismatches.append(f"{log.where}: {label}: {obj.values} vs {raw.values}")
        return
    for i, (theirs, sent) in enumerate(zip(obj.values, raw.values, strict=True)):
        number, _, unit = sent.partition("*")
        value: Any = theirs["value"]
        if value is None:
            ok = sent == ""
        elif isinstance(value, Decimal):
            ok = Decimal(number) == value and (unit or None) == theirs["unit"]
        elif isinstance(value, int):
            ok = int(number) == value and (unit or None) == theirs["unit"]
        else:
            ok = sent == (value if theirs["unit"] is None else f"{value}*{theirs['unit']}")
        if not ok:
            log.mismatches.append(f"{log.where}: {label}[{i}]: dsmr-parser {theirs!r} vs sent {sent!r}")


def _compare_value(log: Log, label: str, kind: str, obj: Any, ours: Any) -> None:
    """Compare a dsmr-parser object (CosemObject, MBusObject, ...) of `kind` with gridedge's value."""
    theirs: Any
    if kind in _SCALE:
        log.same(label, _canonical(obj.value, obj.unit, kind), _dec(ours))
    elif kind == "int":
        theirs = None if obj.value is None else int(obj.value)
        log.same(label, theirs, ours)
    elif kind == "tariff":
        log.same(label, None if obj.value is None else int(obj.value), ours)
    elif kind == "version":
        log.same(label, obj.value, ours)
    elif kind == "timestamp":
        _same_time(log, label, obj.value, ours)
    elif kind == "octets":
        log.same(label, obj.value, ours, _octets_match(obj.value, ours))
    elif kind == "code":
        # dsmr-parser reads the octet string's hex digits as a decimal integer
        theirs = obj.value
        expected = None if ours is None else int(ours.encode("utf-8").hex())
        log.same(label, theirs, ours, theirs == expected)
    elif kind == "breaker":
        log.same(label, None if obj.value is None else int(obj.value), None if ours is None else int(ours))
    elif kind == "limiter":
        value, unit = obj.value, obj.unit
        if value is None:
            log.same(label, None, ours)
            return
        quantity = _LIMITER_QUANTITY[unit.lower()]
        theirs = (_canonical(value, unit, quantity), _CANONICAL_UNIT[quantity])
        log.same(label, theirs, None if ours is None else (_dec(ours.value), ours.unit))
    elif kind == "failure_log":
        log.same(f"{label}.length", obj.buffer_length, None if ours is None else len(ours))
        for i, (entry, failure) in enumerate(zip(obj.buffer, ours or (), strict=False)):
            _same_time(log, f"{label}[{i}].end", entry.datetime, failure.end)
            log.same(f"{label}[{i}].duration", entry.value, failure.duration_s)
            # gridedge's field is in seconds: dsmr-parser's unit must be `s` (or absent, as MCS sends it)
            log.same(f"{label}[{i}].unit", entry.unit, "s", entry.unit in ("s", None))
    elif kind == "month_peak":
        _same_time(log, f"{label}.time", obj.datetime, None if ours is None else ours.time)
        theirs = _canonical(obj.value, obj.unit, "power")
        log.same(f"{label}.power", theirs, None if ours is None else _dec(ours.power_w))
    elif kind == "peak_history":
        log.same(f"{label}.length", len(obj), None if ours is None else len(ours))
        for i, (peak, month) in enumerate(zip(obj, ours or (), strict=False)):
            _same_time(log, f"{label}[{i}].month_start", peak.datetime, month.month_start)
            _same_time(log, f"{label}[{i}].peak_time", peak.occurred, month.peak_time)
            log.same(f"{label}[{i}].power", _canonical(peak.value, peak.unit, "power"), _dec(month.power_w))
    else:
        raise AssertionError(f"unknown kind {kind}")


def _compare_mbus_value(log: Log, label: str, obj: Any, dev: MBusDevice) -> None:
    """An M-Bus reading (0-n:24.2.1 / 24.2.3, or DSMR 2.2/3.0 0-n:24.3.0): capture time, value, unit."""
    log.compared.append(label)
    if obj.datetime is None and obj.value == 0:
        # `0-n:24.2.1(632525252525S)(00000.000)`: the meter has no reading from the channel; dsmr-parser
        # gives no capture time but the value 0; gridedge says "no value" (None), not zero
        log.known.append("mbus-no-value")
        if not (dev.capture_time is None and dev.value is None):
            log.mismatches.append(f"{log.where}: {label}: gridedge {dev.capture_time}, {dev.value}, not None")
        return
    if obj.datetime == _EPOCH_ZERO and obj.value == 0:
        # `0-1:24.2.1(700101010000W)(00000000)`: Iskra's capture time for a channel without device is the
        # Unix epoch. dsmr-parser decodes it literally (1970, value 0); gridedge must say "no value" as
        # for 632525252525W. GRIDEDGE BUG while it reports 2070-01-01 (test_epoch_zero_capture_time_...)
        log.known.append("mbus-epoch-zero")
        if not (dev.capture_time is None and dev.value is None):
            log.mismatches.append(
                f"{log.where}: {label}: GRIDEDGE BUG: capture time {dev.capture_time} value {dev.value}"
                " for the epoch-zero 'no value' mark (dsmr-parser: 1970-01-01T00:00Z, 0); expected None, None"
            )
        return
    _same_time(log, f"{label}.capture_time", obj.datetime, dev.capture_time)
    log.same(f"{label}.value", obj.value, _dec(dev.value))
    log.same(f"{label}.unit", obj.unit, dev.unit)


def _compare_mbus(log: Log, device: MbusDevice, r: MeterReading) -> None:
    dev = _device(r, device.channel_id)
    if dev is None:
        log.mismatches.append(f"{log.where}: gridedge has no M-Bus channel {device.channel_id}")
        return
    for name, obj in device:
        log.objects += 1
        label = f"mbus[{device.channel_id}].{name}"
        if name in NOT_COMPARED:
            continue
        assert name in MBUS_FIELDS, f"{log.where}: no comparison for dsmr-parser M-Bus object {name}"
        kind, get = MBUS_FIELDS[name]
        if kind == "mbus_value":
            _compare_mbus_value(log, label, obj, get(dev))
        else:
            _compare_value(log, label, kind, obj, get(dev))


def compare(where: str, data: bytes, spec: str) -> Log:
    """Parse `data` with dsmr-parser (spec `spec`) and gridedge, and compare everything both expose."""
    valid = crc_valid(data)
    checked = valid is True
    reading = _gridedge(data, checked)
    text = data.decode("ascii", errors="replace")
    telegram = _parser(spec, checked).parse(text)
    log = Log(where)
    for name, obj in telegram:
        if name == "MBUS_DEVICES":
            for device in obj:
                _compare_mbus(log, device, reading)
            continue
        log.objects += 1
        if name in NOT_COMPARED:
            continue
        assert name in DSMR_FIELDS, f"{where}: no comparison for dsmr-parser object {name}: add it or explain"
        if isinstance(obj, DSMRObject) and obj.is_mbus_reading:
            # the telegram attribute was overwritten by an M-Bus channel's line: only known for 96.3.10
            assert name == "ACTUAL_SWITCH_POSITION", f"{where}: {name} taken from {obj.obis_id_code}"
            _collision_bug(log, obj, telegram, spec, reading)
            continue
        spec_field = DSMR_FIELDS[name]
        if isinstance(spec_field.get, str):
            _compare_raw(log, name, obj, _raw(reading, spec_field.get))
            continue
        ours = spec_field.get(reading)
        if name == "TEXT_MESSAGE" and obj.value is None:
            # `0-0:96.13.0()`: dsmr-parser turns every empty value group into None; gridedge keeps the
            # empty octet string (DSMR 5.0.2 §6.12 `Sn (n=0..2048)`: a message of length 0)
            log.known.append("empty-text")
            log.same(name, "", ours)
            continue
        _compare_value(log, name, spec_field.kind, obj, ours)
    read = {o["value_name"] for o in _spec(spec)["objects"]}
    if "TEXT_MESSAGE" in read and "TEXT_MESSAGE" not in {name for name, _ in telegram}:
        for sent in re.findall(r"^0-0:96\.13\.0\((.*)\)\r?$", text, re.MULTILINE):
            if not _DSMR_VALUE.fullmatch(sent):
                # a character outside dsmr-parser's value pattern: it drops the line, gridedge keeps it
                log.known.append("dropped-text")
                ours = reading.text_message
                log.same("TEXT_MESSAGE", sent, ours, _octets_match(sent, ours))
    known, expected = Counter(log.known), _expected_known(text, spec)
    assert known == expected, f"{where}: known differences {dict(known)}, predicted {dict(expected)}"
    return log


_OBIS_LINE = re.compile(rb"^\d+-\d+:\d+\.\d+\.\d+", re.MULTILINE)


def _assert_thorough(log: Log, data: bytes) -> None:
    """No disagreement, and enough compared that the test cannot pass vacuously."""
    assert not log.mismatches, "\n".join(log.mismatches)
    lines = len(_OBIS_LINE.findall(data))
    # the specification fits the telegram: dsmr-parser decoded at least half of its object lines ...
    assert log.objects >= 2, f"{log.where}: dsmr-parser decoded only {log.objects} objects"
    assert log.objects * 2 >= lines, f"{log.where}: dsmr-parser decoded {log.objects} of {lines} objects"
    # ... and every decoded object was compared, typed or raw (NOT_COMPARED holds containers only)
    assert len(log.compared) + len(log.raw) >= log.objects


# --- the tests ---------------------------------------------------------------------------------------------


def test_every_corpus_file_has_a_specification() -> None:
    assert len(FILES) >= 60
    assert {_id(p) for p in FILES} == set(SPEC_OF), "map each new corpus file to a dsmr-parser specification"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_same_values_as_dsmr_parser(path: Path) -> None:
    where = _id(path)
    spec = SPEC_OF[where]
    data = path.read_bytes()
    if path == STREAM:
        framer = TelegramFramer()
        events = framer.feed(data) + framer.flush()
        telegrams = [e for e in events if isinstance(e, bytes)]
        assert len(telegrams) == 566
        assert all(crc_valid(t) for t in telegrams)
        total = 0
        for i, telegram in enumerate(telegrams):
            log = compare(f"{where}#{i}", telegram, spec)
            _assert_thorough(log, telegram)
            total += len(log.compared)
        assert total >= 566 * 25
        return
    log = compare(where, data, spec)
    _assert_thorough(log, data)


def test_epoch_zero_capture_time_is_no_value() -> None:
    """GRIDEDGE BUG: `0-1:24.2.1(700101010000W)(00000000)` is decoded as captured on 2070-01-01.

    An Iskra AM550 (ISK5 2M550T) announces M-Bus channel 1 with an empty equipment id and the capture
    time 1970-01-01 01:00 CET, the Unix epoch: the channel has no device and no value, as with
    `632525252525W`. Read with 2000 + YY, gridedge reports a reading taken 44 years in the future (the
    same misreading made dsmr-reader discard such telegrams as "future timestamp": dsmrreader/dsmr-reader
    #361, #470). dsmr-parser's `strptime('%y')` gives 1970.
    """
    path = P1 / "ndokter_dsmr_parser" / "telegram_v5_two_mbus.txt"
    data = path.read_bytes()
    telegram = _parser("V5", True).parse(data.decode("ascii"))
    gas = next(d for d in telegram.MBUS_DEVICES if d.channel_id == 1).MBUS_METER_READING
    assert gas.datetime == _EPOCH_ZERO  # dsmr-parser: literally the epoch
    assert gas.value == 0 and gas.unit is None
    channel = _device(decode(data), 1)
    assert channel is not None and channel.equipment_id is None
    assert channel.capture_time is None, f"capture time {channel.capture_time} for an empty channel"
    assert channel.value is None


def test_fluvius_spec_crashes_on_count_only_demand_history() -> None:
    """dsmr-parser bug: BELGIUM_FLUVIUS raises IndexError (not ParseError) on `0-0:98.1.0(12)`.

    The Sagemcom XT211 sends the 13-month history object with its entry count only; MaxDemandParser
    indexes entries that are not there and the exception escapes `parse()`, losing the whole telegram.
    gridedge keeps the object raw and decodes the rest.
    """
    data = (P1 / "athombv_node-dsmr-parser" / "sagemcom-xt211.txt").read_bytes()
    with pytest.raises(IndexError):
        _parser("BELGIUM_FLUVIUS", False).parse(data.decode("ascii"))
    reading = decode(data, check_crc=False, lenient=True)
    assert reading.peak_history is None
    assert RawObject("0-0:98.1.0", ("12",)) in reading.other
    assert reading.energy_import_kwh == {1: 1595.07, 2: 5216.778}
