"""Limit messages: validation names field/expected/found, and they survive an orjson round trip."""

from __future__ import annotations

import orjson
import pytest

from gridedge.model.limits import (
    Direction,
    FailsafeValues,
    Heartbeat,
    LimitValueError,
    LpcState,
    PowerLimit,
)


def test_power_limit_rejects_negative_value_naming_the_field() -> None:
    with pytest.raises(LimitValueError) as ei:
        PowerLimit(-1.0, True)
    e = ei.value
    assert (e.field, e.found) == ("value_w", -1.0)
    assert "LPC-TS-001" in e.expected
    assert str(e).startswith("PowerLimit.value_w: expected")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "100"])
def test_power_limit_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(LimitValueError, match="value_w"):
        PowerLimit(bad, True)  # type: ignore[arg-type]


def test_power_limit_duration_none_and_zero_never_expire() -> None:
    assert not PowerLimit(1000, True).expires
    assert not PowerLimit(1000, True, 0).expires  # APCL_DUR_02
    assert PowerLimit(1000, True, 900).expires
    with pytest.raises(LimitValueError, match="duration_s"):
        PowerLimit(1000, True, -5)


@pytest.mark.parametrize("hours", [2, 12, 24])
def test_failsafe_duration_accepted_within_2_to_24_hours(hours: int) -> None:
    assert FailsafeValues(4200, hours * 3600.0).duration_min_s == hours * 3600.0


@pytest.mark.parametrize("seconds", [3600.0, 7199.0, 86401.0, 25 * 3600.0])
def test_failsafe_duration_outside_2_to_24_hours_rejected(seconds: float) -> None:
    with pytest.raises(LimitValueError) as ei:
        FailsafeValues(4200, seconds)
    assert ei.value.field == "duration_min_s"
    assert "LPC-TS-015" in ei.value.expected
    assert ei.value.found == seconds


def test_failsafe_limit_must_be_non_negative() -> None:
    with pytest.raises(LimitValueError, match=r"FailsafeValues\.limit_w"):
        FailsafeValues(-1, 7200)


def test_heartbeat_validation() -> None:
    assert Heartbeat(3).timeout_s == 120.0
    with pytest.raises(LimitValueError, match="counter"):
        Heartbeat(-1)
    with pytest.raises(LimitValueError, match="timeout_s"):
        Heartbeat(1, 0.0)


def test_messages_round_trip_through_orjson() -> None:
    messages = [
        PowerLimit(3500, True, 900, Direction.PRODUCTION),
        PowerLimit(0, False),
        FailsafeValues(4200, 7200, Direction.CONSUMPTION),
        Heartbeat(41, 120),
    ]
    for m in messages:
        data = orjson.loads(orjson.dumps(m))
        assert type(m).from_dict(data) == m  # type: ignore[attr-defined]
    assert orjson.loads(orjson.dumps(PowerLimit(1, True, None, Direction.PRODUCTION))) == {
        "value_w": 1.0,
        "active": True,
        "duration_s": None,
        "direction": "production",
    }


def test_from_dict_names_missing_and_wrong_fields() -> None:
    with pytest.raises(LimitValueError, match=r"PowerLimit\.active: expected a value, found 'nothing"):
        PowerLimit.from_dict({"value_w": 10})
    with pytest.raises(LimitValueError, match=r"PowerLimit\.direction: expected 'consumption' or"):
        PowerLimit.from_dict({"value_w": 10, "active": True, "direction": "sideways"})
    with pytest.raises(LimitValueError, match=r"PowerLimit\.active: expected true or false, found 1"):
        PowerLimit.from_dict({"value_w": 10, "active": 1})
    with pytest.raises(LimitValueError, match=r"FailsafeValues\.duration_min_s"):
        FailsafeValues.from_dict({"limit_w": 4200, "duration_min_s": 3600})
    with pytest.raises(LimitValueError, match="a JSON object"):
        Heartbeat.from_dict([1, 2])


def test_state_names_are_the_eebus_names() -> None:
    assert [s.value for s in LpcState] == [
        "init",
        "unlimited/controlled",
        "limited",
        "failsafe",
        "unlimited/autonomous",
    ]
    assert Direction.PRODUCTION.use_case == "LPP"
