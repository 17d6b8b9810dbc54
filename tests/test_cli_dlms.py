"""`gridedge dlms read` as a user runs it: a capture of several push messages with garbage between
them, in clear and ciphered, decoded into readings as JSON lines; HDLC and the Austrian wired M-Bus
framing, from a file and from a loopback TCP bridge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gridedge.ports.dlms.cipher import parse_hex_dump

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dlms" / "athombv_node-dsmr-parser"
EK = "0123456789abcdef0123456789abcdef"
AK = "ffeeddccbbaa99887766554433221100"


def dlms(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridedge", "dlms", "read", *map(str, args)], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def sample(name: str) -> bytes:
    return parse_hex_dump((CORPUS / f"dlms__{name}.txt").read_text())


def test_a_stream_of_pushes_with_garbage_between_them(tmp_path: Path) -> None:
    stream = (
        b"\x00\xff noise"
        + sample("aidon-example-1")
        + b"\x7e\x7e\x12"
        + sample("kamstrup-example-1")
        + sample("aidon-example-2-segmented")
    )
    capture = tmp_path / "han.bin"
    capture.write_bytes(stream)
    out = dlms("--file", capture, "--json")
    readings = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(readings) == 3, out.stderr
    assert readings[0]["power_import_w"] == 1362.0 and readings[0]["meter_id"] == "7359992890941742"
    assert readings[2]["power_import_w"] == 1122.0  # the three segments joined
    assert "3 messages" in out.stderr and "byte 0" in out.stderr  # the garbage is reported
    assert out.returncode == 1  # errors were reported (the garbage), but nothing decodable was lost


def test_ciphered_pushes_need_and_use_the_keys() -> None:
    path = CORPUS / "dlms__encrypted__aidon-example-2-with-aad.txt"
    out = dlms("--file", path, "--key", EK, "--auth-key", AK, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["power_import_w"] == 1122.0
    no_key = dlms("--file", path)
    assert no_key.returncode == 1 and "keys are needed" in no_key.stderr
    usage = dlms("--file", path, "--auth-key", AK)
    assert usage.returncode == 2 and "--auth-key needs --key" in usage.stderr


# -- Austrian M-Bus customer interface (EN 13757-2 long frames, IEC 62056-7-3 transport) -----------

AT_KEY = "36C66639E48A8CA4D6BC8B282A793BBB"  # printed at the end of m-bus__austria-example-1.txt


def austrian_frames() -> bytes:
    """The two M-Bus frames of the Austrian example: the hex dump before the appended key lines."""
    lines = (CORPUS / "m-bus__austria-example-1.txt").read_text().splitlines()
    first_key = next(i for i, line in enumerate(lines) if line.strip().upper() == AT_KEY)
    data = parse_hex_dump("\n".join(lines[:first_key]))
    assert len(data) == 282 and data[:4] == bytes.fromhex("68FAFA68")  # frame 1, L = 250
    assert data[256:260] == bytes.fromhex("68141468")  # frame 2, L = 20
    return data


def test_austrian_mbus_capture(tmp_path: Path) -> None:
    frames = austrian_frames()
    capture = tmp_path / "kaifa.bin"
    capture.write_bytes(b"\x00\x68 junk" + frames + frames)
    out = dlms("--file", capture, "--key", AT_KEY, "--json")
    readings = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(readings) == 2, out.stderr
    for reading in readings:
        assert reading["header"] == "dlms:obis-triples" and reading["meter_id"] == "181220000009"
        assert reading["timestamp"] == "2021-09-27T09:47:15+02:00"
        assert reading["energy_import_kwh"] == {"0": 12.937}  # 0x00003289 Wh
        assert reading["phases"][0]["voltage_v"] == 233.7 and reading["power_factor"] == 1.0
    assert "2 messages (mbus), 1 errors" in out.stderr and "byte 0: skipped 7 byte(s)" in out.stderr
    assert out.returncode == 1  # the junk was reported

    hex_dump = tmp_path / "kaifa.hex"
    hex_dump.write_text(frames.hex(" ", 16).upper())
    clean = dlms("--file", hex_dump, "--key", AT_KEY, "--framing", "mbus")
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.startswith("2021-09-27T09:47:15+02:00  181220000009  import 0.0 W")


def test_austrian_frames_are_encrypted_only_and_auth_key_refuses_them(tmp_path: Path) -> None:
    capture = tmp_path / "kaifa.bin"
    capture.write_bytes(austrian_frames())
    refused = dlms("--file", capture, "--key", AT_KEY, "--auth-key", AT_KEY)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "security control 0x20" in refused.stderr and "see --tag-policy" in refused.stderr
    allowed = dlms(
        "--file", capture, "--key", AT_KEY, "--auth-key", AT_KEY, "--tag-policy", "verify-if-present"
    )
    assert allowed.returncode == 0 and "181220000009" in allowed.stdout, allowed.stderr
    hdlc = dlms("--file", capture, "--key", AT_KEY, "--framing", "hdlc")
    assert hdlc.returncode == 1 and "0 messages (hdlc)" in hdlc.stderr


def test_austrian_mbus_over_tcp(tmp_path: Path) -> None:
    """`--tcp` against a loopback bridge that sends three pushes in 7-byte pieces; `--limit 2` ends it."""
    import socket
    import threading
    import time

    frames = austrian_frames()
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(30)
    port = server.getsockname()[1]
    sent: list[int] = []

    def bridge() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(30)
            try:
                for data in (b"\xe5" + frames, frames, frames):
                    for i in range(0, len(data), 7):
                        conn.sendall(data[i : i + 7])
                        time.sleep(0.001)
                    sent.append(len(data))
                conn.recv(1)  # until the reader hangs up (or 30 s)
            except OSError:
                pass

    thread = threading.Thread(target=bridge, daemon=True)
    thread.start()
    try:
        out = dlms("--tcp", f"127.0.0.1:{port}", "--key", AT_KEY, "--json", "--limit", "2")
    finally:
        server.close()
        thread.join(35)
    assert not thread.is_alive()
    readings = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(readings) == 2, out.stderr
    assert all(r["energy_import_kwh"] == {"0": 12.937} for r in readings)
    assert "2 messages (mbus), 1 errors" in out.stderr  # the single character E5 before the first frame
    assert sent[:2] == [283, 282]


def test_a_han_port_on_a_serial_line() -> None:
    """`--serial` on a pseudo-terminal: the test writes the meter's bytes on the master side at the
    HAN port's pace (a push every so often, in pieces), the reader decodes them from the slave."""
    import os
    import threading
    import time

    master, slave = os.openpty()
    pushes = [sample("kamstrup-example-1"), b"\x00\x13garbage", sample("aidon-example-2-segmented")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridedge", "dlms", "read", "--serial", os.ttyname(slave), "--json",
         "--limit", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def meter() -> None:
        time.sleep(1.0)  # the reader opens the port
        for data in pushes:
            for i in range(0, len(data), 16):
                try:
                    os.write(master, data[i : i + 16])
                except OSError:
                    return
                time.sleep(0.002)
            time.sleep(0.2)

    thread = threading.Thread(target=meter, daemon=True)
    thread.start()
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        thread.join(10)
        os.close(slave)
        os.close(master)
    readings = [json.loads(line) for line in out.splitlines()]
    assert len(readings) == 2, err
    assert readings[1]["power_import_w"] == 1122.0  # the segmented Aidon push, joined
    assert readings[0]["header"].startswith("dlms:") and readings[0]["variant"] == "dlms-push"
    assert "byte" in err  # the garbage between them was reported with its offset
