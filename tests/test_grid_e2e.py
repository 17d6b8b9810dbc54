"""End to end, every part a real process: virtual meters -> `gridedge gateway` -> Mosquitto ->
`gridedge grid hes run` (two workers on a shared subscription) -> PostgreSQL.

Mid-stream the broker is killed and restarted (without persistence: whatever it held is gone) and
later frozen for several seconds (a network cut: no packet moves, connections time out). Nothing
is lost: every record each gateway produced is in PostgreSQL, each sequence number once, and every
gateway's store-and-forward queue is empty at the end.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg

from process_support import announced

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
GRIDEDGE = [sys.executable, "-m", "gridedge"]
METERS = ["EAN-E2E-1", "EAN-E2E-2", "EAN-E2E-3"]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(port: int, conf: Path) -> subprocess.Popen[bytes]:
    quiet = subprocess.DEVNULL
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=quiet, stderr=quiet)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("mosquitto did not start")


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRIDEDGE, *map(str, args)], capture_output=True, text=True, timeout=60)


async def stored_sequences(schema: str) -> dict[str, list[int]]:
    con = await asyncpg.connect(PG_DSN)
    try:
        rows = await con.fetch(
            f"SELECT meter_id, seq FROM {schema}.samples UNION ALL SELECT meter_id, seq FROM {schema}.events "
            f"UNION ALL SELECT meter_id, seq FROM {schema}.wan_reports "
            f"UNION ALL SELECT DISTINCT meter_id, seq FROM {schema}.curve_points"
        )
    finally:
        await con.close()
    out: dict[str, list[int]] = {}
    for meter, seq in rows:
        out.setdefault(meter, []).append(seq)
    return {m: sorted(s) for m, s in out.items()}


async def curve_meters(schema: str) -> dict[str, int]:
    """Meter -> load-curve points of its first complete quarter hour."""
    con = await asyncpg.connect(PG_DSN)
    try:
        rows = await con.fetch(
            f"SELECT meter_id, count(*) FROM {schema}.curve_points WHERE seq = "
            f"(SELECT min(seq) FROM {schema}.curve_points c WHERE c.meter_id = curve_points.meter_id) "
            "GROUP BY meter_id"
        )
    finally:
        await con.close()
    return {m: int(n) for m, n in rows}


async def drop_schema(schema: str) -> None:
    con = await asyncpg.connect(PG_DSN)
    try:
        await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await con.close()


def test_meters_to_postgres_through_a_broker_restart_and_a_network_cut(tmp_path: Path) -> None:
    import asyncio

    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    schema = f"e2e_{uuid.uuid4().hex[:10]}"
    keys = tmp_path / "hes-keys.jsonl"
    procs: list[subprocess.Popen[str]] = []
    broker = start_broker(port, conf)
    try:
        gateways = []
        for i, meter in enumerate(METERS):
            gw_key, db = tmp_path / f"{meter}.key", tmp_path / f"{meter}.db"
            provisioned = run("grid", "hes", "provision", "--keys", keys, "--meter", meter,
                              "--gateway-key", gw_key)  # fmt: skip
            assert provisioned.returncode == 0, provisioned.stderr
            granted = run("gateway", "consent", "--db", db, "grant", "all", "--recipient", "hes",
                          "--by", "e2e")  # fmt: skip
            assert granted.returncode == 0, granted.stderr
            sim = subprocess.Popen(
                [*GRIDEDGE, "sim", "meter", "--p1-tcp", "127.0.0.1:0", "--speed", "20", "--seed", str(i + 1),
                 "--duration", "1400"],
                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            procs.append(sim)
            where = announced(sim, "P1")
            host, p1_port = re.fullmatch(r"tcp://(.+):(\d+)", where).groups()  # type: ignore[union-attr]
            gw = subprocess.Popen(
                [*GRIDEDGE, "gateway", "--tcp", f"{host}:{p1_port}", "--mqtt", f"127.0.0.1:{port}",
                 "--key", str(gw_key), "--db", str(db), "--meter-id", meter, "--nrtd-every", "60",
                 "--json", "--status-every", "5", "--duration", "85"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            procs.append(gw)
            gateways.append(gw)
        hes = subprocess.Popen(
            [*GRIDEDGE, "grid", "hes", "run", "--pg", PG_DSN, "--schema", schema, "--workers", "2",
             "--mqtt", f"127.0.0.1:{port}", "--keys", str(keys), "--json", "--duration", "95",
             "--status-every", "5"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        procs.append(hes)

        # the meters stop at 70 s, the gateways at 85 s: 15 s to deliver their last records
        time.sleep(15)
        broker.kill()  # the broker dies with whatever it held
        broker.wait()
        time.sleep(3)
        broker = start_broker(port, conf)
        time.sleep(12)
        broker.send_signal(signal.SIGSTOP)  # a network cut: nothing moves for 8 s
        time.sleep(8)
        broker.send_signal(signal.SIGCONT)

        finals = []
        for gw in gateways:
            out, err = gw.communicate(timeout=120)
            assert gw.returncode == 0, err[-2000:]
            finals.append(json.loads(out.splitlines()[-1]))
        hes_out, hes_err = hes.communicate(timeout=120)
        assert hes.returncode == 0, hes_err[-2000:]
        stored = asyncio.run(stored_sequences(schema))
        for meter, final in zip(METERS, finals, strict=True):
            assert final["final"] is True and final["meter_id"] == meter
            assert final["produced"] >= 80, final  # 10 s samples over ~23 sim minutes, NRTD, a curve
            assert final["queued"] == 0 and final["rejected_acks"] == 0, final
            assert final["acked"] == final["produced"], final
            assert final["outages"] >= 1, final  # the gateways saw the broker go away
            # every record once, none missing: sequences 1..produced exactly
            assert stored.get(meter) == list(range(1, final["produced"] + 1)), (meter, final)
        curves = asyncio.run(curve_meters(schema))
        assert curves == {m: 90 for m in METERS}  # each meter's first full quarter hour, 10 s values
        workers = [json.loads(line) for line in hes_out.splitlines() if line.startswith("{")]
        ends = [w for w in workers if w["final"]]
        assert len(ends) == 2 and all(w["received"] > 0 for w in ends), ends
        assert sum(w["connects"] for w in ends) >= 4  # both reconnected after the restart
        assert all(not w["rejected"] for w in ends)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        broker.send_signal(signal.SIGCONT)
        broker.kill()
        broker.wait()
        asyncio.run(drop_schema(schema))
