"""Head-end ingest benchmark: readings per second end to end, gateways -> Mosquitto -> HES workers
-> PostgreSQL, with the head-end's acknowledgement back to the gateways.

Run: `python bench/hes.py [--meters 20000] [--readings 200000] [--workers 1 2] [--mode live backlog]`

A reading is one authenticated message from one meter: a grid-point sample (P, E import/export,
per-phase V and I, frequency) as CBOR, sealed with the meter's own AES-128-GCM key as COSE_Encrypt0
(`gridedge.bus.telemetry`), published with QoS 1 on `meter/<id>/up`. Each worker process runs the
real `HesWorker`: shared subscription, open + check + decode, COPY + INSERT ON CONFLICT into
partitioned tables plus the latest-per-meter upsert, one sealed acknowledgement per meter and batch,
manual MQTT acknowledgement after commit.

Modes:
- `live`: virtual gateway processes publish as fast as they can while the workers ingest; the
  clock runs from the first publish to the moment the last reading is committed. Everything shares
  this machine's cores: gateways, broker, workers, PostgreSQL.
- `backlog`: the readings wait in the broker (the workers' persistent sessions) while the workers
  are down, as after a head-end outage; the clock runs from the workers' start to the last commit.
  This is the head-end's own rate with the gateways' CPU out of the way.

The benchmark starts its own Mosquitto (a free port, no persistence, unbounded queues) and uses
its own PostgreSQL schema in the `test` database, dropped at the end. It prints the figures:
readings/s, the workers' CPU seconds, readings per worker CPU-second.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\nmax_queued_bytes 0\n"
        "log_type error\n"
    )
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_s() -> float:
    """CPU seconds of all PostgreSQL server processes so far (the server runs beside us)."""
    total = 0.0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == "postgres":
                    total += proc_cpu_s(int(d.name))
            except OSError:
                continue
    return total


def make_keys(n: int) -> dict[str, bytes]:
    return {f"EAN{i:08d}": os.urandom(16) for i in range(n)}


def gateway_proc(
    keys: dict[str, bytes],
    per_meter: int,
    port: int,
    ready: Any,
    go: Any,
    published: Any,
    out: Any,
    offset: int,
) -> None:
    """A virtual gateway host: seals `per_meter` samples of each of its meters, publishes them (QoS 1,
    pipelined, each reading its own message), and takes each meter's acknowledgements as a gateway
    does (subscribed per meter, opened with the meter's key) until every reading is acknowledged."""
    from datetime import UTC, datetime, timedelta

    from gridedge.bus.mqtt_bulk import BulkMqttClient
    from gridedge.bus.mqtt_wire import Publish
    from gridedge.bus.telemetry import Opener, Sealer, decode_ack, encode_record
    from gridedge.clock import RealClock
    from gridedge.model.telemetry import GridPointSample, SampleKind

    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10 * per_meter)
    sealers = {m: Sealer(m, k) for m, k in keys.items()}
    messages = []
    for seq in range(1, per_meter + 1):
        t = t0 + timedelta(seconds=10 * seq)
        for i, m in enumerate(keys):
            rec = GridPointSample(
                m, seq, t, SampleKind.MONITORING, 500.0 + i % 3000, 0.0, 10_000_000 + seq * 1400, 0,
                (230.1, 229.8, 231.0), (2.1, 0.4, 1.2), 50.0,
            )  # fmt: skip
            messages.append((f"meter/{m}/up", sealers[m].seal(encode_record(rec))))
    opener = Opener(keys.get)
    acked = [0]
    done = asyncio.Event()
    last_ack = [0.0]

    clients: list[BulkMqttClient] = []

    def on_acks(batch: list[Publish]) -> None:
        for p in batch:
            meter = p.topic[6:-4]
            acked[0] += decode_ack(opener.open(p.payload, meter)).count
        clients[0].ack(p.packet_id for p in batch if p.qos)
        if acked[0] >= len(messages):
            last_ack[0] = time.monotonic()
            done.set()

    async def main() -> None:
        client = BulkMqttClient(
            RealClock(), port=port, client_id=f"gw-{offset}-{uuid.uuid4().hex[:6]}", on_messages=on_acks
        )
        clients.append(client)
        await client.connect()
        topics = [f"meter/{m}/ack" for m in keys]
        for i in range(0, len(topics), 2000):
            await asyncio.gather(*(client.subscribe(t, qos=1) for t in topics[i : i + 2000]))
        ready.release()
        while not go.is_set():
            await asyncio.sleep(0.001)
        cpu0 = time.process_time()
        for n, (topic, data) in enumerate(messages, 1):
            client.publish(topic, data, qos=1)
            if n % 1000 == 0:
                await client.drain()
                await asyncio.sleep(0)
        await client.flush(timeout_s=600)
        published.release()
        await asyncio.wait_for(done.wait(), 300)
        out.put(("gateway", len(messages), last_ack[0], time.process_time() - cpu0))
        client.close()

    asyncio.run(main())


def worker_proc(
    keys: dict[str, bytes],
    port: int,
    schema: str,
    name: str,
    stop: Any,
    ready: Any,
    go: Any,
    out: Any,
    committed: Any,
) -> None:
    from gridedge.clock import RealClock
    from gridedge.grid.hes.ingest import Ingestor
    from gridedge.grid.hes.keys import MeterKeys
    from gridedge.grid.hes.worker import HesWorker, WorkerConfig
    from gridedge.store.telemetry_pg import PostgresTelemetryStore

    async def main() -> None:
        store = PostgresTelemetryStore(PG_DSN, schema=schema, pool_size=2)
        await store.init()
        worker = HesWorker(
            store, Ingestor(MeterKeys(keys)), RealClock(),
            WorkerConfig(
                port=port, client_id=name, persistent_session=True, batch_max=5000, batch_wait_s=0.02
            ),
        )  # fmt: skip
        ready.release()
        while not go.is_set():
            await asyncio.sleep(0.001)
        cpu0 = time.process_time()
        halt = asyncio.Event()
        task = asyncio.create_task(worker.run(halt))
        while not stop.is_set():
            await asyncio.sleep(0.02)
            committed.value = worker.stats.committed  # the harness's progress, without polling the database
        halt.set()
        await task
        out.put(("worker", name, worker.stats.received, worker.stats.batches, time.process_time() - cpu0))
        await store.close()

    asyncio.run(main())


async def db_count(schema: str) -> int:
    con = await asyncpg.connect(PG_DSN)
    try:
        return int(await con.fetchval(f"SELECT count(*) FROM {schema}.samples"))
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await con.close()


async def drop(schema: str) -> None:
    con = await asyncpg.connect(PG_DSN)
    try:
        await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await con.close()


@dataclass
class Result:
    mode: str
    workers: int
    readings: int
    seconds: float
    worker_cpu_s: float
    gateway_cpu_s: float
    per_worker: list[int]
    broker_cpu_s: float
    postgres_cpu_s: float

    def line(self) -> str:
        rate = self.readings / self.seconds
        per_cpu = self.readings / self.worker_cpu_s if self.worker_cpu_s else float("nan")
        return (
            f"| {self.mode} | {self.workers} | {self.readings:,} | {self.seconds:.1f} s | **{rate:,.0f}/s** "
            f"| {self.worker_cpu_s:.1f} s | {per_cpu:,.0f}/s | {self.gateway_cpu_s:.1f} s "
            f"| {' / '.join(f'{n:,}' for n in self.per_worker)} "
            f"| {self.broker_cpu_s:.1f} s | {self.postgres_cpu_s:.1f} s |"
        )


def run_case(mode: str, n_workers: int, keys: dict[str, bytes], per_meter: int, gateways: int) -> Result:
    ctx = mp.get_context("spawn")
    workdir = Path(tempfile.mkdtemp(prefix="hes-bench-"))
    port = free_port()
    broker = start_broker(port, workdir)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    out = ctx.Queue()
    stop = ctx.Event()
    total = len(keys) * per_meter
    try:
        # create the schema once, so workers do not race on it
        from gridedge.store.telemetry_pg import PostgresTelemetryStore

        async def init() -> None:
            s = PostgresTelemetryStore(PG_DSN, schema=schema)
            await s.init()
            await s.close()

        asyncio.run(init())
        names = [f"hes-{i}" for i in range(n_workers)]

        counters: list[Any] = []

        def start_workers() -> tuple[list[Any], Any]:
            wready, wgo = ctx.Semaphore(0), ctx.Event()
            counters[:] = [ctx.Value("q", 0) for _ in names]
            ps = [
                ctx.Process(target=worker_proc, args=(keys, port, schema, n, stop, wready, wgo, out, c))
                for n, c in zip(names, counters, strict=True)
            ]
            for p in ps:
                p.start()
            for _ in ps:
                wready.acquire()
            return ps, wgo

        if mode == "backlog":  # register the persistent sessions, then go away
            workers, wgo = start_workers()
            wgo.set()
            time.sleep(1.0)
            stop.set()
            for p in workers:
                p.join()
            while not out.empty():
                out.get()
            stop.clear()
        else:
            workers, wgo = start_workers()
            wgo.set()
            time.sleep(1.0)  # subscribed

        meter_ids = list(keys)
        shares = [{m: keys[m] for m in meter_ids[i::gateways]} for i in range(gateways)]
        gready, go, published = ctx.Semaphore(0), ctx.Event(), ctx.Semaphore(0)
        gws = [
            ctx.Process(target=gateway_proc, args=(share, per_meter, port, gready, go, published, out, i))
            for i, share in enumerate(shares)
        ]
        for p in gws:
            p.start()
        for _ in gws:
            gready.acquire()
        broker0, pg0 = proc_cpu_s(broker.pid), postgres_cpu_s()
        go.set()
        start = time.monotonic()
        if mode == "backlog":
            for _ in gws:
                published.acquire()
            workers, wgo = start_workers()
            start = time.monotonic()
            wgo.set()
        for p in gws:  # each exits when every one of its readings is acknowledged
            p.join()
        while sum(c.value for c in counters) < total:
            time.sleep(0.02)
        broker_s, pg_s = proc_cpu_s(broker.pid) - broker0, postgres_cpu_s() - pg0
        stored = asyncio.run(db_count(schema))
        if stored != total:
            raise AssertionError(f"{stored:,} readings stored, {total:,} sent")
        stop.set()
        for p in workers:
            p.join()
        worker_cpu = gateway_cpu = 0.0
        last_ack = start
        shares: list[int] = []
        while not out.empty():
            item = out.get()
            if item[0] == "worker":
                worker_cpu += item[4]
                shares.append(item[2])
            else:
                gateway_cpu += item[3]
                last_ack = max(last_ack, item[2])
        seconds = last_ack - start  # from the first publish to the last reading acknowledged
        return Result(
            mode, n_workers, total, seconds, worker_cpu, gateway_cpu, sorted(shares), broker_s, pg_s
        )
    finally:
        broker.terminate()
        broker.wait()
        asyncio.run(drop(schema))
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meters", type=int, default=20_000)
    ap.add_argument("--readings", type=int, default=200_000, help="total readings per case")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--mode", nargs="+", default=["live", "backlog"], choices=["live", "backlog"])
    ap.add_argument("--gateways", type=int, default=2, help="virtual gateway processes")
    args = ap.parse_args()
    keys = make_keys(args.meters)
    per_meter = max(1, args.readings // args.meters)
    print(f"{args.meters:,} meters x {per_meter} readings, {os.cpu_count()} cores")
    print(
        "| mode | workers | readings | time | end to end | worker CPU | per worker CPU-s | gateway CPU "
        "| messages per worker | broker CPU | PostgreSQL CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for mode in args.mode:
        for w in args.workers:
            print(run_case(mode, w, keys, per_meter, args.gateways).line(), flush=True)


if __name__ == "__main__":
    main()
