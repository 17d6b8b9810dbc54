"""The `gridedge` command, run as a user runs it: `python -m gridedge ...` in a subprocess."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import fastcrc
import pytest

from gridedge import __version__

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
assert CORPUS.is_dir(), f"corpus not found at {CORPUS}"
P1 = CORPUS / "p1"
NB = P1 / "nielsbasjes_dsmr-tools"
STREAM = NB / "stream" / "ttyUSB0-raw.crlf.txt"
SPEC_50 = P1 / "athombv_node-dsmr-parser" / "dsmr-5.0-spec-example.txt"
ANONYMISED = P1 / "athombv_node-dsmr-parser" / "dsmr-5.0-ene-1.txt"
VALID = [
    P1 / "Wassasin_dsmr5" / "isk.txt",
    P1 / "Wassasin_dsmr5" / "kaifa.txt",
    P1 / "ndokter_dsmr_parser" / "telegram_fluvius_v171.txt",
    P1 / "ndokter_dsmr_parser" / "telegram_v2_2.txt",
    NB / "RealDSMR5_L43_ISK5_2M550T_1012.txt",
]
EK = "0123456789abcdef0123456789abcdef"
AK = "ffeeddccbbaa99887766554433221100"


def gridedge(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridedge", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _carried_and_computed(path: Path) -> tuple[int, int] | None:
    """(found, expected) CRC of a one-telegram file, or None when it carries none."""
    data = path.read_bytes()
    start = data.find(b"/")
    end = data.find(b"!", start)
    digits = data[end + 1 : end + 5]
    if end < 0 or len(digits) < 4 or not all(c in b"0123456789ABCDEFabcdef" for c in digits):
        return None
    return int(digits, 16), fastcrc.crc16.arc(data[start : end + 1])


def test_version() -> None:
    result = gridedge("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"gridedge {__version__}"


def test_usage_errors_exit_2() -> None:
    for args in [
        (),
        ("p1",),
        ("p1", "check"),
        ("p1", "read"),
        ("p1", "read", "--tcp", "nohost"),
        ("p1", "read", "--tcp", "127.0.0.1:1", "--pace", "original"),
        ("p1", "read", "--file", SPEC_50, "--baud", "9600"),
        ("p1", "read", "--file", SPEC_50, "--key", "abc"),
        ("p1", "read", "--file", SPEC_50, "--auth-key", AK),
        ("p1", "read", "--file", SPEC_50, "--serial", "/dev/ttyUSB0"),
    ]:
        result = gridedge(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "usage: gridedge" in result.stderr
    assert (
        "encryption key has 3 hex digits" in gridedge("p1", "read", "--file", SPEC_50, "--key", "abc").stderr
    )


# --- p1 check -------------------------------------------------------------------------------------


def test_check_names_expected_and_found_crc() -> None:
    result = gridedge("p1", "check", SPEC_50)
    assert result.returncode == 1
    assert "CRC mismatch: telegram computes to E47C but carries EF2F" in result.stdout
    assert "without the CRC check it decodes cleanly as dsmr-5" in result.stdout


def test_check_every_corpus_file_whose_crc_fails() -> None:
    files = [p for p in sorted(P1.rglob("*.txt")) if "encrypted" not in p.parts and p != STREAM]
    failing = {}
    for path in files:
        crcs = _carried_and_computed(path)
        if crcs is not None and crcs[0] != crcs[1] and "bad" not in path.parts:
            failing[str(path)] = crcs
    assert len(failing) >= 15  # the spec examples and anonymised captures
    result = gridedge("p1", "check", "--json", *failing)
    assert result.returncode == 1
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in reports] == list(failing)
    for report in reports:
        found, expected = failing[report["path"]]
        assert not report["valid"]
        crc_errors = [e for e in report["errors"] if e["kind"] == "crc"]
        assert len(crc_errors) == 1, report
        error = crc_errors[0]
        assert (error["expected"], error["found"]) == (f"{expected:04X}", f"{found:04X}")
        assert f"computes to {expected:04X} but carries {found:04X}" in error["message"]


def test_check_accepts_valid_files() -> None:
    result = gridedge("p1", "check", *VALID)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert all(line.startswith("OK ") for line in lines[:-1])
    assert lines[-1] == f"{len(VALID)} files: {len(VALID)} valid, 0 with errors"
    one = gridedge("p1", "check", "--json", VALID[0])
    assert one.returncode == 0
    report = json.loads(one.stdout)
    assert report["valid"] and report["telegrams"] == report["decoded"] == 1
    assert report["variants"] == ["dsmr-5"] and report["errors"] == []


def test_check_explains_the_bad_corpus_files() -> None:
    bad = NB / "bad"
    truncated = bad / "BadTelegram_L35_ISK5_2M550T_1012.txt"
    crc_1 = bad / "CRCValidator_L116_ISK5_2M550T_1012.txt"
    crc_2 = bad / "DsmrParser_L268_ISk5_2MT382_1000.txt"
    overflow = P1 / "Wassasin_dsmr5" / "bad" / "overflow.txt"
    result = gridedge("p1", "check", "--json", truncated, crc_1, crc_2, overflow)
    assert result.returncode == 1
    reports = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert all(not r["valid"] for r in reports.values())

    cut = reports[truncated.name]
    assert [e["kind"] for e in cut["errors"]] == ["truncated"]
    assert "cut short" in cut["errors"][0]["message"]
    assert cut["errors"][0]["stream_offset"] == 2  # where the lost telegram began
    assert cut["decoded"] == 1  # the complete telegram after it is still read

    for name, expected, found in [(crc_1.name, "FC67", "1234"), (crc_2.name, "27EF", "BAD0")]:
        (error,) = reports[name]["errors"]
        assert (error["kind"], error["expected"], error["found"]) == ("crc", expected, found)
    # the damaged OBIS code that broke the CRC is named too
    assert reports[crc_2.name]["errors"][0]["without_crc"]["line"] == 5

    # Wassasin's overflow sample: its last telegram has a non-OBIS line 2
    syntax = [e["without_crc"] for e in reports[overflow.name]["errors"] if "without_crc" in e]
    assert syntax and syntax[-1]["line"] == 2 and syntax[-1]["column"] == 1

    text = gridedge("p1", "check", truncated, overflow).stdout
    assert "FAIL" in text and "cut short" in text
    assert "line 2, column 1" in text


def test_check_unreadable_and_empty_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"no telegram here\r\n")
    result = gridedge("p1", "check", tmp_path / "missing.txt", empty)
    assert result.returncode == 1
    assert "cannot read file: No such file or directory" in result.stdout
    assert "no telegram found" in result.stdout


def test_check_encrypted_hex_dump() -> None:
    sample = P1 / "athombv_node-dsmr-parser" / "encrypted" / "dsmr-luxembourgh-spec-example-with-aad.txt"
    result = gridedge("p1", "check", "--json", "--key", EK, "--auth-key", AK, sample)
    report = json.loads(result.stdout)
    # deciphered fine; the telegram inside carries the spec example's wrong CRC
    assert [(e["kind"], e["expected"], e["found"]) for e in report["errors"]] == [("crc", "6DA1", "8B52")]
    wrong_ak = gridedge("p1", "check", "--json", "--key", EK, sample)  # default: the published Smarty AK
    assert [e["kind"] for e in json.loads(wrong_ak.stdout)["errors"]] == ["decryption"]


# --- p1 read --------------------------------------------------------------------------------------


def test_read_json_lines_from_a_capture() -> None:
    result = gridedge("p1", "read", "--file", STREAM, "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 566
    first = json.loads(lines[0])
    assert first["variant"] == "dsmr-5"
    assert first["meter_id"] == "E0044007131650618"
    assert first["timestamp"] == "2019-03-24T15:05:19+01:00"
    assert first["power_import_w"] == 378.0
    assert first["energy_import_kwh"] == {"1": 3432.827, "2": 3224.632}
    assert [p["voltage_v"] for p in first["phases"]] == [237.1, 235.1, 236.1]
    assert len({json.loads(line)["timestamp"] for line in lines}) == 566
    # the capture starts inside a telegram: reported, not fatal
    assert "end of a telegram whose header was not received" in result.stderr
    assert "566 telegrams, 566 decoded, 1 error (truncated 1)" in result.stderr


def test_read_table_repeats_its_header() -> None:
    result = gridedge("p1", "read", "--file", STREAM)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith("time ")]
    assert headers == list(range(0, 566 + 29, 21))  # one header, 20 rows, ...
    row = lines[1].split()
    assert row[:5] == ["2019-03-24", "15:05:19", "dsmr-5", "378.0", "0.0"]
    assert row[-3:] == ["6657.459", "0.000", "-"]  # energy totals, no gas device


def test_read_no_crc_decodes_an_anonymised_capture() -> None:
    strict = gridedge("p1", "read", "--file", ANONYMISED, "--json")
    assert strict.stdout == ""
    assert "CRC mismatch: telegram computes to 2E0A but carries D59D" in strict.stderr
    result = gridedge("p1", "read", "--no-crc", "--file", ANONYMISED, "--json")
    assert result.returncode == 0
    (line,) = result.stdout.splitlines()
    reading = json.loads(line)
    assert reading["power_export_w"] == 566.0
    assert reading["crc"] == 0xD59D
    assert "1 telegram, 1 decoded, no errors" in result.stderr


def test_read_encrypted_capture() -> None:
    sample = P1 / "athombv_node-dsmr-parser" / "encrypted" / "dsmr-luxembourgh-spec-example-without-aad.txt"
    result = gridedge("p1", "read", "--file", sample, "--key", EK, "--auth-key", "none", "--no-crc", "--json")
    assert result.returncode == 0, result.stderr
    reading = json.loads(result.stdout)
    assert reading["variant"] == "luxembourg"
    assert reading["meter_id"] == "SAG1030790002574"


def test_read_a_missing_file_fails_cleanly(tmp_path: Path) -> None:
    result = gridedge("p1", "read", "--file", tmp_path / "none.txt")
    assert result.returncode == 1
    assert "cannot open" in result.stderr and "No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_read_into_a_store(tmp_path: Path) -> None:
    from gridedge.store import SqliteReadingStore

    db = tmp_path / "readings.db"
    result = gridedge("p1", "read", "--file", STREAM, "--store", db, "--json")
    assert result.returncode == 0, result.stderr
    expected = [json.loads(line) for line in result.stdout.splitlines()]
    with SqliteReadingStore(db) as store:
        assert store.meters() == ["E0044007131650618"]
        stored = store.readings(
            "E0044007131650618", datetime(2019, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC)
        )
    assert len(stored) == 566
    assert [s.power_import_w for s in stored] == [e["power_import_w"] for e in expected]
    assert stored[0].timestamp == datetime.fromisoformat(expected[0]["timestamp"])


def test_read_store_reports_readings_it_cannot_take(tmp_path: Path) -> None:
    # a replayed DSMR 3.0 telegram has no timestamp, and file time is not meter time
    capture = P1 / "athombv_node-dsmr-parser" / "dsmr-3.0-spec-example.txt"
    result = gridedge("p1", "read", "--file", capture, "--store", tmp_path / "db.sqlite")
    assert result.returncode == 0
    assert "store: reading not stored: it carries no timestamp (0-0:1.0.0)" in result.stderr
    assert "0 readings stored, 0 dropped (queue full), 1 refused" in result.stderr


class _Bridge(threading.Thread):
    """A TCP bridge that sends a telegram every 50 ms until stopped."""

    def __init__(self, telegram: bytes) -> None:
        super().__init__(daemon=True)
        self.telegram = telegram
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()

    def run(self) -> None:
        with self.server:
            conn, _ = self.server.accept()
        with conn:
            while not self.stop.is_set():
                try:
                    conn.sendall(self.telegram)
                except OSError:
                    return
                time.sleep(0.05)


def test_read_tcp_live_and_ctrl_c_exits_cleanly() -> None:
    bridge = _Bridge((NB / "ttyUSB0_raw_ISK5_2M550T-1012_telegram000.txt").read_bytes())
    bridge.start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridedge", "p1", "read", "--tcp", f"127.0.0.1:{bridge.port}", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]  # flushed line by line while live
        assert all(json.loads(line)["meter_id"] == "E0044007131650618" for line in lines)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        bridge.stop.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    assert f"127.0.0.1:{bridge.port}: " in stderr and "decoded" in stderr


@pytest.mark.parametrize("flag", ["--serial", "--tcp"])
def test_live_sources_report_what_failed(flag: str) -> None:
    if flag == "--serial":
        result = gridedge("p1", "read", "--serial", "/dev/ttyP1-missing", "--dsmr22")
        assert result.returncode == 1
        assert "cannot open serial device /dev/ttyP1-missing at 9600 7E1" in result.stderr
    else:
        with socket.socket() as s:  # a port nobody listens on: the reader keeps retrying
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "gridedge", "p1", "read", "--tcp", f"127.0.0.1:{port}"],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        first = proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=20)
        assert f"P1 bridge 127.0.0.1:{port}: cannot connect" in first and "retrying in 1 s" in first
        assert proc.returncode == 130 and "Traceback" not in rest


def test_read_store_that_cannot_be_opened(tmp_path: Path) -> None:
    result = gridedge("p1", "read", "--file", STREAM, "--store", tmp_path)  # a directory
    assert result.returncode == 1
    assert f"store {tmp_path}: cannot open: " in result.stderr
    assert "Traceback" not in result.stderr


def test_no_crc_reads_every_corpus_telegram_that_check_rejects() -> None:
    """Spec examples and anonymised captures fail `p1 check`, and `p1 read --no-crc` still reads them."""
    files = sorted(
        p
        for p in P1.rglob("*.txt")
        if not {"bad", "encrypted", "expected", "stream"} & set(p.relative_to(P1).parts)
    )
    rejected = [p for p in files if gridedge("p1", "check", p).returncode == 1]
    assert len(rejected) >= 15
    for path in rejected:
        result = gridedge("p1", "read", "--no-crc", "--json", "--file", path)
        assert result.returncode == 0, (path, result.stderr)
        lines = result.stdout.splitlines()
        assert len(lines) == 1, path
        reading = json.loads(lines[0])
        assert reading["header"] and (reading["energy_import_kwh"] or reading["meter_id"]), path
