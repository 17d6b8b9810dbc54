"""Power-limit messages between the grid's Energy Guard and a home's Controllable System.

Protocol-neutral versions of the EEBus "Limitation of Power Consumption" (LPC) and "... Production"
(LPP) data points: the Active Power Consumption/Production Limit (APCL/APPL) with its optional
duration, the heartbeat, the failsafe values, and what the Controllable System (CS) reports back.
They travel over OpenADR 3 or signed MQTT today and over EEBus SHIP/SPINE later, so they are plain
frozen dataclasses of numbers, strings and enums: `orjson.dumps` takes them as they are, and
`from_dict` turns the decoded JSON back into a checked object.

Requirement IDs are quoted from the LPC use-case spec and HighLevel TestSpec V1.0.1 as cited in
../shared/notes/grid-protocols.md §1.1 (the documents themselves are not public).

Values are magnitudes: a production limit of 3000 W means "feed in at most 3000 W"; the direction
says which way. Times are seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "FAILSAFE_DURATION_MAX_S",
    "FAILSAFE_DURATION_MIN_S",
    "Direction",
    "FailsafeValues",
    "Heartbeat",
    "LimitState",
    "LimitValueError",
    "LpcState",
    "PowerLimit",
    "Rejected",
    "Transition",
]

FAILSAFE_DURATION_MIN_S = 2 * 3600.0
"""Failsafe Duration Minimum lower bound: the EG SHALL choose 2 h..24 h (LPC-TS-015)."""
FAILSAFE_DURATION_MAX_S = 24 * 3600.0
"""Failsafe Duration Minimum upper bound (LPC-TS-015; eebus-go `SetFailsafeDurationMinimum`)."""


class Direction(StrEnum):
    """Which power flow a limit bounds: LPC limits consumption, LPP limits production (feed-in)."""

    CONSUMPTION = "consumption"
    PRODUCTION = "production"

    @property
    def use_case(self) -> str:
        """The EEBus use-case prefix of requirement IDs: "LPC" or "LPP"."""
        return "LPC" if self is Direction.CONSUMPTION else "LPP"


class LpcState(StrEnum):
    """The five states of the CS (LPC/LPP use-case spec, notes §1.1); values are the EEBus names."""

    INIT = "init"
    UNLIMITED_CONTROLLED = "unlimited/controlled"
    LIMITED = "limited"
    FAILSAFE = "failsafe"
    UNLIMITED_AUTONOMOUS = "unlimited/autonomous"


class LimitValueError(ValueError):
    """A limit message field is wrong; names the field, what was expected and what was found."""

    def __init__(self, message_type: str, field: str, expected: str, found: object) -> None:
        self.message_type = message_type
        self.field = field
        self.expected = expected
        self.found = found
        super().__init__(f"{message_type}.{field}: expected {expected}, found {found!r}")


# --------------------------------------------------------------------------- field checks


def _number(msg: str, field: str, value: object, expected: str = "a finite number") -> float:
    # bool is an int subclass; a JSON `true` in a power field is a sender bug, not 1 W.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LimitValueError(msg, field, expected, value)
    return float(value)


def _non_negative(msg: str, field: str, value: object, why: str = "") -> float:
    expected = "a finite number >= 0" + (f" ({why})" if why else "")
    v = _number(msg, field, value, expected)
    if v < 0:
        raise LimitValueError(msg, field, expected, value)
    return v


def _flag(msg: str, field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise LimitValueError(msg, field, "true or false", value)
    return value


def _direction(msg: str, value: object) -> Direction:
    if isinstance(value, str) and value in Direction._value2member_map_:
        return Direction(value)
    raise LimitValueError(msg, "direction", "'consumption' or 'production'", value)


def _get(msg: str, data: Mapping[str, object], field: str) -> object:
    if field not in data:
        raise LimitValueError(msg, field, "a value", "nothing (field missing)")
    return data[field]


def _mapping(msg: str, data: object) -> Mapping[str, object]:
    if not isinstance(data, Mapping):
        raise LimitValueError(msg, "<message>", "a JSON object", type(data).__name__)
    return data


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class PowerLimit:
    """An Active Power Consumption (or Production) Limit written by the Energy Guard.

    `value_w` >= 0 (LPC-TS-001, LPC-TS-035/1: the CS rejects a negative value). `active` False is
    a deactivated limit, which still counts as "the limit following a heartbeat" (LPC-913, LPP-916).
    `duration_s` None or 0 means no expiry (eebus-go reports `Duration: 0` when no time period was
    sent; TestSpec case APCL_DUR_02); a positive duration makes the limit expire that long after it
    was accepted (LPC-TS-025/026).
    """

    value_w: float
    active: bool
    duration_s: float | None = None
    direction: Direction = Direction.CONSUMPTION

    def __post_init__(self) -> None:
        v = _non_negative("PowerLimit", "value_w", self.value_w, "LPC-TS-001: negative limits are rejected")
        object.__setattr__(self, "value_w", v)  # ints from JSON become floats, so equality is by value
        _flag("PowerLimit", "active", self.active)
        if self.duration_s is not None:
            d = _non_negative("PowerLimit", "duration_s", self.duration_s, "seconds, or null for no expiry")
            object.__setattr__(self, "duration_s", d)
        _direction("PowerLimit", self.direction)

    @property
    def expires(self) -> bool:
        """True when the limit carries a positive duration (None and 0 never expire)."""
        return self.duration_s is not None and self.duration_s > 0

    @classmethod
    def from_dict(cls, data: object) -> PowerLimit:
        """Check and build from decoded JSON; raises LimitValueError naming the bad field."""
        d = _mapping("PowerLimit", data)
        duration = d.get("duration_s")
        return cls(
            value_w=_non_negative("PowerLimit", "value_w", _get("PowerLimit", d, "value_w"), "LPC-TS-001"),
            active=_flag("PowerLimit", "active", _get("PowerLimit", d, "active")),
            duration_s=None if duration is None else _non_negative("PowerLimit", "duration_s", duration),
            direction=_direction("PowerLimit", d.get("direction", Direction.CONSUMPTION.value)),
        )


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The Energy Guard's DeviceDiagnosis heartbeat, sent at least every 60 s (LPC-TS-006).

    `counter` increases with every heartbeat; `timeout_s` is the sender's stated timeout (EEBus
    `heartbeatTimeout`), 120 s for LPC (LPC-911/912).
    """

    counter: int = 0
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if isinstance(self.counter, bool) or not isinstance(self.counter, int) or self.counter < 0:
            raise LimitValueError("Heartbeat", "counter", "an integer >= 0", self.counter)
        t = _number("Heartbeat", "timeout_s", self.timeout_s, "a finite number of seconds > 0")
        if t <= 0:
            raise LimitValueError("Heartbeat", "timeout_s", "a finite number of seconds > 0", self.timeout_s)

    @classmethod
    def from_dict(cls, data: object) -> Heartbeat:
        d = _mapping("Heartbeat", data)
        counter = d.get("counter", 0)
        if isinstance(counter, bool) or not isinstance(counter, int):
            raise LimitValueError("Heartbeat", "counter", "an integer >= 0", counter)
        timeout = _number("Heartbeat", "timeout_s", d.get("timeout_s", 120.0))
        return cls(counter=counter, timeout_s=timeout)


@dataclass(frozen=True, slots=True)
class FailsafeValues:
    """The failsafe limit (FCAPL/FPPL) and the Failsafe Duration Minimum.

    The vendor configures defaults (LPC-TS-011), the EG MAY overwrite them (011/1) and the CS SHOULD
    persist the change (LPC-TS-044). `duration_min_s` must lie in 2 h..24 h (LPC-TS-015).
    """

    limit_w: float
    duration_min_s: float = FAILSAFE_DURATION_MIN_S
    direction: Direction = Direction.CONSUMPTION

    def __post_init__(self) -> None:
        object.__setattr__(self, "limit_w", _non_negative("FailsafeValues", "limit_w", self.limit_w, "watts"))
        expected = "seconds within 7200..86400 (2 h..24 h, LPC-TS-015)"
        d = _number("FailsafeValues", "duration_min_s", self.duration_min_s, expected)
        if not FAILSAFE_DURATION_MIN_S <= d <= FAILSAFE_DURATION_MAX_S:
            raise LimitValueError("FailsafeValues", "duration_min_s", expected, self.duration_min_s)
        object.__setattr__(self, "duration_min_s", d)
        _direction("FailsafeValues", self.direction)

    @classmethod
    def from_dict(cls, data: object) -> FailsafeValues:
        d = _mapping("FailsafeValues", data)
        return cls(
            limit_w=_non_negative("FailsafeValues", "limit_w", _get("FailsafeValues", d, "limit_w")),
            duration_min_s=_number(
                "FailsafeValues", "duration_min_s", _get("FailsafeValues", d, "duration_min_s")
            ),
            direction=_direction("FailsafeValues", d.get("direction", Direction.CONSUMPTION.value)),
        )


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message the CS did not act on: which topic, from whom, and why.

    `source` is the sender the message claimed; for a message that failed authentication it is
    unverified (and may be empty when the message could not be read at all). It lives in the model,
    not in the energy manager, so that the bus codec can carry it to the grid operator.
    """

    topic: str
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of the CS, with the requirement IDs that justify it.

    `number` is the transition number 1..12 of notes §1.1 (OpenMUC numbering); `at` the monotonic
    time it took effect (a timeout's deadline, not the later moment it was noticed).
    """

    number: int
    direction: Direction
    from_state: LpcState
    to_state: LpcState
    at: float
    requirements: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class LimitState:
    """What the CS reports: its state, the limit it applies now, and why.

    `effective_limit_w` is the FCAPL in init and failsafe, the EG's limit in limited, None when
    unlimited. `limit` is the EG's last accepted limit (None after failsafe cleared it);
    `limit_active` mirrors the APCL data point, activated only in limited (LPC-009/1, 009/2).
    `since` and `at` are monotonic seconds.
    """

    direction: Direction
    state: LpcState
    effective_limit_w: float | None
    limit: PowerLimit | None
    limit_active: bool
    failsafe: FailsafeValues
    nominal_max_w: float
    since: float
    at: float
    reason: str
