"""Live updates over server-sent events, against uvicorn on a free port: a snapshot on connect, an event
when the control's version moves (only for the views that changed, at most about twice a second),
heartbeat comments while idle, and a stream that ends when the client goes, when the app closes its
streams, and when uvicorn is told to stop or gets Ctrl-C."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from web_support import S1_HOME, FakeControl, live_server, make_users

from gridedge.web.app import close_event_streams, create_app
from gridedge.web.events import EventStreams


def events(lines: Iterator[str], n: int) -> list[tuple[str, dict[str, object] | str]]:
    """The next `n` events (or comments, as ("comment", text)) from an SSE line iterator."""
    out: list[tuple[str, dict[str, object] | str]] = []
    name, data = "message", ""
    for line in lines:
        if line.startswith(":"):
            out.append(("comment", line[1:].strip()))
        elif line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data = line[len("data: ") :]
        elif line == "" and data:
            out.append((name, json.loads(data)))
            name, data = "message", ""
        if len(out) == n:
            return out
    raise AssertionError(f"the stream ended after {out}")


@pytest.fixture
def served() -> Iterator[tuple[FakeControl, str, EventStreams, object]]:
    control = FakeControl()
    app = create_app(control, make_users())
    with live_server(app) as (url, _server):
        yield control, url, app.state.event_streams, app


def wait_for(condition: object, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_snapshot_then_only_what_changed(served: tuple[FakeControl, str, EventStreams, object]) -> None:
    control, url, streams, _ = served
    with httpx.stream("GET", f"{url}/api/events", params={"site": S1_HOME}, timeout=5) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        lines = r.iter_lines()
        assert next(lines) == "retry: 2000"
        first = events(lines, 3)
        assert [name for name, _ in first] == ["status", "grid", "home"]
        home = first[2][1]
        assert isinstance(home, dict) and home["site_id"] == S1_HOME
        assert home["flow"] == {**home["flow"], "grid_w": 1830.0}  # type: ignore[dict-item]
        assert streams.open == 1
        t0 = time.monotonic()
        control.bump(grid_w=-2500.0)  # only the home and the grid's site table change
        changed = events(lines, 2)
        assert time.monotonic() - t0 < 2.0
        assert sorted(name for name, _ in changed) == ["grid", "home"]
        got = dict(changed)
        assert got["home"]["flow"]["grid_w"] == -2500.0  # type: ignore[index]
        assert got["grid"]["sites"][0]["grid_w"] == -2500.0  # type: ignore[index]


def test_updates_are_throttled_to_about_two_a_second(
    served: tuple[FakeControl, str, EventStreams, object],
) -> None:
    control, url, streams, _ = served
    streams.heartbeat_s = 0.3  # so reading never blocks for long
    with httpx.stream("GET", f"{url}/api/events", params={"site": S1_HOME}, timeout=5) as r:
        lines = r.iter_lines()
        events(lines, 3)
        seen: list[tuple[float, object]] = []

        def churn() -> None:  # 50 changes a second for 1.5 s
            for i in range(75):
                control.bump(grid_w=float(i))
                time.sleep(0.02)

        threading.Thread(target=churn, daemon=True).start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5:
            name, data = events(lines, 1)[0]
            if name == "home":
                assert isinstance(data, dict)
                seen.append((time.monotonic() - t0, data["flow"]["grid_w"]))  # type: ignore[index]
        times = [t for t, _ in seen]
        assert 2 <= len(seen) <= 5, seen  # 1.5 s at <= 2 a second, the first straight after the change
        assert all(b - a > 0.4 for a, b in itertools.pairwise(times)), times
        assert seen[-1][1] == 74.0  # the final state always arrives


def test_heartbeat_comments_while_nothing_changes(
    served: tuple[FakeControl, str, EventStreams, object],
) -> None:
    _, url, streams, _ = served
    streams.heartbeat_s = 0.2
    with httpx.stream("GET", f"{url}/api/events", timeout=5) as r:
        lines = r.iter_lines()
        assert [n for n, _ in events(lines, 2)] == ["status", "grid"]  # no site: no home events
        assert events(lines, 2) == [("comment", "heartbeat"), ("comment", "heartbeat")]


def test_the_stream_ends_when_the_client_goes(served: tuple[FakeControl, str, EventStreams, object]) -> None:
    control, url, streams, _ = served
    for _ in range(3):
        with httpx.stream("GET", f"{url}/api/events", params={"site": S1_HOME}, timeout=5) as r:
            lines = r.iter_lines()
            events(lines, 3)
            wait_for(lambda: streams.open == 1 and control.waiting == 1)
    wait_for(lambda: streams.open == 0 and control.waiting == 0)


def test_unknown_site_is_404_before_streaming(served: tuple[FakeControl, str, EventStreams, object]) -> None:
    _, url, streams, _ = served
    r = httpx.get(f"{url}/api/events", params={"site": "nowhere"}, timeout=5)
    assert r.status_code == 404 and r.json() == {"detail": "no site 'nowhere'"}
    assert streams.open == 0


def test_closing_ends_open_streams_so_uvicorn_stops_at_once() -> None:
    control = FakeControl()
    app = create_app(control, make_users())
    with live_server(app) as (url, server):
        with httpx.stream("GET", f"{url}/api/events", params={"site": S1_HOME}, timeout=5) as r:
            lines = r.iter_lines()
            events(lines, 3)
            t0 = time.monotonic()
            close_event_streams(app)  # type: ignore[arg-type]
            rest = list(lines)  # the server ends the response
            assert time.monotonic() - t0 < 1.0 and rest == []
        # new streams end at once too; the rest of the app still answers
        with httpx.stream("GET", f"{url}/api/events", timeout=5) as r:
            assert list(r.iter_lines()) == ["retry: 2000", ""]
        assert httpx.get(f"{url}/api/status").status_code == 200
    assert not server.started or server.should_exit


def test_uvicorn_stops_on_ctrl_c_with_a_stream_open(tmp_path: Path) -> None:
    """The SIGINT handler uvicorn installs is chained: the streams close first, so uvicorn's graceful
    shutdown has no open response to wait for (it would wait forever for a browser's)."""
    support = Path(__file__).with_name("web_support.py")
    proc = subprocess.Popen(
        [sys.executable, str(support), "0"], stderr=subprocess.PIPE, text=True, cwd=support.parent
    )
    try:
        assert proc.stderr is not None
        url = ""
        deadline = time.monotonic() + 20
        while not url and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if line.startswith("dashboard on "):
                url = line.split(" on ", 1)[1].strip().rstrip("/")
        assert url, "the server never announced itself"
        for _ in range(100):  # until uvicorn accepts connections
            try:
                httpx.get(f"{url}/api/status", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        with httpx.stream("GET", f"{url}/api/events", params={"site": S1_HOME}, timeout=5) as r:
            lines = r.iter_lines()
            events(lines, 3)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGINT)
            for _line in lines:  # until the server ends the stream (the demo world keeps it busy)
                assert time.monotonic() - t0 < 3.0, "the stream went on after Ctrl-C"
        proc.wait(timeout=5)
        assert time.monotonic() - t0 < 3.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
