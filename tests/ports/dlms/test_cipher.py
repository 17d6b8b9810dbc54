"""DLMS general-glo-ciphering: corpus samples, third-party peers and property tests."""

from __future__ import annotations

import contextlib
import json
import pickle
import random
from pathlib import Path

import fastcrc
import pytest
from dlms_cosem import security as dlms_security  # type: ignore[import-untyped]
from dsmr_parser import telegram_specifications  # type: ignore[import-untyped]
from dsmr_parser.exceptions import DecryptionError as DsmrDecryptionError  # type: ignore[import-untyped]
from dsmr_parser.parsers import TelegramParser  # type: ignore[import-untyped]
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from gridedge.ports.dlms import (
    GENERAL_DED_CIPHERING,
    GENERAL_GLO_CIPHERING,
    LUXEMBOURG_SMARTY_AUTHENTICATION_KEY,
    SERVICE_SPECIFIC_CIPHERING_TAGS,
    CipheredApdu,
    DlmsAuthenticationError,
    DlmsError,
    DlmsFrameError,
    DlmsKeyError,
    DlmsTruncatedError,
    HexDumpError,
    SecurityKeys,
    TagPolicy,
    decrypt,
    encrypt,
    parse_general_glo_ciphering,
    parse_hex_dump,
    parse_service_specific_ciphering,
)

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
P1_DIR = CORPUS / "p1" / "athombv_node-dsmr-parser"
DLMS_DIR = CORPUS / "dlms" / "athombv_node-dsmr-parser"
# the corpus is part of the project's shared/ folder: missing it is an error, never a skip
assert P1_DIR.is_dir(), f"corpus not found at {CORPUS}"

EK = bytes.fromhex("0123456789abcdef0123456789abcdef")
AK = bytes.fromhex("ffeeddccbbaa99887766554433221100")
KEYS = SecurityKeys(EK, AK)
SAMPLE_TITLE = b"systitle"
SAMPLE_COUNTER = 0x11223344

keys16 = st.binary(min_size=16, max_size=16)


def _sample(name: str) -> bytes:
    return parse_hex_dump((P1_DIR / "encrypted" / f"dsmr-luxembourgh-spec-example-{name}.txt").read_text())


def _plain_spec_example() -> bytes:
    return (P1_DIR / "dsmr-luxembourgh-spec-example.txt").read_bytes()


def _decipher(data: bytes, keys: SecurityKeys = KEYS, policy: TagPolicy = TagPolicy.REQUIRE) -> bytes:
    apdu, _ = parse_general_glo_ciphering(data)
    return decrypt(apdu, keys, policy=policy)


def _with_crc(telegram_body: bytes) -> bytes:
    """Terminate ``/``..``!`` with a valid CRC-16/ARC and CR LF."""
    return telegram_body + b"%04X\r\n" % fastcrc.crc16.arc(telegram_body)


# --- the two Luxembourg samples -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["with-aad", "without-aad"])
def test_luxembourg_sample_layout(name: str) -> None:
    data = _sample(name)
    apdu, used = parse_general_glo_ciphering(data)
    assert used == len(data) == 1515
    assert data[10:13] == bytes.fromhex("8205de")  # 1502 = SC 1 + FC 4 + ciphertext 1485 + tag 12
    assert apdu.tag == GENERAL_GLO_CIPHERING
    assert apdu.name == "general-glo-ciphering"
    assert apdu.system_title == SAMPLE_TITLE
    assert apdu.security_control == 0x30
    assert apdu.authenticated and apdu.encrypted and not apdu.broadcast_key
    assert apdu.frame_counter == SAMPLE_COUNTER
    assert apdu.iv == b"systitle\x11\x22\x33\x44"
    assert len(apdu.ciphertext) == 1485
    assert apdu.auth_tag is not None and len(apdu.auth_tag) == 12
    assert apdu.to_bytes() == data


def test_samples_differ_only_in_the_tag() -> None:
    with_aad, without_aad = _sample("with-aad"), _sample("without-aad")
    assert with_aad[:-12] == without_aad[:-12]
    assert with_aad[-12:] != without_aad[-12:]


def test_with_aad_sample_decrypts_to_the_spec_example() -> None:
    telegram = _decipher(_sample("with-aad"))
    plain = _plain_spec_example()
    # the ciphered telegram is the spec example byte for byte, but without the final CR LF
    assert plain.endswith(b"\r\n")
    assert telegram == plain[:-2]
    assert telegram.startswith(b"/Lux5\\253694471_M\r\n")
    assert telegram.endswith(b"\r\n!8B52")
    # the spec example's printed CRC is wrong; node-dsmr-parser's oracle agrees (crcValid false)
    body = telegram[: telegram.rindex(b"!") + 1]
    assert fastcrc.crc16.arc(body) == 0x6DA1
    expected = json.loads((P1_DIR / "expected" / "dsmr-luxembourgh-spec-example.json").read_text())
    assert expected["crcValid"] is False


def test_without_aad_sample_tag_covers_no_aad_at_all() -> None:
    data = _sample("without-aad")
    apdu, _ = parse_general_glo_ciphering(data)
    plain = _plain_spec_example()[:-2]
    # SC says 0x30, but no authentication key makes the standard AAD = SC || AK verify
    with pytest.raises(DlmsAuthenticationError, match="does not match"):
        decrypt(apdu, KEYS)
    with pytest.raises(DlmsAuthenticationError):
        decrypt(apdu, SecurityKeys(EK, LUXEMBOURG_SMARTY_AUTHENTICATION_KEY))
    # without an AK the default policy refuses rather than silently skipping the tag
    with pytest.raises(DlmsKeyError, match="authentication key is needed"):
        decrypt(apdu, SecurityKeys(EK))
    # deciphering without verification works, as does verifying over an empty AAD
    assert decrypt(apdu, SecurityKeys(EK), policy=TagPolicy.IGNORE) == plain
    assert decrypt(apdu, SecurityKeys(EK), policy=TagPolicy.EMPTY_AAD) == plain
    # ... and the empty-AAD check is a real check: the standard sample fails it
    with pytest.raises(DlmsAuthenticationError):
        _decipher(_sample("with-aad"), policy=TagPolicy.EMPTY_AAD)


def test_wrong_encryption_key_is_an_authentication_error() -> None:
    wrong = bytes.fromhex("0123456789abcdef0123456789abcdee")
    with pytest.raises(DlmsAuthenticationError, match="wrong encryption key, wrong authentication key"):
        _decipher(_sample("with-aad"), SecurityKeys(wrong, AK))
    with pytest.raises(DlmsAuthenticationError):
        _decipher(_sample("without-aad"), SecurityKeys(wrong), TagPolicy.EMPTY_AAD)
    # IGNORE cannot notice: the result is garbage that the DSMR layer must reject
    garbage = _decipher(_sample("with-aad"), SecurityKeys(wrong), TagPolicy.IGNORE)
    assert not garbage.startswith(b"/")


def test_wrong_authentication_key_is_an_authentication_error() -> None:
    with pytest.raises(DlmsAuthenticationError) as info:
        _decipher(_sample("with-aad"), SecurityKeys(EK, bytes(16)))
    assert info.value.offset is None
    assert "7379737469746c65" in str(info.value) and "0x11223344" in str(info.value)
    # IGNORE deciphers the standard sample too: AK is only in the AAD, not in the keystream
    assert _decipher(_sample("with-aad"), SecurityKeys(EK), TagPolicy.IGNORE) == _plain_spec_example()[:-2]


def test_truncated_sample_names_length_and_remaining_bytes() -> None:
    data = _sample("with-aad")
    with pytest.raises(DlmsTruncatedError) as info:
        parse_general_glo_ciphering(data[:300])
    assert str(info.value) == "byte 10: length 0x8205de = 1502 bytes but only 287 remain"
    assert info.value.offset == 10
    assert info.value.required == 1515


def test_stream_of_apdus_is_walked_with_the_consumed_length() -> None:
    first, second = _sample("with-aad"), encrypt(b"/X5\r\n\r\n!0000\r\n", KEYS, b"SAG00001", 1)
    stream = first + second + b"\x7e"
    _, used1 = parse_general_glo_ciphering(stream)
    apdu2, used2 = parse_general_glo_ciphering(stream[used1:])
    assert (used1, used2) == (len(first), len(second))
    assert decrypt(apdu2, KEYS) == b"/X5\r\n\r\n!0000\r\n"
    with pytest.raises(DlmsFrameError, match=r"found 0x7E \(0x7E is an HDLC flag"):
        parse_general_glo_ciphering(stream[used1 + used2 :])


# --- the Aidon HAN samples (HDLC around the same ciphering) ----------------------------------------


@pytest.mark.parametrize(
    ("name", "policy"), [("with-aad", TagPolicy.REQUIRE), ("without-aad", TagPolicy.EMPTY_AAD)]
)
def test_aidon_hdlc_samples_decrypt_to_the_plain_push(name: str, policy: TagPolicy) -> None:
    frame = parse_hex_dump((DLMS_DIR / f"dlms__encrypted__aidon-example-2-{name}.txt").read_text())
    assert frame[8:11] == b"\xe6\xe7\x00"  # LLC header, the APDU starts at byte 11
    apdu, used = parse_general_glo_ciphering(frame[11:])
    assert (apdu.system_title, apdu.security_control, apdu.frame_counter) == (
        SAMPLE_TITLE,
        0x30,
        SAMPLE_COUNTER,
    )
    assert len(frame) - 11 - used == 3  # HDLC FCS and closing flag follow
    assert frame[-1] == 0x7E
    plain_frame = parse_hex_dump((DLMS_DIR / "dlms__aidon-example-2.txt").read_text())
    assert decrypt(apdu, KEYS, policy=policy) == plain_frame[12:-3]  # data-notification 0x0F ...


# --- third-party peers ------------------------------------------------------------------------------


def test_dsmr_parser_reads_what_the_virtual_meter_sends() -> None:
    telegram = _with_crc(_plain_spec_example()[: _plain_spec_example().rindex(b"!") + 1])
    keys = SecurityKeys(EK, LUXEMBOURG_SMARTY_AUTHENTICATION_KEY)
    frame = encrypt(telegram, keys, b"SAG12345", 7)
    parser = TelegramParser(telegram_specifications.MSN)
    parsed = parser.parse(frame.hex(), EK.hex(), LUXEMBOURG_SMARTY_AUTHENTICATION_KEY.hex())
    assert str(parsed.ELECTRICITY_IMPORTED_TOTAL.value) == "25.653"
    with pytest.raises(DsmrDecryptionError):
        parser.parse(frame.hex(), EK.hex(), AK.hex())


@settings(max_examples=60, deadline=None)
@given(
    plaintext=st.binary(max_size=600),
    ek=keys16,
    ak=keys16,
    title=st.binary(min_size=8, max_size=8),
    counter=st.integers(0, 0xFFFF_FFFF),
)
def test_dlms_cosem_agrees_both_ways(
    plaintext: bytes, ek: bytes, ak: bytes, title: bytes, counter: int
) -> None:
    keys = SecurityKeys(ek, ak)
    sc = dlms_security.SecurityControlField(0, authenticated=True, encrypted=True)
    theirs = dlms_security.encrypt(sc, title, counter, ek, plaintext, ak)
    ours = encrypt(plaintext, keys, title, counter)
    apdu, _ = parse_general_glo_ciphering(ours)
    assert apdu.ciphertext + (apdu.auth_tag or b"") == theirs
    assert dlms_security.decrypt(sc, title, counter, ek, theirs, ak) == plaintext
    assert decrypt(apdu, keys) == plaintext


# --- round trips ------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    plaintext=st.binary(max_size=3000),
    ek=keys16,
    ak=keys16,
    title=st.binary(min_size=8, max_size=8),
    counter=st.integers(0, 0xFFFF_FFFF),
    sc=st.sampled_from([0x30, 0x20, 0x10, 0x70, 0x60, 0x50]),
    tag=st.sampled_from([GENERAL_GLO_CIPHERING, GENERAL_DED_CIPHERING]),
    trailer=st.binary(max_size=8),
)
@example(plaintext=b"", ek=bytes(16), ak=bytes(16), title=bytes(8), counter=0, sc=0x20, tag=0xDB, trailer=b"")
@example(
    plaintext=bytes(0x6B),
    ek=bytes(16),
    ak=bytes(16),
    title=bytes(8),
    counter=0,
    sc=0x30,
    tag=0xDB,
    trailer=b"",
)
def test_encrypt_decrypt_round_trip(
    plaintext: bytes, ek: bytes, ak: bytes, title: bytes, counter: int, sc: int, tag: int, trailer: bytes
) -> None:
    keys = SecurityKeys(ek, ak)
    frame = encrypt(plaintext, keys, title, counter, sc, tag=tag)
    apdu, used = parse_general_glo_ciphering(frame + trailer)
    assert used == len(frame)
    assert (apdu.tag, apdu.system_title, apdu.security_control, apdu.frame_counter) == (
        tag,
        title,
        sc,
        counter,
    )
    assert apdu.to_bytes() == frame
    assert decrypt(apdu, keys, policy=TagPolicy.VERIFY_IF_PRESENT) == plaintext
    assert decrypt(apdu, SecurityKeys(ek), policy=TagPolicy.IGNORE) == plaintext
    if sc & 0x20:
        assert len(plaintext) < 16 or apdu.ciphertext != plaintext  # really enciphered
    else:
        assert apdu.ciphertext == plaintext  # authenticated only: sent in clear
    if sc & 0x10:
        assert decrypt(apdu, keys) == plaintext
        with pytest.raises(DlmsAuthenticationError):
            decrypt(apdu, SecurityKeys(ek, bytes(x ^ 1 for x in ak)))
    else:
        with pytest.raises(DlmsAuthenticationError, match="not authenticated"):
            decrypt(apdu, keys)


@settings(max_examples=50, deadline=None)
@given(
    plaintext=st.binary(max_size=300),
    tag=st.sampled_from(sorted(SERVICE_SPECIFIC_CIPHERING_TAGS)),
    counter=st.integers(0, 0xFFFF_FFFF),
)
def test_service_specific_round_trip(plaintext: bytes, tag: int, counter: int) -> None:
    frame = encrypt(plaintext, KEYS, b"KFM00001", counter, tag=tag)
    assert frame[0] == tag and b"KFM00001" not in frame
    apdu, used = parse_service_specific_ciphering(frame, b"KFM00001")
    assert used == len(frame)
    assert apdu.name == SERVICE_SPECIFIC_CIPHERING_TAGS[tag]
    assert decrypt(apdu, KEYS) == plaintext
    with pytest.raises(DlmsAuthenticationError):
        decrypt(parse_service_specific_ciphering(frame, b"KFM00002")[0], KEYS)


def test_long_length_forms_are_read() -> None:
    frame = encrypt(bytes(200), KEYS, SAMPLE_TITLE, 5)
    assert frame[10] == 0x81  # 5 + 200 + 12 = 217 bytes
    apdu, _ = parse_general_glo_ciphering(frame)
    # the same content with a needlessly long 0x84 form is still accepted
    padded = frame[:10] + b"\x84" + (217).to_bytes(4, "big") + frame[12:]
    again, used = parse_general_glo_ciphering(padded)
    assert used == len(padded) and again == apdu


# --- malformed input --------------------------------------------------------------------------------


def _header(length: bytes, sc: int = 0x30) -> bytes:
    return b"\xdb\x08" + SAMPLE_TITLE + length + bytes((sc,))


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", DlmsTruncatedError, "byte 0: expected APDU tag 0xDB"),
        (b"/Lux5", DlmsFrameError, "byte 0: expected APDU tag 0xDB .* found 0x2F .*plain, unencrypted DSMR"),
        (b"\xdb\x07", DlmsFrameError, "byte 1: system-title length must be 8 .* found 7"),
        (b"\xdb\x08sys", DlmsTruncatedError, "byte 2: system title needs 8 bytes but only 3 remain"),
        (b"\xdb\x08systitle", DlmsTruncatedError, "byte 10: ciphered content: data ends before its length"),
        (_header(b"\x80"), DlmsFrameError, "byte 10: .*A-XDR length prefix 0x80 is not supported"),
        (_header(b"\x85"), DlmsFrameError, "byte 10: .*A-XDR length prefix 0x85 is not supported"),
        (b"\xdb\x08systitle\x82\x05", DlmsTruncatedError, "byte 10: .*announces 2 length bytes but only 1"),
        (
            _header(b"\x82\x02\x05") + bytes(299),
            DlmsTruncatedError,
            "byte 10: length 0x820205 = 517 bytes but only 300 remain",
        ),
        (_header(b"\x10") + bytes(15), DlmsFrameError, "byte 10: length 0x10 = 16 bytes is too short"),
        (_header(b"\x04", 0x20) + bytes(3), DlmsFrameError, "byte 10: length 0x04 = 4 bytes is too short"),
        (
            _header(b"\x11", 0x31) + bytes(16),
            DlmsFrameError,
            "byte 11: security control 0x31: security suite 1",
        ),
        (_header(b"\x11", 0xB0) + bytes(16), DlmsFrameError, "byte 11: security control 0xB0: compression"),
        (_header(b"\x11", 0x00) + bytes(16), DlmsFrameError, "byte 11: security control 0x00 sets neither"),
    ],
)
def test_malformed_frames_say_where_and_what(data: bytes, error: type[DlmsError], message: str) -> None:
    with pytest.raises(error, match=message) as info:
        parse_general_glo_ciphering(data)
    assert type(info.value) is error


def test_truncated_error_tells_a_stream_reader_how_much_is_needed() -> None:
    frame = encrypt(b"x" * 40, KEYS, SAMPLE_TITLE, 1)
    for cut in range(len(frame)):
        with pytest.raises(DlmsTruncatedError) as info:
            parse_general_glo_ciphering(frame[:cut])
        assert cut < info.value.required <= len(frame)


def test_every_single_bit_flip_of_the_sample_is_rejected() -> None:
    data = bytearray(_sample("with-aad"))
    for index in range(len(data)):
        for bit in range(8):
            data[index] ^= 1 << bit
            with pytest.raises(DlmsError):
                _decipher(bytes(data))
            data[index] ^= 1 << bit


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["with-aad", "without-aad"]),
    flips=st.lists(st.tuples(st.integers(0, 1514), st.integers(0, 7)), min_size=1, max_size=6),
    cut=st.none() | st.integers(0, 1514),
)
def test_corrupted_samples_raise_only_dlms_errors(
    name: str, flips: list[tuple[int, int]], cut: int | None
) -> None:
    original = _sample(name)
    data = bytearray(original)
    for index, bit in flips:
        data[index] ^= 1 << bit
    if cut is not None:
        data = data[:cut]
    assume(bytes(data) != original)
    if name == "with-aad":
        with pytest.raises(DlmsError) as info:
            _decipher(bytes(data))
        if cut is not None and not any(index < cut for index, _ in flips):
            assert isinstance(info.value, DlmsTruncatedError)
        return
    try:
        _decipher(bytes(data), policy=TagPolicy.EMPTY_AAD)
    except DlmsError:
        return
    # an empty AAD leaves SC unauthenticated: only its broadcast-key bit 6 can flip unnoticed
    assert bytes(data[:13]) + bytes(data[14:]) == original[:13] + original[14:]
    assert data[13] == 0x70


@settings(max_examples=400, deadline=None)
@given(
    data=st.binary(max_size=64) | st.binary(max_size=48).map(lambda b: b"\xdb\x08systitle" + b),
    policy=st.sampled_from(list(TagPolicy)),
    with_ak=st.booleans(),
)
def test_arbitrary_bytes_raise_only_dlms_errors(data: bytes, policy: TagPolicy, with_ak: bool) -> None:
    keys = KEYS if with_ak else SecurityKeys(EK)
    try:
        apdu, used = parse_general_glo_ciphering(data)
    except DlmsError:
        return
    assert used <= len(data)
    with contextlib.suppress(DlmsError):
        decrypt(apdu, keys, policy=policy)


# --- keys -------------------------------------------------------------------------------------------


def test_keys_validate_and_never_show_their_bytes() -> None:
    keys = SecurityKeys.from_hex(
        "01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef", "0xFFEEDDCCBBAA99887766554433221100"
    )
    assert keys == KEYS
    assert SecurityKeys(bytearray(EK)).encryption_key == EK  # type: ignore[arg-type]
    assert SecurityKeys.from_hex(EK.hex()).authentication_key is None
    assert "0123" not in repr(keys) and "<16 bytes>" in repr(keys)
    with pytest.raises(DlmsKeyError, match="encryption key is 15 bytes, expected 16"):
        SecurityKeys(EK[:15])
    with pytest.raises(DlmsKeyError, match="authentication key must be bytes, found str"):
        SecurityKeys(EK, AK.hex())  # type: ignore[arg-type]
    with pytest.raises(DlmsKeyError, match="encryption key has 30 hex digits, expected 32"):
        SecurityKeys.from_hex(EK.hex()[:30])
    with pytest.raises(DlmsKeyError, match="character 3 of the hex text is not a hex digit") as info:
        SecurityKeys.from_hex("01g3456789abcdef0123456789abcdef")
    assert "01g3" not in str(info.value)


def test_encrypt_rejects_bad_arguments_clearly() -> None:
    with pytest.raises(DlmsKeyError, match="needs an authentication key"):
        encrypt(b"x", SecurityKeys(EK), SAMPLE_TITLE, 1)
    assert encrypt(b"x", SecurityKeys(EK), SAMPLE_TITLE, 1, 0x20)  # encryption only needs no AK
    with pytest.raises(DlmsFrameError, match="system title must be 8 bytes, found 7 bytes"):
        encrypt(b"x", KEYS, b"systitl", 1)
    with pytest.raises(DlmsFrameError, match=r"frame counter must be 0\.\.0xFFFFFFFF"):
        encrypt(b"x", KEYS, SAMPLE_TITLE, 1 << 32)
    with pytest.raises(DlmsFrameError, match="security suite 2"):
        encrypt(b"x", KEYS, SAMPLE_TITLE, 1, 0x32)
    with pytest.raises(DlmsFrameError, match="0x7E is not a ciphered APDU tag"):
        encrypt(b"x", KEYS, SAMPLE_TITLE, 1, tag=0x7E)
    with pytest.raises(DlmsFrameError, match="needs a 12-byte authentication tag, found 16 bytes"):
        CipheredApdu(0xDB, SAMPLE_TITLE, 0x30, 1, b"", bytes(16))


def test_errors_are_value_errors_and_pickle() -> None:
    errors: list[DlmsError] = [
        DlmsFrameError("bad tag", 0),
        DlmsTruncatedError("short", 10, 1515),
        DlmsAuthenticationError("mismatch"),
        DlmsKeyError("missing"),
        HexDumpError("bad char", 3, 7, 42),
    ]
    for error in errors:
        assert isinstance(error, ValueError)
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and copy.offset == error.offset
    assert str(errors[0]) == "byte 0: bad tag"
    assert str(errors[4]) == "line 3, column 7: bad char"
    assert pickle.loads(pickle.dumps(errors[1])).required == 1515


# --- hex dumps --------------------------------------------------------------------------------------


def test_every_dlms_corpus_dump_parses() -> None:
    files = sorted(DLMS_DIR.glob("*.txt")) + sorted((P1_DIR / "encrypted").glob("*.txt"))
    assert len(files) >= 17
    for path in files:
        text = path.read_text()
        data = parse_hex_dump(text)
        digits = [c for c in text if c in "0123456789abcdefABCDEF"]
        assert data.hex() == "".join(digits).lower(), path.name
    # the Austrian dump wraps a 105-digit run onto the next line: digits pair across the break
    austria = parse_hex_dump((DLMS_DIR / "m-bus__austria-example-1.txt").read_text())
    assert austria[:4] == b"\x68\xfa\xfa\x68"
    assert austria[9:11] == b"\xdb\x08" and austria[11:19] == b"KFMgP\x00\x00\x09"


def test_hex_dump_comments_prefixes_and_separators() -> None:
    text = (
        "\ufeff# Luxembourg frame\n"
        "db 08  // general-glo-ciphering, title length\r\n"
        "0x73,0x79 0X7374:69746c65   # 'systitle'\n"
        "\n"
        "82 05\n"
        "d\n"
        "e\n"
    )
    assert parse_hex_dump(text) == bytes.fromhex("db08") + b"systitle" + bytes.fromhex("8205de")
    assert parse_hex_dump("") == b""
    assert parse_hex_dump("# nothing\n// here") == b""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("db 08\n7g", "line 2, column 2: expected a hex digit, separator, '#' or '//' comment, found 'g'"),
        ("db / 08", "line 1, column 4: expected a hex digit.*found '/'"),
        ("db\n  0x1", "line 2, column 3: expected an even number of hex digits after '0x', found 1"),
        ("db 0x", "line 1, column 4: expected an even number of hex digits after '0x', found 0"),
        ("db 0\n0x08", "line 2, column 1: '0x' group starts while the hex digit at line 1, column 4 has no"),
        ("db08 0ff # c\n", "line 1, column 8: odd number of hex digits \\(7\\)"),
        ("db ０８", "line 1, column 4: .*found '０'"),
    ],
)
def test_hex_dump_errors_name_line_and_column(text: str, message: str) -> None:
    with pytest.raises(HexDumpError, match=message):
        parse_hex_dump(text)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=80), seed=st.integers(0, 2**32 - 1))
def test_hex_dump_round_trips_any_layout(data: bytes, seed: int) -> None:
    rng = random.Random(seed)
    text = ""
    for byte in data:
        digits = f"{byte:02x}" if rng.random() < 0.5 else f"{byte:02X}"
        separator = rng.choice(["", "", " ", "\n", ", ", ":", "  # note\n", " // note\r\n", "\t"])
        if rng.random() < 0.3:
            digits = "0x" + digits
            separator = separator or " "  # a 0x group must start a group: "ab0x12" is an error
        text += separator + digits
    assert parse_hex_dump(text) == data


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_hex_dump_raises_only_hex_dump_errors(text: str) -> None:
    try:
        parse_hex_dump(text)
    except HexDumpError as error:
        assert error.line >= 1 and error.column >= 1
