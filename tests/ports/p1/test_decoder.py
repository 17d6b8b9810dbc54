"""The P1 decoder on the real corpus: every telegram is read, values are right, errors are clear."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from p1_support import CORPUS, crc_valid, telegram_files

from gridedge.model import BreakerState, MBusDeviceType, P1Variant, RawObject, TariffPeriod
from gridedge.ports.p1 import P1CrcError, P1Error, P1SyntaxError, P1TruncatedError, decode
from gridedge.ports.p1.crc import crc16_arc

TELEGRAMS = telegram_files()
BAD = sorted(CORPUS.rglob("bad/*.txt"))


def _id(p: Path) -> str:
    return str(p.relative_to(CORPUS))


def test_corpus_is_large() -> None:
    assert len(TELEGRAMS) >= 60
    assert len(BAD) >= 4


@pytest.mark.parametrize("path", TELEGRAMS, ids=_id)
def test_every_corpus_telegram_is_read(path: Path) -> None:
    data = path.read_bytes()
    valid = crc_valid(data)
    if valid is False:
        with pytest.raises(P1CrcError) as err:
            decode(data)
        assert err.value.expected != err.value.found
        reading = decode(data, check_crc=False, lenient=True)
    elif valid is None and data.find(b"!") < 0:
        # anonymised captures cut before their '!'
        with pytest.raises(P1TruncatedError):
            decode(data)
        reading = decode(data, lenient=True)
    else:
        reading = decode(data, lenient=True)
        assert (reading.crc is not None) == bool(valid)
    assert reading.header == data[data.index(b"/") + 1 :].split(b"\r\n")[0].split(b"\n")[0].decode()
    assert (
        reading.energy_import_kwh or reading.power_import_w is not None or reading.meter_id or reading.other
    )
    # nothing the meter said is dropped: every object line is decoded or kept raw
    lines = [ln for ln in data.split(b"!")[0].decode("latin-1").splitlines()[1:] if ln and ln[0] != "("]
    assert len(lines) >= len(reading.other)


def test_dsmr5_values_iskra() -> None:
    r = decode((CORPUS / "nielsbasjes_dsmr-tools/RealDSMR5_L43_ISK5_2M550T_1012.txt").read_bytes())
    assert r.variant is P1Variant.DSMR_5
    assert r.p1_version == "50"
    assert r.header == "ISK5\\2M550T-1012"
    assert r.meter_id == "E0044007131650618"
    assert r.timestamp == datetime(2019, 3, 24, 15, 5, 41, tzinfo=timezone(timedelta(hours=1)))
    assert r.tariff == 1 and r.tariff_period is TariffPeriod.LOW  # NL: 1 = low
    assert r.crc == 0x9DF0


def test_emucs_spec_example_values() -> None:
    data = (CORPUS / "athombv_node-dsmr-parser/emucs-p1-v2.1.1-spec-example-1.txt").read_bytes()
    r = decode(data, check_crc=False)
    assert r.variant is P1Variant.EMUCS_H
    assert r.p1_version == "50221"
    assert r.meter_id == "1SAG3101021605"
    assert r.access_point_id == "541440012345678900"
    # the S letter means CEST: 13:54:09 local is 11:54:09 UTC
    assert r.timestamp is not None and r.timestamp.astimezone(UTC) == datetime(
        2020, 5, 12, 11, 54, 9, tzinfo=UTC
    )
    assert r.energy_import_kwh == {1: 0.034, 2: 15.758}
    assert r.energy_export_kwh == {1: 0.0, 2: 0.011}
    assert r.tariff == 1 and r.tariff_period is TariffPeriod.NORMAL  # BE: 1 = day
    assert r.current_average_demand_w == 2351.0
    assert r.month_peak is not None and r.month_peak.power_w == 2589.0
    assert r.peak_history is not None and len(r.peak_history) == 3
    assert [m.power_w for m in r.peak_history] == [3695.0, 5980.0, 4318.0]
    assert r.peak_history[2].peak_time == datetime(
        2020, 2, 10, 3, 54, 21, tzinfo=timezone(timedelta(hours=1))
    )
    # the meter's own breaker is connected; M-Bus channel lines 0-n:96.3.10(0) must not overwrite it
    assert r.breaker_state is BreakerState.CONNECTED
    assert r.limiter_threshold is not None and (r.limiter_threshold.value, r.limiter_threshold.unit) == (
        99999.0,
        "W",
    )
    p1 = r.phase(1)
    assert p1 is not None and p1.fuse_threshold_a == 999.99 and p1.voltage_v == 234.7
    gas, water = r.mbus[0], r.mbus[1]
    assert gas.kind is MBusDeviceType.GAS and gas.value == 112.384 and gas.unit == "m3"
    assert gas.temperature_corrected is False  # 24.2.3: not temperature corrected (e-MUCS)
    assert gas.valve_state is BreakerState.CONNECTED
    assert water.kind is MBusDeviceType.WATER and water.value == 872.234
    assert [d.channel for d in r.mbus] == [1, 2, 3, 4]
    assert r.mbus[2].device_type is None and r.mbus[2].breaker_state is BreakerState.DISCONNECTED
    assert r.text_message == ""
    # 1-0:94.32.1 has no documented meaning: kept raw
    assert [o.obis for o in r.other] == ["1-0:94.32.1"]


def test_fluvius_invalid_history_timestamps_are_none() -> None:
    r = decode((CORPUS / "ndokter_dsmr_parser/telegram_fluvius_v171_alt.txt").read_bytes())
    assert r.peak_history is not None and len(r.peak_history) == 4
    assert r.peak_history[0].peak_time is None  # 632525252525W = "no value"
    assert r.peak_history[0].power_w == 0.0
    assert r.phase(1) is not None and r.phase(1).current_a == 0.27  # type: ignore[union-attr]
    assert r.mbus[1].temperature_corrected is True  # water on 0-2:24.2.1


def test_power_failure_log() -> None:
    r = decode((CORPUS / "nielsbasjes_dsmr-tools/PowerFailure_L35_ISK5_2M550T_1012.txt").read_bytes())
    assert r.power_failure_log is not None and len(r.power_failure_log) == 2
    assert r.power_failure_log[0].duration_s == 236
    assert r.power_failure_log[0].end == datetime(
        2018, 4, 17, 20, 14, 58, tzinfo=timezone(timedelta(hours=2))
    )


def test_mcs_zero_timestamps_and_unitless_durations() -> None:
    r = decode((CORPUS / "Wassasin_dsmr5/mcs.txt").read_bytes())
    assert r.timestamp is None
    assert r.power_failure_log is not None
    assert [f.duration_s for f in r.power_failure_log] == [23, 0, 8, 14]
    assert all(f.end is None for f in r.power_failure_log)


def test_austrian_wh_registers_in_kwh() -> None:
    r = decode((CORPUS / "ndokter_dsmr_parser/telegram_sagemcom_t210_d_r.txt").read_bytes())
    assert r.variant is P1Variant.AUSTRIA
    assert r.energy_import_kwh == {0: 6545.766, 1: 5017.12, 2: 1528.646}
    assert r.power_import_w == 286.0
    assert r.reactive_energy_export_kvarh[0] == 3897.726
    assert r.reactive_power_export_var == 166.0


def test_variants_are_recognised() -> None:
    expect = {
        "ndokter_dsmr_parser/telegram_v2_2.txt": P1Variant.DSMR_2_2,
        "ndokter_dsmr_parser/telegram_v3.txt": P1Variant.DSMR_3,
        "ndokter_dsmr_parser/telegram_v4_2.txt": P1Variant.DSMR_4,
        "ndokter_dsmr_parser/telegram_v5.txt": P1Variant.DSMR_5,
        "ndokter_dsmr_parser/telegram_fluvius_v171.txt": P1Variant.EMUCS_H,
        "athombv_node-dsmr-parser/dsmr-luxembourgh-spec-example.txt": P1Variant.LUXEMBOURG,
        "athombv_node-dsmr-parser/kamstrup-OMNIA-e-meter-three-phase.txt": P1Variant.NORDIC,
        "ndokter_dsmr_parser/telegram_sagemcom_t210_d_r.txt": P1Variant.AUSTRIA,
        "ndokter_dsmr_parser/telegram_v5_eon_hu.txt": P1Variant.HUNGARY,
        "ndokter_dsmr_parser/telegram_esy5q3da1004_v304.txt": P1Variant.GENERIC,
    }
    for name, variant in expect.items():
        assert decode((CORPUS / name).read_bytes(), check_crc=False, lenient=True).variant is variant, name


def test_hungary_frequency_and_power_factor() -> None:
    r = decode((CORPUS / "ndokter_dsmr_parser/telegram_v5_eon_hu.txt").read_bytes())
    assert r.frequency_hz == 50.0
    assert r.energy_import_kwh[3] == 0.0 and r.energy_import_kwh[0] == 173.64
    assert r.phase(2) is not None and r.phase(2).fuse_threshold_a == 200.0  # type: ignore[union-attr]
    assert r.tariff_period is None  # meaning of the Hungarian tariff codes is not ours to guess
    assert any(o.obis == "0-0:98.1.0" for o in r.other)  # billing snapshot kept raw


def test_dsmr3_gas_value_on_next_line() -> None:
    r = decode((CORPUS / "ndokter_dsmr_parser/telegram_v3.txt").read_bytes())
    gas = r.mbus[0]
    assert gas.value == 1.001 and gas.unit == "m3"
    assert gas.capture_time == datetime(2009, 2, 12, 16, 0, tzinfo=gas.capture_time.tzinfo)  # type: ignore[union-attr]
    assert r.limiter_threshold is not None and r.limiter_threshold.unit == "A"
    assert r.message_code == "012345678"
    assert r.text_message is not None and r.text_message.startswith("0123456789:;<=>?")


def test_easymeter_f_group_and_trailing_bytes() -> None:
    r = decode((CORPUS / "ndokter_dsmr_parser/telegram_esy5q3da1004_v304.txt").read_bytes())
    assert r.energy_import_kwh == {0: 32549.5061662}
    assert r.power_import_w == 1688.21
    assert r.phase(3) is not None and r.phase(3).power_import_w == 609.30  # type: ignore[union-attr]


def test_unpadded_three_digit_crc() -> None:
    r = decode((CORPUS / "ndokter_dsmr_parser/telegram_unpadded_crc.txt").read_bytes())
    assert r.crc == 0xB9F
    assert r.mbus[0].unit == "GJ" and r.mbus[0].value == 240.86


def test_missing_blank_line_after_header() -> None:
    data = (CORPUS / "ndokter_dsmr_parser/telegram_v5.txt").read_bytes()
    without = data.replace(b"\r\n\r\n", b"\r\n", 1)
    a = decode(data)
    b = decode(without, check_crc=False)
    assert b.energy_import_kwh == a.energy_import_kwh and b.phases == a.phases


# --- errors ----------------------------------------------------------------------------------


def test_crc_error_names_expected_and_found() -> None:
    with pytest.raises(P1CrcError) as err:
        decode((CORPUS / "athombv_node-dsmr-parser/dsmr-5.0-spec-example.txt").read_bytes())
    assert (err.value.expected, err.value.found) == (0xE47C, 0xEF2F)
    assert "E47C" in str(err.value) and "EF2F" in str(err.value)


def test_bad_files_give_the_right_error() -> None:
    bad = {p.name: p.read_bytes() for p in BAD}
    with pytest.raises(P1TruncatedError, match="new header starts at line 17"):
        decode(bad["BadTelegram_L35_ISK5_2M550T_1012.txt"])
    with pytest.raises(P1CrcError) as crc:
        decode(bad["CRCValidator_L116_ISK5_2M550T_1012.txt"])
    assert crc.value.found == 0x1234
    with pytest.raises(P1CrcError) as crc2:
        decode(bad["DsmrParser_L268_ISk5_2MT382_1000.txt"])
    assert crc2.value.found == 0xBAD0
    with pytest.raises(P1SyntaxError) as syn:
        decode(bad["DsmrParser_L268_ISk5_2MT382_1000.txt"], check_crc=False)
    assert (syn.value.line, syn.value.column) == (5, 1) and syn.value.text.startswith("A-0:96.1.1")
    # a header glued mid-line after dropped bytes
    with pytest.raises(P1TruncatedError, match="line 12"):
        decode(bad["overflow.txt"])


def test_value_error_names_line_and_column() -> None:
    data = (CORPUS / "ndokter_dsmr_parser/telegram_v2_2.txt").read_bytes()
    broken = data.replace(b"1-0:1.7.0(0001.01*kW)", b"1-0:1.7.0(0001.01*kWh)")
    with pytest.raises(P1SyntaxError) as err:
        decode(broken)
    assert err.value.line == 9 and err.value.column == 11
    assert "kWh" in str(err.value)


def test_non_ascii_byte_is_located() -> None:
    data = (
        (CORPUS / "ndokter_dsmr_parser/telegram_v2_2.txt")
        .read_bytes()
        .replace(b"0001.01*kW", b"00\xe91.01*kW")
    )
    with pytest.raises(P1SyntaxError) as err:
        decode(data)
    assert "0xE9" in str(err.value) and err.value.line == 9


def test_garbage_raises_only_p1_errors() -> None:
    for junk in (b"", b"!", b"/", b"/\r\n!", b"\xff\xfe/abc\r\n1-0:1.8.1(\r\n!ZZZZ", b"/X\r\n(((\r\n!"):
        with pytest.raises(P1Error):
            decode(junk)


def test_empty_peak_history_of_ores_meters() -> None:
    data = (CORPUS / "ndokter_dsmr_parser/telegram_fluvius_v171_alt.txt").read_bytes()
    start = data.index(b"0-0:98.1.0(")
    end = data.index(b"\r\n", start)
    empty = data[:start] + b"0-0:98.1.0(0)(1-0:1.6.0)(1-0:1.6.0)()" + data[end:]
    r = decode(empty, check_crc=False)
    assert r.peak_history == ()
    assert not any(o.obis == "0-0:98.1.0" for o in r.other)


def test_value_group_f_dot_form() -> None:
    data = (CORPUS / "ndokter_dsmr_parser/telegram_v5.txt").read_bytes()
    r = decode(data.replace(b"1-0:31.7.0(", b"1-0:31.7.0.255("), check_crc=False)
    assert r.phase(1) == decode(data).phase(1)


# --- review findings: each a case that once went wrong --------------------------------------


def _with_crc(body: bytes) -> bytes:
    """`body` from '/' to '!' completed with its CRC, as a meter would send it."""
    return body + f"{crc16_arc(body):04X}".encode() + b"\r\n"


def test_slash_in_a_plain_text_message_is_text() -> None:
    data = (CORPUS / "ndokter_dsmr_parser/telegram_v2_2.txt").read_bytes()
    data = data.replace(b"0-0:96.13.0()", b"0-0:96.13.0(Storing/Fout op 12/03)")
    r = decode(data)
    assert r.text_message == "Storing/Fout op 12/03"
    assert r.mbus[0].value == 1.001


def test_header_like_text_in_a_crc_valid_telegram_is_text() -> None:
    data = (CORPUS / "nielsbasjes_dsmr-tools/RealDSMR5_L43_ISK5_2M550T_1012.txt").read_bytes()
    body = data[: data.index(b"!") + 1].replace(
        b"0-0:96.13.0()", b"0-0:96.13.0()\r\n0-0:96.99.0(http://Abc1)"
    )
    r = decode(_with_crc(body))
    assert ("0-0:96.99.0", ("http://Abc1",)) in [(o.obis, o.values) for o in r.other]


def test_missing_crc_on_a_dsmr5_telegram_is_an_error() -> None:
    data = (CORPUS / "nielsbasjes_dsmr-tools/RealDSMR5_L43_ISK5_2M550T_1012.txt").read_bytes()
    stripped = data[: data.index(b"!") + 1] + b"\r\n"
    with pytest.raises(P1CrcError, match="CRC missing") as err:
        decode(stripped)
    assert err.value.found is None
    assert decode(stripped, check_crc=False).p1_version == "50"


def test_huge_numbers_are_syntax_errors_not_overflow() -> None:
    data = (CORPUS / "ndokter_dsmr_parser/telegram_v2_2.txt").read_bytes()
    for old in (b"0001.01*kW", b"00001.001*kWh", b"0999.00*kW"):
        huge = data.replace(old, b"9" * 400 + b".5*" + old.split(b"*")[1])
        with pytest.raises(P1SyntaxError):
            decode(huge)
        assert decode(huge, lenient=True).other  # kept raw


def test_extra_values_are_not_dropped() -> None:
    data = (CORPUS / "ndokter_dsmr_parser/telegram_v2_2.txt").read_bytes()
    extra = data.replace(b"0-0:96.14.0(0001)", b"0-0:96.14.0(0001)(0002)")
    with pytest.raises(P1SyntaxError, match="expected 1 value, found 2"):
        decode(extra)
    assert RawObject("0-0:96.14.0", ("0001", "0002")) in decode(extra, lenient=True).other


def test_peak_history_count_must_match() -> None:
    data = (CORPUS / "ndokter_dsmr_parser/telegram_fluvius_v171_alt.txt").read_bytes()
    short = data.replace(b"0-0:98.1.0(4)", b"0-0:98.1.0(5)")
    with pytest.raises(P1SyntaxError, match="announces 5 months"):
        decode(short, check_crc=False, lenient=False)


def test_units_are_checked_where_they_vary() -> None:
    data = (CORPUS / "ndokter_dsmr_parser/telegram_v5_eon_hu.txt").read_bytes()
    with pytest.raises(P1SyntaxError, match="unit"):
        decode(data.replace(b"1-0:13.7.0(4.556)", b"1-0:13.7.0(4.556*kW)"), check_crc=False, lenient=False)
    with pytest.raises(P1SyntaxError, match="unknown unit"):
        decode(data.replace(b"0-0:17.0.0(90.000*kW)", b"0-0:17.0.0(90*foo)"), check_crc=False, lenient=False)
    with pytest.raises(P1SyntaxError, match="not a number"):
        decode(data.replace(b"1-0:13.7.0(4.556)", b"1-0:13.7.0(nan)"), check_crc=False, lenient=False)


def test_text_message_with_line_breaks_is_decoded() -> None:
    data = (CORPUS / "ndokter_dsmr_parser/telegram_v5.txt").read_bytes()
    body = data[: data.index(b"!") + 1]
    hexed = b"Hello\r\nWorld\t!".hex().upper().encode()
    body = body.replace(b"0-0:96.13.0()", b"0-0:96.13.0(" + hexed + b")")
    assert decode(_with_crc(body)).text_message == "Hello\r\nWorld\t!"
