"""CPU and memory of the home services as they run next to the meter: `gridedge cem` and
`gridedge gateway`, each a real process fed by the virtual meter over loopback TCP.

Run: `python bench/footprint.py [--seconds 300] [--only cem|gateway] [--mqtt 127.0.0.1:1883]`.

* cem: the virtual meter (`gridedge sim meter --p1-tcp 127.0.0.1:0`, one telegram a second) and
  `gridedge -v cem` on the Flemish home of `examples/scenarios/belgian-home-energy.toml` (PV,
  10 kWh battery, EV, heat pump, a washing machine the planner places, be-dynamic tariff with the
  Fluvius capacity tariff), a generated day-ahead price file around now, its S2 server on, a 24 h
  horizon (96 quarter-hour steps, HiGHS 1 thread) re-planned every **minute** (`replan_min = 1`;
  the default is 15) so that a short run sees several solves. The 1 s control cycle runs
  throughout; a status line a second (`--status-every 1`).
* gateway: the virtual meter and `gridedge gateway --tcp ... --mqtt BROKER` (consent granted,
  meter key generated as a user does) against the MQTT broker given (Mosquitto on loopback), with
  a head-end in this process that opens every record and acknowledges it (as in
  tests/test_cli_gateway.py), so the outbox stays empty as it does in service. Skipped, with a
  message, when no broker answers.

Sampling (every `--interval` s, /proc, no psutil needed): utime + stime and VmRSS of each process;
VmHWM at the end. Printed per service: startup (process start to the first status line; for cem
also to the S2 server being up and to the first plan), steady RSS (median, max, after a
`--warmup`), CPU in % of one core (mean over the steady part, mean outside solves, p95 and max of
the `--interval` windows), the planner's solves (from the `-v` log: "plan N ...: optimal, 1.27 s")
with the CPU and RSS peak during them, and the interpreter, library versions and CPU of this
machine. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import math
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

from gridedge.cli_progress import add_progress_flag, progress, progress_wanted

ROOT = Path(__file__).resolve().parents[1]
PROGRESS = False
"""A bar while each service runs (stderr is a terminal, no --no-progress); set by main()."""
CORPUS_PRICES = (
    ROOT.parent / "shared/corpus/ems/be_day_ahead/BE_DAM_2024-01_2025-10_15min_EURperMWh_nox.csv.gz"
)
SCENARIO = ROOT / "examples" / "scenarios" / "belgian-home-energy.toml"
METER_ID = "1SAG1100000292"
TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
PLAN_LINE = re.compile(r"plan (\d+) from \S+: ([\w-]+), ([\d.]+) s")
LIBRARIES = (
    "gridedge", "highspy", "numpy", "scipy", "pandas", "pvlib", "pydantic", "orjson", "aiomqtt",
    "websockets", "s2-python", "ocpp", "pymodbus", "serialx", "fastcrc", "cryptography", "cbor2",
)  # fmt: skip


# ---- sampling /proc


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of proc(5)


def memory_kb(pid: int) -> tuple[int, int, int]:
    """(VmRSS, VmHWM, RssAnon) in KiB: resident, its peak, and the part that is not file-backed
    (the rest is mostly the shared libraries of numpy, scipy, pandas, HiGHS)."""
    values = {"VmRSS:": 0, "VmHWM:": 0, "RssAnon:": 0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(maxsplit=1)[0] if line else ""
        if key in values:
            values[key] = int(line.split()[1])
    return values["VmRSS:"], values["VmHWM:"], values["RssAnon:"]


@dataclass
class Sample:
    t: float  # monotonic
    cpu_s: float
    rss_kb: int
    hwm_kb: int
    anon_kb: int


@dataclass
class Watched:
    """A process under measurement: its samples and the lines it wrote, with their arrival times."""

    name: str
    proc: subprocess.Popen[str]
    started: float
    samples: list[Sample] = field(default_factory=list)
    out: list[tuple[float, str]] = field(default_factory=list)
    err: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            if stream is not None:
                threading.Thread(target=_drain, args=(stream, sink), daemon=True).start()

    def sample(self) -> None:
        try:
            cpu = cpu_seconds(self.proc.pid)
            rss, hwm, anon = memory_kb(self.proc.pid)
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            return  # exited between two samples
        if rss:  # a zombie has no memory left to report
            self.samples.append(Sample(time.monotonic(), cpu, rss, hwm, anon))

    def first(self, lines: list[tuple[float, str]], prefix: str = "") -> float | None:
        """Seconds from process start to the first line starting with `prefix`."""
        for t, line in list(lines):
            if line.startswith(prefix):
                return t - self.started
        return None


def _drain(stream: object, sink: list[tuple[float, str]]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append((time.monotonic(), line.rstrip("\n")))


def start(name: str, args: list[str], cwd: Path) -> Watched:
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return Watched(name, proc, time.monotonic())


def wait_line(w: Watched, prefix: str, timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for _, line in list(w.err):
            if line.startswith(prefix):
                return line.split(" on ", 1)[1].strip()
        if w.proc.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"{w.name}: '{prefix}' never announced; stderr:\n" + "\n".join(x for _, x in w.err))


def run_sampled(watched: list[Watched], seconds: float, interval: float) -> None:
    """Sample every `interval` s until the first process (the service measured) has exited or
    `seconds` (+30 s grace) passed. A bar of the run's seconds on a terminal's stderr (this process
    only; the services measured are other processes)."""
    t0 = time.monotonic()
    deadline = t0 + seconds + 30
    nxt = t0
    with progress(watched[0].name, total=seconds, unit="s", enabled=PROGRESS, proxy_stdout=True) as bar:
        while time.monotonic() < deadline and watched[0].proc.poll() is None:
            for w in watched:
                if w.proc.poll() is None:
                    w.sample()
            nxt += interval
            bar.update(min(seconds, time.monotonic() - t0))
            time.sleep(max(0.0, nxt - time.monotonic()))


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---- figures


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


@dataclass(frozen=True)
class Window:
    t0: float
    t1: float
    cpu_pct: float
    rss_kb: int


def windows(samples: list[Sample]) -> list[Window]:
    return [
        Window(a.t, b.t, 100.0 * (b.cpu_s - a.cpu_s) / (b.t - a.t), b.rss_kb)
        for a, b in itertools.pairwise(samples)
        if b.t > a.t
    ]


def report(w: Watched, warmup: float, solves: list[tuple[float, float]] | None = None) -> None:
    """Print the figures of one service. `solves`: (start, end) monotonic times of planner solves."""
    s = w.samples
    if len(s) < 3:
        print(f"  {w.name}: too few samples ({len(s)})")
        return
    steady = [x for x in s if x.t - w.started >= warmup] or s
    ws = windows(steady)
    rss_mib = [x.rss_kb / 1024 for x in steady]
    span = steady[-1].t - steady[0].t
    mean = 100.0 * (steady[-1].cpu_s - steady[0].cpu_s) / span if span > 0 else math.nan
    cpu = [x.cpu_pct for x in ws]
    print(f"  {w.name}: {len(s)} samples over {s[-1].t - s[0].t:.0f} s; steady part from {warmup:.0f} s")
    first_out = w.out[0][0] if w.out else None
    boot = [x for x in s if first_out is not None and x.t <= first_out]
    if boot:
        print(f"    start-up        {boot[-1].cpu_s:.2f} CPU s and {boot[-1].rss_kb / 1024:.1f} MiB RSS"
              f" by the first status line")  # fmt: skip
    print(f"    RSS steady      median {statistics.median(rss_mib):6.1f} MiB   max {max(rss_mib):6.1f} MiB"
          f"   peak (VmHWM) {s[-1].hwm_kb / 1024:6.1f} MiB"
          f"   anonymous (not file-backed) {s[-1].anon_kb / 1024:6.1f} MiB")  # fmt: skip
    print(f"    CPU steady      mean {mean:5.1f} %   p95 {pct(cpu, 0.95):5.1f} %   max {max(cpu):5.1f} %"
          f"   (% of one core, {ws[0].t1 - ws[0].t0:.1f} s windows;"
          f" total {s[-1].cpu_s:.1f} CPU s)")  # fmt: skip
    if solves is None:
        return
    margin = 0.5

    def in_solve(x: Window) -> bool:
        return any(x.t0 < b + margin and x.t1 > a - margin for a, b in solves)

    quiet = [x for x in ws if not in_solve(x)]
    busy = [x for x in ws if in_solve(x)]  # solves after the warm-up: the first one overlaps start-up
    if quiet:
        q_cpu = sum(x.cpu_pct * (x.t1 - x.t0) for x in quiet) / sum(x.t1 - x.t0 for x in quiet)
        print(f"    CPU outside solves (control cycle, meter, S2, status)  mean {q_cpu:5.1f} %"
              f"   p95 {pct([x.cpu_pct for x in quiet], 0.95):5.1f} %")  # fmt: skip
    after = sum(1 for a, _ in solves if a - w.started >= warmup)
    if busy:
        print(f"    during solves   CPU max {max(x.cpu_pct for x in busy):5.1f} %"
              f"   RSS max {max(x.rss_kb for x in busy) / 1024:6.1f} MiB"
              f"   ({after} solves after the warm-up)")  # fmt: skip


def machine() -> None:
    info = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", info)
    mhz = re.search(r"cpu MHz\s*:\s*(.*)", info)
    fam = re.search(r"cpu family\s*:\s*(\d+)", info)
    mod = re.search(r"^model\s*:\s*(\d+)", info, re.M)
    mem = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
    print(f"machine: {model.group(1) if model else platform.processor()}"
          f" (family {fam.group(1) if fam else '?'} model {mod.group(1) if mod else '?'},"
          f" {mhz.group(1) if mhz else '?'} MHz), {os.cpu_count()} CPUs,"
          f" {int(mem.group(1)) / 1024**2 if mem else math.nan:.1f} GiB, {platform.machine()},"
          f" Linux {platform.release()}")  # fmt: skip
    print(f"python: {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    versions = []
    for lib in LIBRARIES:
        try:
            versions.append(f"{lib} {metadata.version(lib)}")
        except metadata.PackageNotFoundError:
            continue
    print("libraries: " + ", ".join(versions))


# ---- cem


def price_file(path: Path) -> str:
    """Quarter-hour day-ahead prices from yesterday to the day after tomorrow (UTC), in the corpus
    file's layout: the four whole days of real Belgian prices that end the corpus file
    (2025-10-17..20, beside the repository) laid onto these days, else a synthetic winter day
    (low at night, peaks morning and evening). Returns where the prices came from."""
    t0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    n = 4 * 24 * 4
    source = "synthetic"
    values: list[float] = []
    if CORPUS_PRICES.exists():
        rows = gzip.decompress(CORPUS_PRICES.read_bytes()).decode().splitlines()[1:]
        days = [r for r in rows if "2025-10-17" <= r[:10] <= "2025-10-20"]
        if len(days) == n:
            values = [float(r.rsplit(",", 1)[1]) for r in days]
            source = f"{CORPUS_PRICES.name}, 2025-10-17..20"
    if not values:
        for i in range(n):
            h = (i % 96) / 4
            p = 70 + 45 * math.exp(-(((h - 7) / 1.5) ** 2)) + 60 * math.exp(-(((h - 17.5) / 2) ** 2))
            values.append(p + 8 * math.sin(i * 0.7))
    out = ["datetime_utc,date,hour,minute,price_eur_mwh"]
    for i, p in enumerate(values):
        t = t0 + timedelta(minutes=15 * i)
        out.append(f"{t:%Y-%m-%d %H:%M:%S},{t:%Y-%m-%d},{t.hour},{t.minute},{p:.2f}")
    path.write_text("\n".join(out) + "\n")
    return source


def cem_scenario(p1: str) -> str:
    base = SCENARIO.read_text().split("\n[cem]", 1)[0]
    tariff_end = base.index("export_discount_eur_per_kwh")
    line_end = base.index("\n", tariff_end)
    base = base[: line_end + 1] + 'prices = "prices.csv"\n' + base[line_end + 1 :]
    return (
        base
        + f"""
[cem]
site_id = "home"
ev_mode = "now"

[cem.meter]
tcp = "{p1}"

[cem.s2]
host = "127.0.0.1"
port = 0

[cem.limits]
failsafe_store = "failsafe.json"

[cem.planner]
horizon_h = 24
replan_min = 1
time_limit_s = 10
"""
    )


def bench_cem(seconds: float, interval: float, warmup: float, work: Path) -> None:
    print(f"\n== gridedge cem ({seconds:.0f} s) ==")
    work.mkdir(parents=True, exist_ok=True)
    meter = start("meter", ["-m", "gridedge", "sim", "meter", "--p1-tcp", "127.0.0.1:0",
                            "--duration", str(int(seconds) + 60)], work)  # fmt: skip
    procs = [meter.proc]
    try:
        p1 = wait_line(meter, "P1").removeprefix("tcp://")
        print(f"  prices: {price_file(work / 'prices.csv')}")
        (work / "site.toml").write_text(cem_scenario(p1))
        cem = start("cem", ["-m", "gridedge", "-v", "cem", "--config", "site.toml", "--json",
                            "--status-every", "1", "--duration", str(int(seconds))], work)  # fmt: skip
        procs.append(cem.proc)
        run_sampled([cem, meter], seconds, interval)
        cem.proc.wait(timeout=60)
    finally:
        stop(procs)
    time.sleep(0.2)  # the reader threads take the last lines
    solves: list[tuple[float, float]] = []
    durations: list[float] = []
    statuses: list[str] = []
    for t, line in cem.err:
        m = PLAN_LINE.search(line)
        if m:
            durations.append(float(m.group(3)))
            statuses.append(m.group(2))
            solves.append((t - float(m.group(3)), t))
    print(f"  exit code {cem.proc.returncode}; status lines {len(cem.out)}; last: "
          f"{cem.out[-1][1][:160] if cem.out else '-'}")  # fmt: skip
    up, first_plan, first_status = cem.first(cem.err, "S2 CEM server"), None, cem.first(cem.out)
    if solves:
        first_plan = solves[0][1] - cem.started
    print(f"  startup: S2 server up {_s(up)}, first plan {_s(first_plan)}, first status line"
          f" {_s(first_status)} (--status-every 1: includes up to 1 s of the interval)")  # fmt: skip
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(cem.out)]
    if gaps:
        print(f"  status lines (--status-every 1): largest gap {max(gaps):.2f} s, p99"
              f" {pct(gaps, 0.99):.2f} s (~1 s: the loop kept its pace)")  # fmt: skip
    if durations:
        print(f"  planner: {len(durations)} solve(s) ({', '.join(sorted(set(statuses)))}), 96 steps,"
              f" median {statistics.median(durations):.2f} s, max {max(durations):.2f} s")  # fmt: skip
    report(cem, warmup, solves)
    report(meter, warmup)
    if cem.proc.returncode != 0:
        print("  cem stderr tail:\n    " + "\n    ".join(x for _, x in cem.err[-15:]))


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} s"


# ---- gateway


def broker_up(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


class HeadEnd:
    """Opens every record the gateway sends and acknowledges it, on its own thread and loop."""

    def __init__(self, mqtt: str, prefix: str, key: bytes) -> None:
        self.mqtt, self.prefix, self.key = mqtt, prefix, key
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> HeadEnd:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    async def _run(self) -> None:
        from gridedge.bus.rawlink import MqttRawLink
        from gridedge.bus.telemetry import Opener, Sealer, decode_record, encode_ack
        from gridedge.clock import RealClock
        from gridedge.home.gateway.service import ack_topic
        from gridedge.model.telemetry import TelemetryAck

        host, port = self.mqtt.rsplit(":", 1)
        opener, sealer = Opener(lambda m: self.key), Sealer(METER_ID, self.key)
        link = MqttRawLink(RealClock(), host=host, port=int(port), topic_prefix=self.prefix)
        tasks: set[asyncio.Task[None]] = set()

        def up(topic: str, data: bytes) -> None:
            meter = topic.split("/")[-2]
            record = decode_record(opener.open(data, meter))
            self.received += 1
            ack = sealer.seal(encode_ack(TelemetryAck(meter, ((record.sequence, record.sequence),))))
            task = asyncio.ensure_future(link.publish(ack_topic(meter), ack))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        link.subscribe("meter/+/up", up)
        await link.start()
        while not self._stop.is_set():
            await asyncio.sleep(0.2)
        await link.close()


def bench_gateway(seconds: float, interval: float, warmup: float, work: Path, mqtt: str) -> None:
    print(f"\n== gridedge gateway ({seconds:.0f} s, broker {mqtt}) ==")
    if not broker_up(mqtt):
        print(f"  skipped: no MQTT broker answers on {mqtt} (start Mosquitto or pass --mqtt)")
        return
    from gridedge.home.gateway.keys import load_key

    work.mkdir(parents=True, exist_ok=True)
    gw = [sys.executable, "-m", "gridedge", "gateway"]
    key, db = work / "meter.key", work / "gw.db"
    for extra in (
        ["keygen", "--key", str(key)],
        ["consent", "--db", str(db), "grant", "port-data", "--recipient", "hes", "--by", "bench"],
    ):
        done = subprocess.run([*gw, *extra], capture_output=True, text=True, timeout=60)  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"gateway {extra[0]}: {done.stderr}")
    prefix = f"footprint-{uuid.uuid4().hex[:8]}"
    meter = start("meter", ["-m", "gridedge", "sim", "meter", "--p1-tcp", "127.0.0.1:0",
                            "--duration", str(int(seconds) + 60)], work)  # fmt: skip
    procs = [meter.proc]
    try:
        p1 = wait_line(meter, "P1").removeprefix("tcp://")
        with HeadEnd(mqtt, prefix, load_key(key)) as head_end:
            time.sleep(1.0)  # subscribed before the first record
            gateway = start("gateway", ["-m", "gridedge", "gateway", "--tcp", p1, "--mqtt", mqtt,
                                        "--mqtt-prefix", prefix, "--key", str(key), "--db", str(db),
                                        "--meter-id", METER_ID, "--json", "--status-every", "1",
                                        "--duration", str(int(seconds))], work)  # fmt: skip
            procs.append(gateway.proc)
            run_sampled([gateway, meter], seconds, interval)
            gateway.proc.wait(timeout=60)
    finally:
        stop(procs)
    time.sleep(0.2)
    print(f"  exit code {gateway.proc.returncode}; head-end received {head_end.received} records;"
          f" last status: {gateway.out[-1][1][:200] if gateway.out else '-'}")  # fmt: skip
    print(f"  startup: MQTT link {_s(gateway.first(gateway.err, 'MQTT link'))}, first status line"
          f" {_s(gateway.first(gateway.out))} (--status-every 1)")  # fmt: skip
    report(gateway, warmup)
    size = sum(p.stat().st_size for p in work.glob("gw.db*"))
    print(f"  gateway database after the run: {size / 1024:.0f} KiB (outbox, consent log, WAN history)")
    if gateway.proc.returncode != 0:
        print("  gateway stderr tail:\n    " + "\n    ".join(x for _, x in gateway.err[-15:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--seconds", type=float, default=300.0, help="run time of each service (300)")
    ap.add_argument("--only", choices=("cem", "gateway"), help="measure one service only")
    ap.add_argument("--interval", type=float, default=0.5, help="sampling interval in s (0.5)")
    ap.add_argument("--warmup", type=float, default=20.0, help="seconds left out of the steady figures (20)")
    ap.add_argument("--mqtt", default="127.0.0.1:1883", help="broker for the gateway (127.0.0.1:1883)")
    ap.add_argument("--keep", type=Path, help="keep the working files (scenario, databases) here")
    add_progress_flag(ap)
    args = ap.parse_args()
    global PROGRESS
    PROGRESS = progress_wanted(args.no_progress)
    machine()
    work = Path(tempfile.mkdtemp(prefix="gridedge-footprint-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.only in (None, "cem"):
            bench_cem(args.seconds, args.interval, args.warmup, work / "cem")
        if args.only in (None, "gateway"):
            bench_gateway(args.seconds, args.interval, args.warmup, work / "gateway", args.mqtt)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
