"""Chain2Gate WebSocket frames: the three Chain 2 frame types and the device info decode to typed
frames with their units; bad messages name the field; unknown types are kept, not dropped.

No capture of a real Chain2Gate is public; the messages here follow the field names and shapes in
shared/notes/meter-ports.md §D.2 (the device's own JSON keys)."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridedge.ports.chain2.chain2gate import (
    Chain2Error,
    Chain2Info,
    Overload,
    PowerStep,
    QuarterHour,
    UnknownFrame,
    decode_message,
)

T = 1_765_000_800  # 2025-12-06T06:00:00Z


def frame(kind: str, payload: dict[str, object], meter: object = "IT001E12345678") -> str:
    return json.dumps({"Chain2Data": {"Meter": meter, "Type": kind, "Payload": payload}})


def test_quarter_hour_frame() -> None:
    payload = {"MeasurePosixTimestamp": T, "TariffCode": 2, "CurrQuartActEnergy": 412,
               "QuartAveragePower": 1648, "InstantPower": 2210, "TotalActEnergy": 8_123_456}  # fmt: skip
    cf1 = frame("CF1", payload)
    got = decode_message(cf1)
    assert got == QuarterHour(
        "IT001E12345678", datetime.fromtimestamp(T, UTC), 2, 412.0, 1648.0, 2210.0, 8_123_456.0
    )
    assert got.quarter_energy_wh * 4 == pytest.approx(got.average_power_w)  # Wh in 15 min vs W


def test_power_step_overload_and_info() -> None:
    step = decode_message(frame("CF21", {"EventPosixTimestamp": T + 7, "InstantPower": 3300}))
    assert step == PowerStep("IT001E12345678", datetime.fromtimestamp(T + 7, UTC), 3300.0)
    over = decode_message(frame("CF22", {"InstantPower": 3800, "AvailablePower": 3300,
                                        "SwitchOffCountdownSeconds": 120}, meter=12345))  # fmt: skip
    assert over == Overload("12345", 3800.0, 3300.0, 120.0) and over.excess_w == 500.0
    at = datetime(2026, 1, 15, 19, tzinfo=UTC)
    warning = over.warning(at)
    assert warning.available_power_w == 3300.0
    assert warning.disconnect_at == datetime(2026, 1, 15, 19, 2, tzinfo=UTC)
    info = decode_message('{"Chain2Info": {"Id": "C2G-00A1", "Ip": "192.168.1.20", "ProgId": "3.1"}}')
    assert info == Chain2Info("C2G-00A1", "192.168.1.20", "3.1")
    unknown = decode_message(frame("CF7", {"Something": 1}))
    assert unknown == UnknownFrame("IT001E12345678", "CF7", {"Something": 1})


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("{", "not JSON"),
        ("[1, 2]", "message: expected an object, found [1, 2]"),
        ('{"Other": 1}', "message: expected a Chain2Data or Chain2Info object, found ['Other']"),
        (frame("CF21", {"EventPosixTimestamp": T}),
         "CF21.Payload.InstantPower: expected a number, found None"),
        (frame("CF21", {"EventPosixTimestamp": T, "InstantPower": "3300"}),
         "expected a number, found '3300'"),
        (frame("CF22", {"InstantPower": 1, "AvailablePower": 3300, "SwitchOffCountdownSeconds": -5}),
         "CF22.Payload.SwitchOffCountdownSeconds: expected a number >= 0, found -5.0"),
        (frame("CF1", {"MeasurePosixTimestamp": T, "TariffCode": 9, "CurrQuartActEnergy": 1,
                       "QuartAveragePower": 1, "InstantPower": 1, "TotalActEnergy": 1}),
         "CF1.Payload.TariffCode: expected a tariff band 0..6"),
        (frame("CF21", {"EventPosixTimestamp": 1e300, "InstantPower": 1}), "expected a POSIX timestamp"),
        (frame("CF21", {"InstantPower": 1}, meter=""), "Chain2Data.Meter: expected a non-empty string"),
        (json.dumps({"Chain2Data": {"Meter": "m", "Type": "CF21", "Payload": []}}),
         "Chain2Data.Payload: expected an object, found []"),
    ],
)  # fmt: skip
def test_bad_messages_name_the_field(message: str, error: str) -> None:
    with pytest.raises(Chain2Error) as err:
        decode_message(message)
    assert error in str(err.value)


@given(st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(),
                    lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=20))  # fmt: skip
def test_any_json_decodes_or_raises_chain2error(value: object) -> None:
    for text in (json.dumps(value), json.dumps({"Chain2Data": value}), frame("CF1", {"x": value})):
        with contextlib.suppress(Chain2Error):
            decode_message(text)
