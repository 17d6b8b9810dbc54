"""Encrypted P1 (Luxembourg Smarty): the two corpus APDUs, the APDU framer, the encoder round trip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gridedge.model.reading import MeterReading, P1Variant
from gridedge.ports.dlms import (
    DlmsAuthenticationError,
    DlmsKeyError,
    DlmsTruncatedError,
    SecurityKeys,
    TagPolicy,
    parse_general_glo_ciphering,
    parse_hex_dump,
)
from gridedge.ports.p1 import P1EncryptionError, P1OverflowError, P1TruncatedError, decode
from gridedge.ports.p1.encrypted import EncryptedFramer, decrypt_telegram, encode_encrypted

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
P1_DIR = CORPUS / "p1" / "athombv_node-dsmr-parser"
assert P1_DIR.is_dir(), f"corpus not found at {CORPUS}"

EK = "0123456789abcdef0123456789abcdef"
AK = "ffeeddccbbaa99887766554433221100"
KEYS = SecurityKeys.from_hex(EK, AK)


def _sample(name: str) -> bytes:
    return parse_hex_dump((P1_DIR / "encrypted" / f"dsmr-luxembourgh-spec-example-{name}.txt").read_text())


def _spec_reading() -> MeterReading:
    return decode((P1_DIR / "dsmr-luxembourgh-spec-example.txt").read_bytes(), check_crc=False, lenient=True)


def _without_crc(reading: MeterReading) -> MeterReading:
    return dataclasses.replace(reading, crc=None)


@pytest.mark.parametrize(
    ("name", "keys", "policy"),
    [
        ("with-aad", KEYS, TagPolicy.REQUIRE),
        ("with-aad", SecurityKeys.from_hex(EK), TagPolicy.IGNORE),
        ("without-aad", SecurityKeys.from_hex(EK), TagPolicy.EMPTY_AAD),
        ("without-aad", SecurityKeys.from_hex(EK), TagPolicy.IGNORE),
    ],
)
def test_corpus_samples_decrypt_to_the_plain_spec_example(
    name: str, keys: SecurityKeys, policy: TagPolicy
) -> None:
    telegram = decrypt_telegram(_sample(name), keys, policy=policy)
    assert telegram.startswith(b"/Lux5\\253694471_M\r\n")
    assert telegram.endswith(b"!8B52")  # no CR LF after the CRC in these samples
    reading = decode(telegram, check_crc=False, lenient=True)
    expected = _spec_reading()
    assert reading.variant is P1Variant.LUXEMBOURG
    assert reading.meter_id == "SAG1030790002574"
    assert _without_crc(reading) == _without_crc(expected)


def test_the_printed_crc_of_the_spec_example_is_wrong() -> None:
    telegram = decrypt_telegram(_sample("with-aad"), KEYS)
    with pytest.raises(Exception, match="computes to 6DA1 but carries 8B52"):
        decode(telegram)


def test_tag_failure_maps_to_p1_encryption_error_with_its_cause() -> None:
    with pytest.raises(P1EncryptionError, match="does not match") as info:
        decrypt_telegram(_sample("without-aad"), KEYS)  # its tag covers no AAD
    assert isinstance(info.value.__cause__, DlmsAuthenticationError)
    with pytest.raises(P1EncryptionError) as info:
        decrypt_telegram(_sample("with-aad"), SecurityKeys.from_hex(EK))  # no AK to verify with
    assert isinstance(info.value.__cause__, DlmsKeyError)


def test_wrong_key_without_tag_check_is_caught_by_the_header_test() -> None:
    wrong = SecurityKeys.from_hex("00" * 16)
    with pytest.raises(P1EncryptionError, match="does not start with the telegram header"):
        decrypt_telegram(_sample("with-aad"), wrong, policy=TagPolicy.IGNORE)


def test_truncated_and_padded_apdus_are_refused() -> None:
    data = _sample("with-aad")
    with pytest.raises(P1EncryptionError) as info:
        decrypt_telegram(data[:700], KEYS)
    assert isinstance(info.value.__cause__, DlmsTruncatedError)
    with pytest.raises(P1EncryptionError, match="3 bytes follow the 1515-byte APDU"):
        decrypt_telegram(data + b"\r\n\x00", KEYS)
    with pytest.raises(P1EncryptionError, match="0xDB"):
        decrypt_telegram(b"/ISK5 not an APDU", KEYS)


def test_encode_encrypted_round_trip() -> None:
    reading = _spec_reading()
    apdu = encode_encrypted(reading, KEYS, b"SAGgrid1", 0x1234)
    parsed, used = parse_general_glo_ciphering(apdu)
    assert used == len(apdu)
    assert parsed.system_title == b"SAGgrid1"
    assert parsed.frame_counter == 0x1234
    assert parsed.security_control == 0x30
    telegram = decrypt_telegram(apdu, KEYS)
    back = decode(telegram)  # the encoder writes a correct CRC
    assert back.crc is not None
    assert _without_crc(back) == _without_crc(reading)
    # a different frame counter gives a different ciphertext (a fresh GCM IV)
    assert encode_encrypted(reading, KEYS, b"SAGgrid1", 0x1235)[18:60] != apdu[18:60]


def test_encode_encrypted_needs_an_authentication_key() -> None:
    with pytest.raises(P1EncryptionError, match="authentication key") as info:
        encode_encrypted(_spec_reading(), SecurityKeys.from_hex(EK), b"SAGgrid1", 1)
    assert isinstance(info.value.__cause__, DlmsKeyError)


# --- the APDU framer ------------------------------------------------------------------------------


def _stream() -> tuple[bytes, bytes, bytes]:
    first = _sample("with-aad")
    second = encode_encrypted(_spec_reading(), KEYS, b"systitle", 0x11223345)
    garbage = b"\x00\xff\xdb\x07junk\xdb\x08ab\r\n"  # two false 0xDB starts among the noise
    return first, second, b"\x13\x37" + first + garbage + second


@pytest.mark.parametrize("size", [1, 3, 64, 1000, 1 << 20])
def test_framer_splits_apdus_with_garbage_between_in_any_chunking(size: int) -> None:
    first, second, stream = _stream()
    framer = EncryptedFramer()
    out: list[bytes | Exception] = []
    for i in range(0, len(stream), size):
        out += framer.feed(stream[i : i + size])
    out += framer.flush()
    assert out == [first, second]
    assert framer.stats.apdus == 2
    assert framer.stats.skipped_bytes == len(stream) - len(first) - len(second)
    assert isinstance(out[1], bytes)
    assert decode(decrypt_telegram(out[1], KEYS)).meter_id == "SAG1030790002574"


def test_framer_reports_positions_and_a_cut_last_apdu() -> None:
    first, second, stream = _stream()
    framer = EncryptedFramer()
    cut = stream[:-100]
    items = framer.feed_positions(cut) + framer.flush_positions()
    assert items[0] == (2, first)
    offset, error = items[1]
    assert isinstance(error, P1TruncatedError)
    assert offset == len(stream) - len(second)
    assert f"began at byte {offset}" in str(error)
    assert framer.stats.truncated == 1


def test_framer_bounds_its_buffer_and_resynchronises() -> None:
    first = _sample("with-aad")
    # a plausible header announcing 70000 bytes: more than the bound, so it is dropped
    bogus = b"\xdb\x08systitle\x83\x01\x11\x70\x30\x00\x00\x00\x01"
    framer = EncryptedFramer(max_size=4096)
    items = framer.feed(bogus + first) + framer.flush()
    assert isinstance(items[0], P1OverflowError)
    assert "more than the bound of 4096" in str(items[0])
    assert items[1:] == [first]
    assert framer.stats.overflows == 1
    # noise without 0xDB is skipped as it arrives, nothing of it is kept
    noise = bytes(range(256)).replace(b"\xdb", b"") * 100
    skipped = framer.stats.skipped_bytes
    assert framer.feed(noise) == []
    assert framer.stats.skipped_bytes == skipped + len(noise)


def test_framer_rejects_a_tiny_bound() -> None:
    with pytest.raises(ValueError, match="at least 64"):
        EncryptedFramer(max_size=10)
