"""A `DemoControl` for the web room's tests: fixed, plausible views of two homes and a feeder, a version
that tests bump by hand, and a record of every command with who gave it.

Run it as a script to look at the dashboard without the real world (the flow moves every second):

    .venv/bin/python tests/web/web_support.py [PORT]
"""

from __future__ import annotations

import asyncio
import math
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn

from gridedge.app.views import (
    Alarm,
    ApplianceShare,
    DemoStatus,
    DeviceView,
    FeederView,
    GridView,
    HomeView,
    IssuedLimit,
    Level,
    LimitView,
    LoadPoint,
    Notification,
    PeakView,
    PlanPoint,
    PowerFlow,
    PricePoint,
    SiteSummary,
    StoryStep,
    UnknownSite,
)
from gridedge.clock import RealClock
from gridedge.web.users import Role, ScryptParams, UserStore

NOW = datetime.fromisoformat("2025-04-15T12:30:00+02:00")
S1_HOME, HOME_2 = "s1-home", "home-02"
FAST = ScryptParams(n=2**10)
PASSWORD = "correct horse battery"
USERS = {"anna": Role.HOME_OWNER, "ivan": Role.INSTALLER, "otto": Role.GRID_OPERATOR}
STORY = ("morning_peak", "pv_noon", "price_spike", "dso_limit", "heartbeat_loss", "restore")
OPERATOR_STEPS = {k: ("grid-operator",) for k in ("dso_limit", "heartbeat_loss", "restore")}
"""Steps that act as the grid operator, as the demo's script says (`app.demo.storyline.SCRIPT`)."""


def make_users(path: str | Path = ":memory:") -> UserStore:
    """A store with one user per role (cheap scrypt), all with `PASSWORD`."""
    store = UserStore(path, RealClock(), params=FAST)
    for name, role in USERS.items():
        store.add_user(name, role, PASSWORD)
    return store


class FakeControl:
    """Serves fixed views; `bump()` changes the home's flow and grows `version`."""

    def __init__(self) -> None:
        self._version = 1
        self._lock = threading.Lock()
        self.calls: list[tuple[Any, ...]] = []
        self.waiting = 0
        """`wait_change` calls in progress (an event stream that ended leaves none behind)."""
        self.speed = 60.0
        self.lag_s = 0.0
        self.grid_w = 1830.0
        self.now = NOW
        self.limit_w: float | None = None
        self.heartbeat = True
        self.managed = {"hp": True, "ev": True, "battery": True, "pv": True}
        self.labels = {"a1": "kettle", "a2": "fridge", "a3": "appliance 3"}
        self.story = True
        self.feeder_w = 41_000.0
        """False: a real site's control (`gridedge run`), without storyline."""

    # --- reading ------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self._version

    async def wait_change(self, after: int, timeout_s: float) -> int:
        self.waiting += 1
        try:
            deadline = time.monotonic() + timeout_s
            while self._version <= after and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return self._version
        finally:
            self.waiting -= 1

    def bump(self, *, grid_w: float | None = None, home_only: bool = True) -> int:
        """Something changed: the S1 home's grid power (and, unless `home_only`, the clock)."""
        with self._lock:
            if grid_w is not None:
                self.grid_w = grid_w
            if not home_only:
                self.now += timedelta(seconds=10)
            self._version += 1
            return self._version

    def status(self) -> DemoStatus:
        story = tuple(
            StoryStep(key, key.replace("_", " "), f"{7 + 2 * i:02d}:30", i < 2, OPERATOR_STEPS.get(key, ()))
            for i, key in enumerate(STORY)
        ) if self.story else ()  # fmt: skip
        # like the real world: some times in UTC, others (plan, prices) in the site's own offset
        return DemoStatus(
            now=self.now.astimezone(UTC),
            speed=self.speed,
            story=story,
            homes=(S1_HOME, HOME_2),
            lag_s=self.lag_s,
        )

    def home(self, site_id: str) -> HomeView:
        if site_id not in (S1_HOME, HOME_2):
            raise UnknownSite(site_id)
        s1 = site_id == S1_HOME
        day = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        plan = tuple(
            PlanPoint(
                day + timedelta(minutes=15 * i),
                1500.0 * math.sin(i / 96 * 2 * math.pi) - 300.0,
                None
                if day + timedelta(minutes=15 * i) > self.now
                else 1400.0 * math.sin(i / 96 * 2 * math.pi),
            )
            for i in range(96)
        )
        prices = tuple(
            PricePoint(day + timedelta(hours=h), 0.20 + 0.12 * math.cos((h - 19) / 24 * 2 * math.pi), 0.04)
            for h in range(24)
        )
        pv = 4200.0 if s1 else 0.0
        flow = PowerFlow(
            self.grid_w, pv, 800.0, 3700.0, 1200.0, self.grid_w + pv - 800 - 3700 - 1200, 0.55, 0.4
        )
        limited = self.limit_w is not None
        limit = LimitView(
            "limited" if limited else "unlimited/controlled",
            self.limit_w,
            None,
            12.0 if self.heartbeat else 95.0,
            108.0 if self.heartbeat else 25.0,
            3600.0 if limited else None,
        )
        notes = (
            Notification(
                self.now - timedelta(minutes=5), Level.WARNING, "Import near the limit (4.8 of 5.0 kW)"
            ),
            Notification(self.now - timedelta(hours=2), Level.INFO, "Plan made: 12 slots, cost €1.84"),
        )
        appliances = (
            tuple(
                ApplianceShare(aid, self.labels[aid], p, e, p > 0)
                for aid, p, e in (("a1", 2000.0, 0.3), ("a2", 90.0, 0.9), ("a3", 0.0, 0.4))
            )
            if s1
            else ()
        )
        devices = (
            DeviceView("pv", "pv", -pv, True, self.managed["pv"]),
            DeviceView("battery", "battery", 800.0, True, self.managed["battery"], 800.0),
            DeviceView("ev", "ev", 3700.0, True, self.managed["ev"], 3700.0),
            DeviceView("hp", "heat_pump", 1200.0, s1, self.managed["hp"]),
        )
        return HomeView(
            site_id=site_id,
            name="Home with S1 port" if s1 else "Home 2",
            now=self.now,
            flow=flow,
            plan=plan,
            prices=prices,
            limit=limit,
            notifications=notes,
            appliances=appliances,
            peak=PeakView(2.4, 5.1),
            devices=devices,
            has_nilm=s1,
        )

    def grid(self) -> GridView:
        sites = (
            SiteSummary(
                S1_HOME,
                "Home with S1 port",
                "F1",
                self.grid_w,
                "limited" if self.limit_w else "unlimited/controlled",
                self.limit_w,
                4.0,
                True,
            ),
            SiteSummary(HOME_2, "Home 2", "F1", None, "init", None, None, False),
        )
        history = tuple(
            LoadPoint(self.now - timedelta(minutes=10 * (36 - i)), 30_000 + 12_000 * math.sin(i / 6))
            for i in range(36)
        )
        return GridView(
            now=self.now.astimezone(UTC),
            sites=sites,
            feeders=(FeederView("F1", self.feeder_w, 60_000.0, history),),
            limits=(
                IssuedLimit(
                    self.now - timedelta(minutes=3), S1_HOME, "consumption", 5000.0, 3600.0, "storyline"
                ),
            ),
            alarms=(
                Alarm(self.now - timedelta(minutes=1), HOME_2, "wan", Level.WARNING, "link down for 4 min"),
            ),
            records_committed=123_456,
            heartbeat_enabled=self.heartbeat,
        )

    # --- commands -----------------------------------------------------------------------------

    def _site(self, site_id: str) -> None:
        if site_id not in (S1_HOME, HOME_2):
            raise UnknownSite(site_id)

    def issue_limit(self, site_id: str, import_w: float, duration_s: float | None, by: str) -> None:
        self._site(site_id)
        self.calls.append(("issue_limit", site_id, import_w, duration_s, by))
        self.limit_w = import_w
        self.bump()

    def clear_limit(self, site_id: str, by: str) -> None:
        self._site(site_id)
        self.calls.append(("clear_limit", site_id, by))
        self.limit_w = None
        self.bump()

    def stop_heartbeat(self, site_ids: Sequence[str] | None, by: str) -> None:
        for s in site_ids or ():
            self._site(s)
        self.calls.append(("stop_heartbeat", None if site_ids is None else tuple(site_ids), by))
        self.heartbeat = False
        self.bump()

    def resume_heartbeat(self, site_ids: Sequence[str] | None, by: str) -> None:
        for s in site_ids or ():
            self._site(s)
        self.calls.append(("resume_heartbeat", None if site_ids is None else tuple(site_ids), by))
        self.heartbeat = True
        self.bump()

    def trigger(self, key: str, by: str) -> None:
        if key not in STORY:
            raise KeyError(key)
        self.calls.append(("trigger", key, by))
        self.bump()

    def set_managed(self, site_id: str, device_id: str, managed: bool, by: str) -> None:
        self._site(site_id)
        if device_id not in self.managed:
            raise KeyError(device_id)
        self.calls.append(("set_managed", site_id, device_id, managed, by))
        self.managed[device_id] = managed
        self.bump()

    def label_appliance(self, site_id: str, appliance_id: str, label: str, by: str) -> None:
        self._site(site_id)
        if appliance_id not in self.labels:
            raise KeyError(appliance_id)
        self.calls.append(("label_appliance", site_id, appliance_id, label, by))
        self.labels[appliance_id] = label
        self.bump()

    def set_speed(self, speed: float) -> None:
        self.calls.append(("set_speed", speed))
        self.speed = speed
        self.bump()


@contextmanager
def live_server(app: Any) -> Iterator[tuple[str, uvicorn.Server]]:
    """uvicorn serving `app` on 127.0.0.1 (a free port) in a thread; yields its base URL and server."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        streams = getattr(getattr(app, "state", None), "event_streams", None)
        if streams is not None:
            streams.close()  # as `gridedge demo` must: uvicorn waits for open responses before it stops
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive(), "uvicorn did not stop"
        sock.close()


def _animate(control: FakeControl) -> None:  # pragma: no cover - manual viewing only
    i = 0
    while True:
        time.sleep(1.0)
        i += 1
        control.bump(grid_w=1800.0 + 2500.0 * math.sin(i / 5), home_only=False)


if __name__ == "__main__":  # pragma: no cover - run by hand, and by the Ctrl-C test as a process
    from gridedge.web.app import create_app

    control = FakeControl()
    threading.Thread(target=_animate, args=(control,), daemon=True).start()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8000))
    print(f"users {', '.join(USERS)}; password {PASSWORD!r}", file=sys.stderr, flush=True)
    print(f"dashboard on http://127.0.0.1:{sock.getsockname()[1]}/", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(control, make_users()), log_level="warning"))
    server.run(sockets=[sock])
