"""Chain 2 frames and Alfa registers as readings: canonical units (kWh, W), the ARERA band carried
as tariff and period, the quarter's average power as demand, and CF21 steps completed with the last
CF1's registers. The writers (`encode_message`, `encode_alfa`) give back what the decoders read, so
the virtual meter and the readers agree on the device formats.

Sources: field names and units from shared/notes/meter-ports.md §D.2 (Chain2Gate JSON,
ha-sinapsi-alfa register map); bands from ARERA deliberation 181/06 (F1 peak, F2 intermediate,
F3 off-peak)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridedge.model.reading import P1Variant, TariffPeriod
from gridedge.ports.chain2.chain2gate import (
    Chain2Info,
    Overload,
    PowerStep,
    QuarterHour,
    UnknownFrame,
    decode_message,
    encode_message,
)
from gridedge.ports.chain2.readings import Chain2Readings, alfa_reading, band_period, quarter_hour_reading
from gridedge.ports.chain2.sinapsi import AlfaReading, SinapsiError, decode_alfa, encode_alfa

T = datetime(2026, 1, 15, 18, 0, tzinfo=UTC)  # a Thursday, 19:00 in Rome: band F2
T1 = datetime(2026, 1, 15, 18, 3, 7, tzinfo=UTC)


def cf1(meter: str = "IT001E12345678", band: int = 2, total_wh: float = 8_123_456) -> str:
    payload = {"MeasurePosixTimestamp": int(T.timestamp()), "TariffCode": band, "CurrQuartActEnergy": 412,
               "QuartAveragePower": 1648, "InstantPower": 2210, "TotalActEnergy": total_wh}  # fmt: skip
    return json.dumps({"Chain2Data": {"Meter": meter, "Type": "CF1", "Payload": payload}})


def cf21(meter: str = "IT001E12345678", power: float = 3300) -> str:
    payload = {"EventPosixTimestamp": int(T1.timestamp()), "InstantPower": power}
    return json.dumps({"Chain2Data": {"Meter": meter, "Type": "CF21", "Payload": payload}})


def test_a_quarter_hour_frame_is_a_reading_in_kwh_and_w() -> None:
    frame = decode_message(cf1())
    assert isinstance(frame, QuarterHour)
    r = quarter_hour_reading(frame)
    assert r.variant is P1Variant.CHAIN2 and r.meter_id == "IT001E12345678" and r.timestamp == T
    assert r.energy_import_kwh == {0: 8123.456} and r.energy_import_total_kwh == 8123.456
    assert r.energy_export_kwh == {}  # CF1 says nothing about export: unknown, not zero
    assert (r.power_import_w, r.power_export_w) == (2210.0, None)
    assert r.current_average_demand_w == 1648.0  # 412 Wh in 15 min
    assert (r.tariff, r.tariff_period) == (2, TariffPeriod.INTERMEDIATE)
    assert r.net_power_w == 2210.0


@pytest.mark.parametrize(
    ("band", "period"),
    [(1, TariffPeriod.NORMAL), (2, TariffPeriod.INTERMEDIATE), (3, TariffPeriod.LOW), (4, None), (6, None),
     (0, None), (None, None)],
)  # fmt: skip
def test_arera_bands_as_tariff_periods(band: int | None, period: TariffPeriod | None) -> None:
    assert band_period(band) is period


def test_a_power_step_is_completed_with_the_last_quarter_of_its_meter() -> None:
    state = Chain2Readings()
    before = state.feed(decode_message(cf21(power=900)))
    assert before is not None and before.power_import_w == 900.0
    assert before.energy_import_kwh == {} and before.tariff is None  # no CF1 yet: registers unknown
    assert state.feed(decode_message(cf1(total_wh=8_123_456))) is not None
    assert state.feed(decode_message(cf1(meter="IT001E99", band=3, total_wh=500))) is not None
    step = state.feed(decode_message(cf21(power=3300)))
    assert step is not None and step.timestamp == T1 and step.header.endswith("CF21")
    assert step.power_import_w == 3300.0 and step.meter_id == "IT001E12345678"
    assert step.energy_import_kwh == {0: 8123.456} and step.current_average_demand_w == 1648.0
    assert (step.tariff, step.tariff_period) == (2, TariffPeriod.INTERMEDIATE)
    other = state.feed(decode_message(cf21(meter="IT001E99", power=0)))
    assert other is not None and other.energy_import_kwh == {0: 0.5} and other.tariff == 3
    overload = decode_message(encode_message(Overload("IT001E12345678", 3800.0, 3300.0, 120.0)))
    assert state.feed(overload) is None and state.feed(Chain2Info("C2G", "", "")) is None


def test_an_alfa_snapshot_is_a_reading_with_both_directions() -> None:
    alfa = AlfaReading(
        import_w=0.0, export_w=1250.0, import_avg_15min_w=40.0, export_avg_15min_w=1100.0,
        import_wh=0x0001_2345, export_wh=812, import_yesterday_wh=(1, 2, 3, 0, 0, 0),
        export_yesterday_wh=(4, 5, 6, 0, 0, 0), tariff_band=1, seconds_left=None, disconnect_at=None,
        production_w=1500.0, production_wh=4321,
    )  # fmt: skip
    r = alfa_reading(alfa, "IT001E1", T)
    assert r.energy_import_kwh == {0: 74.565} and r.energy_export_kwh == {0: 0.812}
    assert (r.power_import_w, r.power_export_w, r.net_power_w) == (0.0, 1250.0, -1250.0)
    assert (r.current_average_demand_w, r.current_average_demand_export_w) == (40.0, 1100.0)
    assert (r.tariff, r.tariff_period, r.timestamp, r.meter_id) == (1, TariffPeriod.NORMAL, T, "IT001E1")
    warm = alfa_reading(decode_alfa(encode_alfa(alfa) | {203: 0}), "IT001E1", T)
    assert warm.tariff is None and warm.tariff_period is None


times = st.integers(0, 2**32).map(lambda s: datetime.fromtimestamp(s, UTC))
frames = st.one_of(
    st.builds(
        QuarterHour, st.text(min_size=1), times,
        st.integers(0, 6), st.integers(0, 10**6).map(float), st.integers(0, 10**6).map(float),
        st.floats(0, 1e6, allow_nan=False), st.integers(0, 10**12).map(float),
    ),
    st.builds(PowerStep, st.text(min_size=1), times, st.floats(0, 1e6, allow_nan=False)),
    st.builds(Overload, st.text(min_size=1), st.floats(0, 1e6), st.floats(0, 1e6), st.floats(0, 1e5)),
    st.builds(Chain2Info, st.text(min_size=1), st.text(), st.text()),
)  # fmt: skip


@given(frames)
def test_what_the_virtual_device_writes_decodes_to_the_same_frame(frame: object) -> None:
    assert decode_message(encode_message(frame)) == frame  # type: ignore[arg-type]


def test_unknown_frames_are_written_back_as_they_came() -> None:
    unknown = UnknownFrame("IT001", "CF7", {"Something": 1})
    assert decode_message(encode_message(unknown)) == unknown
    text = encode_message(QuarterHour("IT001", T, 1, 250.0, 1000.0, 1200.0, 5000.0))
    assert json.loads(text) == {"Chain2Data": {"Meter": "IT001", "Type": "CF1", "Payload": {
        "MeasurePosixTimestamp": 1768500000, "TariffCode": 1, "CurrQuartActEnergy": 250,
        "QuartAveragePower": 1000, "InstantPower": 1200, "TotalActEnergy": 5000}}}  # fmt: skip


def test_alfa_registers_written_as_the_device_holds_them() -> None:
    """W and Wh as unsigned integers, 32-bit values high word first, 782 = 65535 without countdown,
    and 780 + 782 = the disconnection time, as ha-sinapsi-alfa reads them."""
    at = datetime(2026, 1, 15, 19, 1, 30, tzinfo=UTC)
    alfa = AlfaReading(4100.0, 0.0, 3900.0, 0.0, 70_000, 5, (1, 2, 3, 4, 5, 65_536), (0,) * 6, 2, 90, at,
                       None, None)  # fmt: skip
    regs = encode_alfa(alfa)
    assert (regs[2], regs[9], regs[5], regs[6]) == (4100, 3900, 1, 70_000 - 65_536)
    assert (regs[40], regs[41]) == (1, 0)  # F6 yesterday: 65536 Wh
    assert regs[203] == 2 and regs[782] == 90
    event = (regs[780] << 16) | regs[781]
    assert event + 90 == int(at.timestamp())
    assert 921 not in regs  # no production meter
    assert decode_alfa(regs) == alfa
    quiet = AlfaReading(10.0, 0.0, 0.0, 0.0, 0, 0, (0,) * 6, (0,) * 6, None, None, None, 1.0, 2)
    regs = encode_alfa(quiet)
    assert regs[782] == 65535 and regs[203] == 0 and (regs[921], regs[924], regs[925]) == (1, 0, 2)
    assert decode_alfa(regs) == quiet
    with pytest.raises(SinapsiError, match="register 2: 70000"):
        encode_alfa(AlfaReading(70_000.0, 0.0, 0.0, 0.0, 0, 0, (0,) * 6, (0,) * 6, 1, None, None, None, None))
