"""Value formats of P1 objects (DSMR 5.0.2 §6.4-6.8): numbers with units, timestamps, octet strings.

Numbers are converted to canonical units exactly: `01.234*kW` becomes 1234.0 W by integer
arithmetic on the digits, never by multiplying a float, so `decode(encode(x)) == x` holds.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

CET = timezone(timedelta(hours=1), "CET")
CEST = timezone(timedelta(hours=2), "CEST")

#: Zone for DSMR 2.2/3.0 timestamps, which have no DST letter (TST12); the Netherlands.
DEFAULT_ZONE: tzinfo = ZoneInfo("Europe/Amsterdam")

# unit (lower case) -> (quantity, power of ten to the canonical unit)
# canonical: energy kWh, reactive energy kvarh, power W, reactive power var, apparent power VA
UNITS: dict[str, tuple[str, int]] = {
    "kwh": ("energy", 0),
    "wh": ("energy", -3),
    "kvarh": ("reactive_energy", 0),
    "varh": ("reactive_energy", -3),
    "kw": ("power", 3),
    "w": ("power", 0),
    "kvar": ("reactive_power", 3),
    "var": ("reactive_power", 0),
    "kva": ("apparent_power", 3),
    "va": ("apparent_power", 0),
    "v": ("voltage", 0),
    "a": ("current", 0),
    "hz": ("frequency", 0),
    "m3": ("volume", 0),
    "gj": ("heat", 0),
    "s": ("duration", 0),
}

CANONICAL_UNIT = {
    "energy": "kWh",
    "reactive_energy": "kvarh",
    "power": "W",
    "reactive_power": "var",
    "apparent_power": "VA",
    "voltage": "V",
    "current": "A",
    "frequency": "Hz",
    "volume": "m3",
    "heat": "GJ",
    "duration": "s",
}


def _unit_table(quantity: str, default_exp: int) -> dict[str, int]:
    """unit spelling -> power of ten to the canonical unit, for one quantity; '' = unit omitted."""
    table = {"": default_exp}
    spellings = {"kvarh": ("kVArh", "kVarh"), "varh": ("VArh",), "kvar": ("kVAr", "kVar"), "var": ("VAr",)}
    for unit, (q, exp) in UNITS.items():
        if q == quantity:
            for spelling in (unit, unit.upper(), *spellings.get(unit, ())):
                table[spelling] = exp
    table.update({c: e for c, e in _CANONICAL_SPELLING.items() if c.lower() in table})
    return table


_CANONICAL_SPELLING = {"kWh": 0, "Wh": -3, "kW": 3, "W": 0, "kVA": 3, "VA": 0, "Hz": 0, "V": 0, "A": 0}

ENERGY = _unit_table("energy", 0)
REACTIVE_ENERGY = _unit_table("reactive_energy", 0)
POWER = _unit_table("power", 3)
REACTIVE_POWER = _unit_table("reactive_power", 3)
APPARENT_POWER = _unit_table("apparent_power", 3)
VOLTAGE = _unit_table("voltage", 0)
CURRENT = _unit_table("current", 0)
FREQUENCY = _unit_table("frequency", 0)


def scaled(number: str, exp10: int) -> float:
    """`number` (decimal digits, optional sign and point) times 10**exp10, correctly rounded.

    Raises ValueError (never OverflowError) for numbers no meter register can hold.
    """
    if len(number) > 41:
        raise ValueError(f"number of {len(number)} characters is too long for a meter value")
    if exp10 == 0:
        return float(number)
    dot = number.find(".")
    if dot < 0:
        digits = int(number)
    else:
        digits = int(number[:dot] + number[dot + 1 :])
        exp10 -= len(number) - dot - 1
    if exp10 >= 0:
        return float(digits * 10**exp10)
    divisor: int = 10 ** (-exp10)
    return digits / divisor


#: A decimal as DSMR writes it (Fn(x,y), In): digits, an optional point; a sign for Luxembourg's
#: `1-1:31.4.0(-063*A)`. Anything else float() would take (`1e5`, `nan`, ` 1`, `1_0`) is an error.
NUMBER = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,20})?\Z")


def number(text: str) -> str:
    """`text` if it is a DSMR decimal number, else ValueError naming it."""
    if NUMBER.match(text) is None:
        raise ValueError(f"not a number: {text!r}" if text else "empty value")
    return text


def number_with_unit(value: str, quantity: str) -> float:
    """Parse `000015.758*kWh` as `quantity`, converted to its canonical unit.

    A missing unit means the unit of the DSMR format for that object (some meters, e.g. MCS and
    Luxembourg M-Bus channels, omit it). Raises ValueError with the reason.
    """
    num, star, unit_text = value.partition("*")
    number(num)
    if not star:
        return float(num) if quantity != "power" else scaled(num, 3)
    unit = UNITS.get(unit_text.lower())
    if unit is None or unit[0] != quantity:
        raise ValueError(f"unit {unit_text!r} is not a unit of {quantity}")
    return scaled(num, unit[1])


def measure(value: str, allowed: frozenset[str] | None = None) -> tuple[float, str]:
    """Parse a number whose unit varies between meters: (value, canonical unit).

    `allowed`: the canonical units this object may have ("" = no unit); others are an error.
    """
    num, star, unit_text = value.partition("*")
    number(num)
    if not star:
        result = float(num), ""
    else:
        unit = UNITS.get(unit_text.lower())
        if unit is None:
            raise ValueError(f"unknown unit {unit_text!r}")
        result = scaled(num, unit[1]), CANONICAL_UNIT[unit[0]]
    if allowed is not None and result[1] not in allowed:
        raise ValueError(f"unit {unit_text or 'none'!r} does not fit this object")
    return result


def integer(value: str) -> int:
    """An integer counter such as `00004` or `0000000240*s` (a unit, if any, must be seconds)."""
    num, star, unit = value.partition("*")
    if star and unit != "s":
        raise ValueError(f"unit {unit!r} does not fit a count or duration")
    if not num.isdigit() or not num.isascii():
        raise ValueError(f"not a whole number: {num!r}" if num else "empty value")
    return int(num)


def timestamp(value: str, zone: tzinfo = DEFAULT_ZONE) -> datetime | None:
    """`YYMMDDhhmmssX` (X = S summer / W winter, DSMR 5.0.2 §6.4) as an aware datetime.

    The DST letter fixes the offset (all P1 countries use CET/CEST), which also resolves the
    repeated hour in October. 12-digit TST12 (DSMR 2.2/3.0) is localised in `zone`. The "no value"
    sentinels `632525252525X` (e-MUCS), all zeros (MCS) and `700101010000W` (Unix time 0, Iskra)
    give None.
    """
    cached = _TST_CACHE.get(value)
    if cached is not None:
        return cached
    n = len(value)
    if n == 13:
        letter = value[12]
        if letter == "S" or letter == "s":
            tz: tzinfo = CEST
        elif letter == "W" or letter == "w":
            tz = CET
        else:
            raise ValueError(f"DST flag must be S or W, found {letter!r}")
    elif n == 12:
        tz = zone
    else:
        raise ValueError(f"timestamp must be YYMMDDhhmmss plus S or W (13 characters), found {n}")
    if (
        (value[0] == "6" and value.startswith("632525252525"))
        or value.startswith("000000000000")
        # 1970-01-01 01:00 CET = Unix time 0: an Iskra AM550's "never captured" on an empty M-Bus
        # channel, which would otherwise read as the year 2070 (dsmrreader/dsmr-reader#361, #470)
        or value.startswith("700101010000")
    ):
        return None
    if not value[:12].isdigit():
        raise ValueError("timestamp must be 12 digits")
    result = datetime(
        2000 + int(value[0:2]),
        int(value[2:4]),
        int(value[4:6]),
        int(value[6:8]),
        int(value[8:10]),
        int(value[10:12]),
        tzinfo=tz,
    )
    if n == 13:
        # history, peak and M-Bus capture times repeat in every telegram
        if len(_TST_CACHE) >= 512:
            _TST_CACHE.clear()
        _TST_CACHE[value] = result
    return result


_TST_CACHE: dict[str, datetime] = {}


def octet_string(value: str) -> str:
    """An octet string sent as hex pairs (DSMR 5.0.2 §6.5), decoded when it is text.

    Values that are not hex, or whose bytes are not text (all zero bytes, binary ids), are
    returned as sent: DSMR 2.2 meters send plain text, some meters plain digits.
    """
    if not value or len(value) & 1:
        return value
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return value
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    # text with line breaks or tabs is still text; other control bytes (NUL ids) are not
    return text if text.replace("\r", "").replace("\n", "").replace("\t", "").isprintable() else value


def to_octet_string(text: str) -> str:
    """Inverse of `octet_string`: text as upper-case hex pairs."""
    return text.encode("utf-8").hex().upper()
