"""Encrypted DLMS push (general-glo-ciphering inside HDLC): node-dsmr-parser's two Aidon vectors
decipher to exactly the objects of the same message in clear (keys from corpus/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridedge.ports.dlms.cipher import SecurityKeys, TagPolicy, parse_hex_dump
from gridedge.ports.dlms.errors import DlmsError
from gridedge.ports.dlms.push import decode_push

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "dlms" / "athombv_node-dsmr-parser"
EK = "0123456789abcdef0123456789abcdef"
AK = "ffeeddccbbaa99887766554433221100"


def sample(name: str) -> bytes:
    return parse_hex_dump((CORPUS / f"dlms__{name}.txt").read_text())


def objects(message: object) -> list[str]:
    return [str(o) for o in message.objects]  # type: ignore[attr-defined]


def test_both_vectors_decipher_to_the_clear_message() -> None:
    clear = decode_push(sample("aidon-example-2"))
    with_aad = decode_push(sample("encrypted__aidon-example-2-with-aad"), SecurityKeys.from_hex(EK, AK))
    # node-dsmr-parser's "without AAD" vector: the tag is over no AAD at all (cipher.TagPolicy)
    without = decode_push(
        sample("encrypted__aidon-example-2-without-aad"),
        SecurityKeys.from_hex(EK),
        policy=TagPolicy.EMPTY_AAD,
    )
    assert len(clear.objects) == 27
    assert objects(with_aad) == objects(clear) and objects(without) == objects(clear)
    reading = with_aad.to_reading()
    assert reading.power_import_w == clear.to_reading().power_import_w == 1122.0


def test_missing_or_wrong_keys_are_refused() -> None:
    data = sample("encrypted__aidon-example-2-with-aad")
    with pytest.raises(DlmsError, match="keys are needed"):
        decode_push(data)
    with pytest.raises(DlmsError):
        decode_push(data, SecurityKeys.from_hex(EK, "00" * 16))  # wrong authentication key: the tag fails
    with pytest.raises(DlmsError):
        decode_push(data, SecurityKeys.from_hex("11" * 16, AK))  # wrong encryption key
