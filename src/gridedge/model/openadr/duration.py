"""ISO 8601 durations as OpenADR 3.0.1 writes them (schema `duration`).

The spec's pattern allows years, months, days or weeks, hours, minutes and decimal seconds, with an
optional leading minus: `PT1H`, `P1D`, `P1W`, `P1M`, `-PT15M`, `PT0.5S`. Pydantic's own timedelta
parser reads `P1M` as 30 days and `P1Y` as 365 days, which is wrong for a program whose interval
period is "one calendar month", so gridedge keeps the components and adds them to a start time
on the calendar (`IsoDuration.add_to`). `to_timedelta` refuses years and months instead of
guessing.

The text is kept as received, so a model round-trips exactly (`PT60M` stays `PT60M`).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

__all__ = ["DURATION_PATTERN", "DurationError", "IsoDuration", "format_duration", "parse_duration"]

DURATION_PATTERN: Final = (
    r"^(-?)P(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)([DW]))?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
"""The `duration` schema's pattern, verbatim from openadr3-3.0.1.yaml."""

_RE: Final = re.compile(DURATION_PATTERN)


class DurationError(ValueError):
    """Text that is not an OpenADR (ISO 8601) duration; says what was expected."""

    def __init__(self, text: object, why: str = "") -> None:
        self.text = text
        tail = f" ({why})" if why else ""
        super().__init__(
            f"expected an ISO 8601 duration such as PT1H, P1D, P1W or -PT15M, found {text!r}{tail}"
        )


@dataclass(frozen=True, slots=True)
class IsoDuration:
    """A parsed duration: calendar part (years, months) and exact part (days, weeks, h, min, s)."""

    text: str
    negative: bool = False
    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: Decimal = Decimal(0)

    @classmethod
    def parse(cls, text: str) -> IsoDuration:
        m = _RE.match(text) if isinstance(text, str) else None
        if m is None:
            raise DurationError(text)
        sign, y, mo, dw, unit, h, mi, s = m.groups()
        n = int(dw) if dw else 0
        return cls(
            text=text,
            negative=sign == "-",
            years=int(y or 0),
            months=int(mo or 0),
            weeks=n if unit == "W" else 0,
            days=n if unit == "D" else 0,
            hours=int(h or 0),
            minutes=int(mi or 0),
            seconds=Decimal(s or 0),
        )

    @property
    def is_calendar(self) -> bool:
        """True when years or months are present: the length depends on where it starts."""
        return bool(self.years or self.months)

    def _exact(self) -> timedelta:
        try:
            return timedelta(
                weeks=self.weeks,
                days=self.days,
                hours=self.hours,
                minutes=self.minutes,
                microseconds=int(self.seconds * 1_000_000),
            )
        except OverflowError as exc:
            raise DurationError(self.text, "too long for a date-time") from exc

    def to_timedelta(self) -> timedelta:
        """The exact length; ValueError for a duration with years or months (use `add_to`)."""
        if self.is_calendar:
            raise DurationError(self.text, "years and months have no fixed length; add it to a start time")
        d = self._exact()
        return -d if self.negative else d

    def total_seconds(self) -> float:
        return self.to_timedelta().total_seconds()

    def add_to(self, start: datetime) -> datetime:
        """`start` moved by this duration: months and years on the calendar (day clamped to the
        month's last day), the rest exactly."""
        sign = -1 if self.negative else 1
        t = start
        try:
            if self.is_calendar:
                total = t.year * 12 + (t.month - 1) + sign * (self.years * 12 + self.months)
                year, month = divmod(total, 12)
                day = min(t.day, calendar.monthrange(year, month + 1)[1])
                t = t.replace(year=year, month=month + 1, day=day)
            d = self._exact()
            return t + d if sign > 0 else t - d
        except (OverflowError, ValueError) as exc:
            if isinstance(exc, DurationError):
                raise
            raise DurationError(self.text, f"{start.isoformat()} plus it is out of range") from exc

    def __str__(self) -> str:
        return self.text

    # ---- pydantic: validated from and serialised to the text
    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: object) -> IsoDuration:
            if isinstance(value, IsoDuration):
                return value
            if isinstance(value, timedelta):
                return cls.parse(format_duration(value))
            if not isinstance(value, str):
                raise DurationError(value)
            return cls.parse(value)

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": DURATION_PATTERN, "example": "PT1H"}


def parse_duration(text: str) -> IsoDuration:
    """Parse `text` (`DurationError`, a ValueError, when it does not match the spec's pattern)."""
    return IsoDuration.parse(text)


def format_duration(d: timedelta) -> str:
    """The shortest spec-conformant text of an exact duration: 1 h -> PT1H, 1 day -> P1D."""
    neg = d < timedelta(0)
    d = abs(d)
    days = d.days
    secs = d.seconds
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    frac = d.microseconds
    out = "-P" if neg else "P"
    if days:
        out += f"{days}D"
    time_part = ""
    if h:
        time_part += f"{h}H"
    if m:
        time_part += f"{m}M"
    if s or frac:
        sec = f"{s}.{frac:06d}".rstrip("0") if frac else str(s)
        time_part += f"{sec}S"
    if time_part:
        out += "T" + time_part
    elif not days:
        out += "T0S"
    return out
