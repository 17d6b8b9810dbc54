"""What `gridedge demo` costs: start-up, CPU per simulated second, speed, memory, readers, live updates.

Run: `python bench/demo.py [--homes 20] [--windows 06:30-07:30,11:30-12:30,17:50-18:50] [--speed 60]
[--paced-seconds 180] [--paced-start 17:50] [--quick] [--no-progress]`.

Each part runs in a fresh child process (the world's heap is frozen with `gc.freeze()` once it is
built, so a second world in one process would count the first one's memory and collections):

* **windows**: for each `HH:MM-HH:MM`, `DemoWorld(DemoConfig(homes=N, start=that day at HH:MM))`, then
  `start()` (construction to `ready`: every energy manager has its first plan), then `step()` flat
  out (no pacing, as `advance()` does) to the window's end. Printed: start-up wall and CPU time,
  process CPU time (all threads: HiGHS solves in worker threads) per simulated second, the speed
  flat out (simulated over wall seconds) over the whole window and over its slowest 300 simulated
  seconds (at 60x that is the 5 wall seconds of backlog the pacing loop catches up,
  `world.MAX_CATCH_UP_S`), the wall time of one step (p50 / p99 / max, the steps over 100 ms: those
  that wait for a re-plan), the plans made, resident memory after `ready` and at the end (VmRSS, VmHWM), and
  the readers (`status()`, `home()` of the featured and of a plain home, `grid()`, and the whole
  snapshot a live-update stream serialises per update) timed on the world as the window ends.
  A window that starts after a storyline step with lasting effect (the 17:00 price spike) plays it
  first, so the evening runs on the spiked prices as in a full day.
* **paced**: the real thing, as `gridedge demo` runs it: the world paced by `DemoWorld.run()` at
  `--speed` and the app (`gridedge.web.app.create_app`) served by uvicorn on the same loop on
  loopback, with one browser-like client in another process following `/api/events?site=<featured>`
  for `--paced-seconds` wall seconds from `--paced-start` (default 17:50, the busiest hour).
  Printed: `lag_s` sampled every 0.25 s (p50 / p99 / max, share of samples above 1 s), the
  simulated rate held, and the live-update latency on one monotonic clock (CLOCK_MONOTONIC, shared
  by both processes): (a) from the world's version change that an event carries (its `id:`) to the
  event's last byte read by the client: how old what the browser shows is when it arrives; (b) from
  the stream taking its snapshot (`status()`, the first view it reads) to that arrival: views + JSON
  + HTTP + the client's read; (c) from the oldest change the client had not yet been shown to that
  arrival: (a) plus the stream's throttle (`EventStreams.min_interval_s`, 0.5 s: at most two
  updates a second, by design). The world's `_bump` and `status` are wrapped on the instance to
  timestamp (a) and (b); nothing else is changed.

Figures only; nothing is asserted. `--quick`: 5 homes, 10-minute windows, 30 s paced.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gridedge.cli_progress import add_progress_flag, progress, progress_wanted

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
DEFAULT_WINDOWS = "06:30-07:30,11:30-12:30,17:50-18:50"
QUICK_WINDOWS = "06:50-07:00,11:55-12:05,17:55-18:05"
READER_REPEATS = 200


# ---- helpers shared by parent and children


def proc_status_kib(field: str) -> int:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def emit(kind: str, payload: Any) -> None:
    """A child's line to the parent on stdout: `progress N` or `result {json}`."""
    sys.stdout.write(f"{kind} {json.dumps(payload)}\n")
    sys.stdout.flush()


def parse_window(text: str) -> tuple[str, str]:
    a, _, b = text.strip().partition("-")
    for t in (a, b):
        datetime.strptime(t, "%H:%M")
    if not b or b <= a:
        raise argparse.ArgumentTypeError(f"window {text!r}: expected HH:MM-HH:MM, the end after the start")
    return a, b


def at(hhmm: str) -> datetime:
    from gridedge.app.demo.config import DEFAULT_START

    h, m = (int(x) for x in hhmm.split(":"))
    return DEFAULT_START.replace(hour=h, minute=m)


def quiet_highs() -> None:
    """HiGHS prints its banner on stdout (C++ side) at the first solver: send it to stderr, so stdout
    carries the child's lines only."""
    from gridedge.cli_plan import highs_banner_to_stderr

    highs_banner_to_stderr()


def build_world(homes: int, start: datetime, data_dir: Path) -> Any:
    from gridedge.app.demo.config import DemoConfig
    from gridedge.app.demo.world import DemoWorld

    return DemoWorld(DemoConfig(data_dir, homes=homes, start=start))


def replay_lasting_steps(world: Any) -> list[str]:
    """Steps skipped because the window starts after them, whose effect lasts (the price spike)."""
    played = []
    local = world.clock.now().astimezone(world.zone).time()
    for key in ("price_spike",):
        if world.story.step(key).at <= local:
            world.trigger(key, "bench")
            played.append(key)
    return played


# ---- child: one window flat out


def time_call(fn: Any, repeats: int) -> float:
    """Median wall time of one call, in microseconds."""
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out) * 1e6


async def child_window(homes: int, start_s: str, end_s: str, launched: float) -> dict[str, Any]:
    from gridedge.web.events import EventStreams

    quiet_highs()
    i0 = time.perf_counter()
    import gridedge.app.demo.world  # noqa: F401  (timed apart: what the process imports once)

    result: dict[str, Any] = {
        "window": f"{start_s}-{end_s}",
        "homes": homes,
        "import_s": time.perf_counter() - i0,
    }
    seconds = int((at(end_s) - at(start_s)).total_seconds())
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as d:
        c0, t0 = time.process_time(), time.perf_counter()
        world = build_world(homes, at(start_s), Path(d))
        t1 = time.perf_counter()
        await world.start()
        c2, t2 = time.process_time(), time.perf_counter()
        result |= {
            "construct_s": t1 - t0, "start_s": t2 - t1, "startup_s": t2 - t0, "startup_cpu_s": c2 - c0,
            "cold_s": time.monotonic() - launched,
            "rss_ready_mib": proc_status_kib("VmRSS") / 1024,
            "replayed": replay_lasting_steps(world),
        }  # fmt: skip
        steps: list[float] = []
        c3, t3 = time.process_time(), time.perf_counter()
        for n in range(seconds):
            s = time.perf_counter()
            await world.step()
            steps.append(time.perf_counter() - s)
            if n % 60 == 59:
                emit("progress", 1)  # a simulated minute
        c4, t4 = time.process_time(), time.perf_counter()
        chunk = 300
        worst = max(sum(steps[i : i + chunk]) for i in range(0, max(1, len(steps) - chunk + 1), 30))
        result |= {
            "seconds": seconds,
            "cpu_per_sim_s_ms": (c4 - c3) / seconds * 1e3,
            "wall_per_sim_s_ms": (t4 - t3) / seconds * 1e3,
            "speed_mean": seconds / (t4 - t3),
            "speed_worst_300s": min(chunk, seconds) / worst,
            "step_p50_ms": pct(steps, 50) * 1e3,
            "step_p99_ms": pct(steps, 99) * 1e3,
            "step_max_ms": max(steps) * 1e3,
            "slow_steps": sum(x > 0.1 for x in steps),
            "slow_share": sum(x for x in steps if x > 0.1) / sum(steps),
            "rss_end_mib": proc_status_kib("VmRSS") / 1024,
            "hwm_mib": proc_status_kib("VmHWM") / 1024,
            "plans": sum(h.cem.plans_made for h in world.homes),
        }
        featured, plain = world.homes[0].site_id, world.homes[-1].site_id
        streams = EventStreams(world)
        result["readers_us"] = {
            "status()": time_call(world.status, READER_REPEATS),
            "home(featured)": time_call(lambda: world.home(featured), READER_REPEATS),
            "home(plain)": time_call(lambda: world.home(plain), READER_REPEATS),
            "grid()": time_call(world.grid, READER_REPEATS),
            "SSE snapshot (status+grid+home, JSON)": time_call(
                lambda: streams.snapshot(featured), READER_REPEATS // 4
            ),
        }
        await world.close()
    return result


# ---- child: paced at --speed, served by uvicorn, one SSE client in another process

CLIENT = r"""
import socket, sys, time
host, port, path, until = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
s = socket.create_connection((host, port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
s.settimeout(max(0.1, until - time.monotonic()))
buf, head, ident, name, out = b"", False, None, None, sys.stdout
try:
    while time.monotonic() < until:
        chunk = s.recv(65536)
        now = time.monotonic()
        if not chunk:
            break
        buf += chunk
        if not head:
            if b"\r\n\r\n" not in buf:
                continue
            buf = buf.split(b"\r\n\r\n", 1)[1]
            head = True
        # chunked transfer coding: strip size lines; events end with a blank line
        while b"\n\n" in buf:
            block, buf = buf.split(b"\n\n", 1)
            for line in block.split(b"\n"):
                if line.startswith(b"id: "):
                    ident = int(line[4:])
                elif line.startswith(b"event: "):
                    name = line[7:].decode()
            if ident is not None and name is not None:
                out.write(f"{now:.6f} {ident} {name} {len(block)}\n")
            ident = name = None
except (TimeoutError, OSError):
    pass
out.flush()
"""


async def child_paced(homes: int, start_s: str, speed: float, wall_s: float) -> dict[str, Any]:
    import uvicorn

    from gridedge.clock import RealClock
    from gridedge.web.app import close_event_streams, create_app
    from gridedge.web.demo_users import provision
    from gridedge.web.users import UserStore

    quiet_highs()
    result: dict[str, Any] = {"homes": homes, "start": start_s, "speed": speed, "wall_s": wall_s}
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as d:
        from gridedge.app.demo.config import DemoConfig
        from gridedge.app.demo.world import DemoWorld

        world = DemoWorld(DemoConfig(Path(d), homes=homes, start=at(start_s), speed=speed))
        stamps: dict[int, float] = {}
        bump = world._bump

        def stamped_bump() -> None:  # when each version became current, on CLOCK_MONOTONIC
            bump()
            stamps[world.version] = time.monotonic()

        world._bump = stamped_bump
        snapped: dict[int, float] = {}
        status = world.status

        def stamped_status() -> Any:  # a stream's snapshot starts with status(): when it was taken
            snapped.setdefault(world.version, time.monotonic())
            return status()

        world.status = stamped_status
        users = UserStore(Path(d) / "users.db", clock=RealClock())
        provision(users)
        app = create_app(world, users)
        sock = socket.socket(socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
        )
        stop = asyncio.Event()
        world_task = asyncio.ensure_future(world.run(stop))
        web_task = asyncio.ensure_future(server.serve(sockets=[sock]))
        await world.ready.wait()
        replay_lasting_steps(world)
        featured = world.homes[0].site_id
        t_ready = time.monotonic()
        until = t_ready + wall_s
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLIENT, "127.0.0.1", str(port), f"/api/events?site={featured}", str(until),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        lags: list[float] = []
        sim0, c0 = world.seconds, time.process_time()
        next_tick = time.monotonic()
        while time.monotonic() < until:
            lags.append(world.lag_s)
            if len(lags) % 4 == 0:
                emit("progress", 1)
            next_tick += 0.25
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
        wall = time.monotonic() - t_ready
        sim, cpu = world.seconds - sim0, time.process_time() - c0
        out, _ = await client.communicate()
        stop.set()
        close_event_streams(app)
        server.should_exit = True
        await asyncio.gather(world_task, web_task, return_exceptions=True)
        users.close()
    arrivals: dict[int, float] = {}
    for line in out.decode().splitlines():
        t, ident, _name, _size = line.split()
        arrivals[int(ident)] = float(t)  # the last event of that id: the update is complete
    versions = sorted(stamps)
    carried, staleness, pipeline = [], [], []
    shown = -1
    for ident, t in sorted(arrivals.items()):
        if ident in stamps and stamps[ident] >= t_ready:
            carried.append((t - stamps[ident]) * 1e3)
            if ident in snapped:
                pipeline.append((t - snapped[ident]) * 1e3)
            first_unshown = next((v for v in versions if v > shown), ident)
            staleness.append((t - stamps[first_unshown]) * 1e3)
        shown = ident
    result |= {
        "sim_s": sim, "rate": sim / wall, "cpu_pct": cpu / wall * 100,
        "lag_p50": pct(lags, 50), "lag_p99": pct(lags, 99), "lag_max": max(lags, default=0.0),
        "lag_over_1s": sum(lag > 1.0 for lag in lags) / max(1, len(lags)),
        "updates": len(carried),
        "latency_ms": [pct(carried, 50), pct(carried, 99), max(carried, default=float("nan"))],
        "pipeline_ms": [pct(pipeline, 50), pct(pipeline, 99), max(pipeline, default=float("nan"))],
        "staleness_ms": [pct(staleness, 50), pct(staleness, 99), max(staleness, default=float("nan"))],
        "hwm_mib": proc_status_kib("VmHWM") / 1024,
    }  # fmt: skip
    return result


# ---- parent


def run_child(args: list[str], bar: Any) -> dict[str, Any]:
    env = dict(os.environ, GRIDEDGE_NO_PROGRESS="1", OPENBLAS_NUM_THREADS="1")
    with tempfile.TemporaryFile("w+") as err:  # its log (HiGHS banner, lag warnings): shown if it fails
        proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        result: dict[str, Any] | None = None
        for line in proc.stdout:
            kind, _, payload = line.partition(" ")
            if kind == "progress":
                bar.advance(json.loads(payload))
            elif kind == "result":
                result = json.loads(payload)
        if proc.wait() != 0 or result is None:
            err.seek(0)
            sys.stderr.write(err.read()[-4000:])
            raise SystemExit(f"bench/demo.py: child {args} failed (exit {proc.returncode})")
    return result


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def report_windows(rows: list[dict[str, Any]]) -> None:
    print(f"\n## flat out ({rows[0]['homes']} homes, one process per window, no pacing)\n")
    print("| window | start-up (build + start) | CPU per sim s | speed flat out (worst 300 sim s) "
          "| step p50 / p99 / max | steps > 100 ms (share of wall) | plans "
          "| RSS ready / end / peak |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        extra = f" (replayed {', '.join(r['replayed'])})" if r["replayed"] else ""
        print(
            f"| {r['window']}{extra} | {r['startup_s']:.2f} s ({r['construct_s']:.2f} + {r['start_s']:.2f});"
            f" {r['startup_cpu_s']:.2f} CPU s; {r['cold_s']:.1f} s from launch"
            f" (imports {r['import_s']:.1f} s)"
            f" | {r['cpu_per_sim_s_ms']:.1f} ms"
            f" | **{r['speed_mean']:.0f}x** ({r['speed_worst_300s']:.0f}x)"
            f" | {r['step_p50_ms']:.1f} / {r['step_p99_ms']:.1f} / {r['step_max_ms']:.0f} ms"
            f" | {r['slow_steps']} ({r['slow_share'] * 100:.0f} %) | {r['plans']}"
            f" | {r['rss_ready_mib']:.0f} / {r['rss_end_mib']:.0f} / {r['hwm_mib']:.0f} MiB |"
        )
    print("\n## readers (median of repeated calls on the world at the window's end)\n")
    names = list(rows[0]["readers_us"])
    print("| reader | " + " | ".join(r["window"] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for n in names:
        print(f"| {n} | " + " | ".join(f"{r['readers_us'][n]:.0f} us" for r in rows) + " |")


def report_paced(p: dict[str, Any]) -> None:
    print(f"\n## paced at {p['speed']:g}x with the app on uvicorn and one SSE client ({p['homes']} homes, "
          f"{p['wall_s']:.0f} wall s from {p['start']})\n")  # fmt: skip
    lat, stale, pipe = p["latency_ms"], p["staleness_ms"], p["pipeline_ms"]
    print("| figure | value |")
    print("|---|---|")
    print(
        f"| simulated rate held | {p['rate']:.1f}x ({p['sim_s']} sim s); "
        f"process CPU {p['cpu_pct']:.0f} % of one core |"
    )
    print(f"| lag_s p50 / p99 / max | {p['lag_p50']:.1f} / {p['lag_p99']:.1f} / {p['lag_max']:.1f} s; "
          f"{p['lag_over_1s'] * 100:.0f} % of samples above 1 s |")  # fmt: skip
    print(f"| updates received | {p['updates']} |")
    print(
        f"| version change carried -> event read, p50 / p99 / max "
        f"| **{lat[0]:.1f} / {lat[1]:.1f}** / {lat[2]:.1f} ms |"
    )
    print(f"| snapshot taken -> event read (views + JSON + HTTP + client), p50 / p99 / max "
          f"| {pipe[0]:.1f} / {pipe[1]:.1f} / {pipe[2]:.1f} ms |")  # fmt: skip
    print(f"| oldest unshown change -> event read (with the 0.5 s throttle), p50 / p99 / max "
          f"| {stale[0]:.0f} / {stale[1]:.0f} / {stale[2]:.0f} ms |")  # fmt: skip
    print(f"| peak RSS (world + app) | {p['hwm_mib']:.0f} MiB |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--homes", type=int, default=None, help="homes on the street (default 20; --quick 5)")
    ap.add_argument(
        "--windows", default=None, help=f"comma-separated HH:MM-HH:MM (default {DEFAULT_WINDOWS})"
    )
    ap.add_argument("--speed", type=float, default=60.0, help="speed of the paced run (default 60)")
    ap.add_argument(
        "--paced-seconds", type=float, default=None, help="wall seconds paced (default 180; 0: skip)"
    )
    ap.add_argument("--paced-start", default="17:50", help="simulated start of the paced run (default 17:50)")
    ap.add_argument("--quick", action="store_true", help="5 homes, 10-minute windows, 30 s paced")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    add_progress_flag(ap)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "window":
            emit("result", asyncio.run(child_window(int(rest[0]), rest[1], rest[2], float(rest[3]))))
        else:
            emit("result", asyncio.run(child_paced(int(rest[0]), rest[1], float(rest[2]), float(rest[3]))))
        return 0
    homes = args.homes if args.homes is not None else (5 if args.quick else 20)
    windows = [
        parse_window(w)
        for w in (args.windows or (QUICK_WINDOWS if args.quick else DEFAULT_WINDOWS)).split(",")
    ]
    paced = args.paced_seconds if args.paced_seconds is not None else (30.0 if args.quick else 180.0)
    if homes < 1:
        ap.error("--homes must be at least 1")
    parse_window(f"{args.paced_start}-23:59")
    shown = progress_wanted(args.no_progress)
    print(f"# bench/demo.py: {homes} homes, {datetime.now().strftime('%Y-%m-%d %H:%M')}, {machine()}")
    rows = []
    for a, b in windows:  # one bar per child: simulated minutes flat out, then wall seconds paced
        minutes = int((at(b) - at(a)) / timedelta(minutes=1))
        with progress(f"demo: {a}-{b} flat out", total=minutes, unit="sim min", enabled=shown) as bar:
            rows.append(run_child(["--child", "window", str(homes), a, b, str(time.monotonic())], bar))
    report_windows(rows)
    if paced > 0:
        sys.stdout.flush()
        with progress(
            f"demo: paced {args.speed:g}x + SSE", total=int(paced), unit="wall s", enabled=shown
        ) as bar:
            got = run_child(
                ["--child", "paced", str(homes), args.paced_start, str(args.speed), str(paced)], bar
            )
        report_paced(got)
    return 0


if __name__ == "__main__":
    sys.exit(main())
