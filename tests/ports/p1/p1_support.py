"""Shared by the P1 tests: where the corpus is, which files are telegrams, an independent CRC verdict."""

from __future__ import annotations

from pathlib import Path

from gridedge.ports.p1.crc import crc16_arc

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "p1"
# the corpus is part of the project's shared/ folder: missing it is an error, never a skip
assert CORPUS.is_dir(), f"corpus not found at {CORPUS}"


def telegram_files() -> list[Path]:
    """Every single-telegram corpus file (not bad/, encrypted/, expected/ or the stream capture)."""
    return sorted(
        p
        for p in CORPUS.rglob("*.txt")
        if not {"bad", "encrypted", "expected", "stream"} & set(p.relative_to(CORPUS).parts)
    )


def crc_valid(data: bytes) -> bool | None:
    """CRC verdict computed here, not by a parser: CRC-16/ARC over '/' .. '!' against the carried
    digits; None when the telegram carries no CRC (DSMR 2.2/3.0, captures cut before '!')."""
    start, end = data.find(b"/"), data.find(b"!")
    if end < 0:
        return None
    carried = data[end + 1 : end + 5].split(b"\r")[0].split(b"\n")[0].strip()
    if not carried:
        return None
    return crc16_arc(data[start : end + 1]) == int(carried, 16)
