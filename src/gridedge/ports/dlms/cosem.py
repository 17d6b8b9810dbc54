"""COSEM objects out of a push notification body (IEC 62056-6-2, Green Book Ed. 8.3 §4).

A push message (COSEM "Push setup", class 40, Green Book §4.4.8) sends the attribute values listed
in its ``push_object_list``.  Meters shape the notification body in one of four ways, all in the
corpus:

* **Aidon** (``aidon-*``): an array of structures ``(logical name, value)`` or
  ``(logical name, value, scaler_unit)``; the scaler_unit is the class 3 register attribute 3,
  ``structure {scaler integer, unit enum}`` (Green Book §4.3.2).
* **Kamstrup** (``kamstrup-*``): a structure whose first element is a visible-string list id,
  followed by ``logical name, value`` pairs, no units.
* **Described list** (``described-list``): a structure whose first element is the push object list
  itself, an array of capture object definitions ``{class_id, logical_name, attribute_index,
  data_index}``, followed by one value per definition after the first (the first describes the
  array itself).
* **OBIS triples** (``m-bus__austria-decrypted-1``: Austrian customer interfaces, e.g. EVN /
  Netz NÖ with Kaifa MA309 meters, pushed over wired M-Bus): one flat structure of
  ``logical name, value, scaler_unit`` runs, with a bare date-time (the clock, 0-0:1.0.0) first
  and the bare meter number (visible text in an octet-string) last; see :func:`_obis_triples`.
* **Positional** (``iskra-1``, ``slovenia-list-*``): a structure of bare values whose meaning is in
  the meter's documentation only; known layouts are in :data:`POSITIONAL_LAYOUTS`, anything else
  gives objects without logical name.

Scaled values: ``value * 10**scaler`` computed in :class:`decimal.Decimal`, so 2307 with scaler -1
is exactly 230.7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from gridedge.ports.dlms.axdr import BitString, Data, DataTag, date_time
from gridedge.ports.dlms.errors import DlmsError

__all__ = [
    "CLOCK",
    "DEVICE_ID_1",
    "POSITIONAL_LAYOUTS",
    "UNITS",
    "CosemObject",
    "Obis",
    "PositionalLayout",
    "objects_from_body",
]

UNITS: Final[dict[int, str]] = {
    1: "a", 2: "mo", 3: "wk", 4: "d", 5: "h", 6: "min", 7: "s", 8: "°", 9: "°C", 10: "currency",
    11: "m", 12: "m/s", 13: "m3", 14: "m3", 15: "m3/h", 16: "m3/h", 17: "m3/d", 18: "m3/d", 19: "l",
    20: "kg", 21: "N", 22: "Nm", 23: "Pa", 24: "bar", 25: "J", 26: "J/h", 27: "W", 28: "VA", 29: "var",
    30: "Wh", 31: "VAh", 32: "varh", 33: "A", 34: "C", 35: "V", 36: "V/m", 37: "F", 38: "Ω", 39: "Ωm2/m",
    40: "Wb", 41: "T", 42: "A/m", 43: "H", 44: "Hz", 45: "1/(Wh)", 46: "1/(varh)", 47: "1/(VAh)",
    48: "V2h", 49: "A2h", 50: "kg/s", 51: "S", 52: "K", 53: "1/(V2h)", 54: "1/(A2h)", 55: "1/m3",
    56: "%", 57: "Ah", 60: "Wh/m3", 61: "J/m3", 62: "Mol %", 63: "g/m3", 64: "Pa s", 65: "J/kg",
    70: "dBm", 71: "dBµV", 72: "dB",
}
"""Unit enumeration of the register scaler_unit (Green Book Ed. 8.3 §4.3.2, Table 4).
254 "other" and 255 "count / no unit" map to no unit."""

_NUMERIC: Final = frozenset({
    DataTag.DOUBLE_LONG, DataTag.DOUBLE_LONG_UNSIGNED, DataTag.INTEGER, DataTag.LONG, DataTag.UNSIGNED,
    DataTag.LONG_UNSIGNED, DataTag.LONG64, DataTag.LONG64_UNSIGNED, DataTag.FLOAT32, DataTag.FLOAT64,
    DataTag.ENUM, DataTag.BCD,
})


@dataclass(frozen=True, slots=True, order=True)
class Obis:
    """An OBIS code A-B:C.D.E.F (IEC 62056-6-1); ``str`` drops F like node-dsmr-parser and DSMR."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = 255

    @classmethod
    def from_octets(cls, octets: bytes) -> Obis:
        a, b, c, d, e, f = octets
        return cls(a, b, c, d, e, f)

    @classmethod
    def parse(cls, text: str) -> Obis:
        """``"1-0:1.8.0"`` or ``"1-0:1.8.0.255"`` (F defaults to 255)."""
        ab, cdef = text.split(":")
        a, b = ab.split("-")
        rest = [int(x) for x in cdef.split(".")]
        return cls(int(a), int(b), *rest)

    def __str__(self) -> str:
        return f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}"


@dataclass(frozen=True, slots=True)
class CosemObject:
    """One pushed attribute value: logical name (None when the layout is unknown), value, unit.

    ``value`` is None when the meter's message ended before it (partial message) or it was null.
    ``scaler`` and ``unit`` are the register's scaler_unit when the meter sent it.
    """

    obis: Obis | None
    value: Data | None
    scaler: int = 0
    unit: int | None = None
    class_id: int | None = None
    attribute: int | None = None
    position: int = 0

    @property
    def unit_text(self) -> str | None:
        return UNITS.get(self.unit) if self.unit is not None else None

    @property
    def number(self) -> Decimal | None:
        """The scaled numeric value, or None for a non-numeric or missing value."""
        if self.value is None or self.value.tag not in _NUMERIC:
            return None
        raw = self.value.value
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return None
        exact = Decimal(raw) if isinstance(raw, int) else Decimal(repr(raw))
        return exact.scaleb(self.scaler)

    def value_text(self) -> str:
        """The value as node-dsmr-parser prints it: text strings as text, octets as hex."""
        if self.value is None or self.value.tag is DataTag.NULL:
            return "null"
        number = self.number
        if number is not None:
            return _decimal_text(number)
        raw = self.value.value
        if isinstance(raw, bool):
            return str(int(raw))
        if isinstance(raw, bytes):
            return raw.hex()
        if isinstance(raw, str | BitString):
            return str(raw)
        return repr(raw)

    def __str__(self) -> str:
        unit = self.unit_text
        name = str(self.obis) if self.obis is not None else f"?{self.position}"
        return f"{name}({self.value_text()}{'*' + unit if unit else ''})"


def _decimal_text(number: Decimal) -> str:
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _obis_of(item: Data | None) -> Obis | None:
    if item is not None and item.tag is DataTag.OCTET_STRING and isinstance(item.value, bytes) \
            and len(item.value) == 6:
        return Obis.from_octets(item.value)
    return None


def _scaler_unit(item: Data | None) -> tuple[int, int] | None:
    if item is None or item.tag is not DataTag.STRUCTURE or len(item.elements) != 2:
        return None
    scaler, unit = item.elements
    if scaler is None or unit is None or not isinstance(scaler.value, int) or not isinstance(unit.value, int):
        return None
    if isinstance(scaler.value, bool) or isinstance(unit.value, bool):
        return None
    return scaler.value, unit.value


def _aidon(body: Data) -> list[CosemObject] | None:
    if body.tag is not DataTag.ARRAY:
        return None
    out: list[CosemObject] = []
    for index, entry in enumerate(body.elements):
        if entry is None or entry.tag is not DataTag.STRUCTURE or len(entry.elements) not in (2, 3):
            return None
        obis = _obis_of(entry.elements[0])
        if obis is None:
            return None
        su = _scaler_unit(entry.elements[2]) if len(entry.elements) == 3 else None
        scaler, unit = su if su is not None else (0, None)
        out.append(CosemObject(obis, entry.elements[1], scaler, unit, position=index))
    return out


def _kamstrup(body: Data) -> list[CosemObject] | None:
    items = body.elements
    if body.tag is not DataTag.STRUCTURE or len(items) % 2 != 1 or items[0] is None \
            or items[0].tag is not DataTag.VISIBLE_STRING:
        return None
    out: list[CosemObject] = []
    for index in range(1, len(items), 2):
        obis = _obis_of(items[index])
        if obis is None:
            return None
        out.append(CosemObject(obis, items[index + 1], position=index + 1))
    return out


def _definition(item: Data | None) -> tuple[int, Obis, int] | None:
    if item is None or item.tag is not DataTag.STRUCTURE or len(item.elements) != 4:
        return None
    class_id, name, attribute, _data_index = item.elements
    obis = _obis_of(name)
    if class_id is None or attribute is None or obis is None:
        return None
    if not isinstance(class_id.value, int) or not isinstance(attribute.value, int):
        return None
    return class_id.value, obis, attribute.value


def _described(body: Data) -> list[CosemObject] | None:
    items = body.elements
    if body.tag is not DataTag.STRUCTURE or not items or items[0] is None \
            or items[0].tag is not DataTag.ARRAY:
        return None
    definitions = [_definition(d) for d in items[0].elements]
    if not definitions or any(d is None for d in definitions) or len(definitions) != len(items):
        return None
    out: list[CosemObject] = []
    for index, definition in enumerate(definitions):
        if index == 0 or definition is None:
            continue  # the first definition describes the push object list, element 0 itself
        class_id, obis, attribute = definition
        out.append(CosemObject(obis, items[index], class_id=class_id, attribute=attribute, position=index))
    return out


@dataclass(frozen=True, slots=True)
class PositionalLayout:
    """A push list of bare values: its name, how to recognise it, and the OBIS code per position."""

    name: str
    matches: Callable[[Data], bool]
    obis: tuple[Obis | None, ...]


def _octets(item: Data | None, size: int | None = None) -> bool:
    return item is not None and item.tag is DataTag.OCTET_STRING and isinstance(item.value, bytes) \
        and (size is None or len(item.value) == size)


def _codes(*texts: str | None) -> tuple[Obis | None, ...]:
    return tuple(Obis.parse(t) if t else None for t in texts)


POSITIONAL_LAYOUTS: Final[tuple[PositionalLayout, ...]] = (
    PositionalLayout(
        # Iskra AM550 push (Slovenian/Croatian DSO profile): push setup name, meter id, time, date,
        # then energy registers and active power.  Positions from the iskra-1 reference decode.
        "iskra",
        lambda b: len(b.elements) == 12 and _octets(b.elements[0], 6) and b.elements[0] is not None
        and b.elements[0].value == bytes.fromhex("0006190900ff"),
        _codes(None, None, None, None, "1-0:1.8.0", "1-0:2.8.0", "1-0:3.8.0", "1-0:4.8.0", "1-0:1.7.0",
               "1-0:2.7.0", None, None),
    ),
    PositionalLayout(
        # Slovenian ECE list 1 (instantaneous values), from the slovenia-list-1 reference decode
        "ece-list-1",
        lambda b: len(b.elements) == 18 and _octets(b.elements[0], 16),
        _codes("0-0:42.0.0", "0-0:96.1.2", "1-0:1.7.0", "1-0:2.7.0", "1-0:3.7.0", "1-0:4.7.0",
               "1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0", "1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0",
               "1-0:21.7.0", "1-0:41.7.0", "1-0:61.7.0", "1-0:22.7.0", "1-0:42.7.0", "1-0:62.7.0"),
    ),
    PositionalLayout(
        # Slovenian ECE list 2 (registers), from the slovenia-list-2 reference decode
        "ece-list-2",
        lambda b: len(b.elements) == 12 and _octets(b.elements[0], 16),
        _codes("0-0:42.0.0", "0-0:96.1.3", "0-0:96.3.10", "0-0:96.14.0", "1-0:1.8.0", "1-0:1.8.1",
               "1-0:1.8.2", "1-0:2.8.0", "1-0:2.8.1", "1-0:2.8.2", "1-0:3.8.0", "1-0:4.8.0"),
    ),
)
"""Known layouts of bare-value push lists, tried in order."""


CLOCK: Final = Obis(0, 0, 1, 0, 0)
"""Clock, class 8 (Green Book §4.5.1); its attribute 2 is the meter's date-time."""
DEVICE_ID_1: Final = Obis(0, 0, 96, 1, 0)
"""Device ID 1, the manufacturer's serial number (IEC 62056-6-1 / Green Book §7.4.1 "device ID")."""


def _is_date_time(item: Data | None) -> bool:
    if item is None:
        return False
    if item.tag is DataTag.DATE_TIME:
        return True
    if not _octets(item, 12) or not isinstance(item.value, bytes):
        return False
    try:
        date_time(item.value, item.offset)  # a date-time, possibly with unspecified fields
    except DlmsError:
        return False
    return True


def _is_text(item: Data | None) -> bool:
    if item is None:
        return False
    if item.tag in (DataTag.VISIBLE_STRING, DataTag.UTF8_STRING):
        return True
    raw = item.value
    return item.tag is DataTag.OCTET_STRING and isinstance(raw, bytes) and bool(raw) \
        and all(0x20 <= b < 0x7F for b in raw)


def _obis_triples(body: Data) -> list[CosemObject] | None:
    """A flat structure of ``logical name, value[, scaler_unit]`` runs (Austrian M-Bus push).

    Layout of the EVN / Netz NÖ customer-interface push (``m-bus__austria-decrypted-1``)::

        structure {
            octet-string[12]        date-time, no logical name in front: the clock 0-0:1.0.0
            octet-string[6], value, structure {scaler, unit}     x 11 registers
            octet-string[12]        visible text, no logical name: the meter number
        }

    The logical names (IEC 62056-6-1 OBIS) make the registers self-describing; the scaler_unit
    is the register's attribute 3 (class 3, Green Book §4.3.2), so ``value * 10**scaler`` is in
    ``unit`` (Green Book Table 4: 27 W, 30 Wh, 33 A, 35 V, 255 no unit).  The two bare values
    are not: their meaning comes from the grid operator's description of the push (date and time
    first, meter number last), so only a 12-byte date-time in first place and printable text in
    last place are accepted, labelled :data:`CLOCK` and :data:`DEVICE_ID_1`.  Anything else
    between or around the runs means the body is not this shape (None).
    """
    items = body.elements
    if body.tag is not DataTag.STRUCTURE or len(items) < 3:
        return None
    out: list[CosemObject] = []
    index = 0
    if _obis_of(items[0]) is None and _is_date_time(items[0]):
        out.append(CosemObject(CLOCK, items[0], class_id=8, attribute=2, position=0))
        index = 1
    scaled = 0
    while index < len(items):
        obis = _obis_of(items[index])
        if obis is None:
            break
        value = items[index + 1] if index + 1 < len(items) else None
        su = _scaler_unit(items[index + 2]) if index + 2 < len(items) else None
        if su is not None:
            scaled += 1
            out.append(CosemObject(obis, value, su[0], su[1], class_id=3, attribute=2, position=index + 1))
            index += 3
        else:
            out.append(CosemObject(obis, value, position=index + 1))
            index += 2
    if index == len(items) - 1 and _is_text(items[index]):
        out.append(CosemObject(DEVICE_ID_1, items[index], class_id=1, attribute=2, position=index))
        index += 1
    if index < len(items) or scaled == 0:
        return None
    return out


def _named_positional(body: Data) -> tuple[str, list[CosemObject]] | None:
    if body.tag is not DataTag.STRUCTURE:
        return None
    for layout in POSITIONAL_LAYOUTS:
        if layout.matches(body):
            return layout.name, [CosemObject(layout.obis[i], item, position=i)
                                 for i, item in enumerate(body.elements)]
    return None


def _positional(body: Data) -> tuple[str, list[CosemObject]]:
    items = body.elements if body.tag in (DataTag.STRUCTURE, DataTag.ARRAY) else (body,)
    return "positional", [CosemObject(None, item, position=i) for i, item in enumerate(items)]


def objects_from_body(body: Data) -> tuple[str, list[CosemObject]]:
    """The COSEM objects of a notification body and the name of the shape it had.

    Shapes are tried from the most to the least self-describing; the named positional layouts
    come before the OBIS triples because they are recognised by exact markers.
    """
    for name, shape in (("aidon", _aidon), ("kamstrup", _kamstrup), ("described-list", _described)):
        found = shape(body)
        if found is not None:
            return name, found
    named = _named_positional(body)
    if named is not None:
        return named
    triples = _obis_triples(body)
    if triples is not None:
        return "obis-triples", triples
    return _positional(body)
