"""`gridedge demo` end to end in a real browser: the command as a user runs it (virtual homes, their
energy managers and gateways, head-end, DSO, aggregator, dashboard), driven by Playwright in Debian's
Chromium headless.

The dashboard loads, its live values change, a grid operator logs in with the password the demo
printed and issues a limit in the grid view; the home view shows the site limited at that value and
the site's measured power drops under it. Screenshots of both views, at desktop and phone width, are
kept in `artifacts/browser/` (or `$GRIDEDGE_ARTIFACTS/browser/`) for a human to look at.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("GRIDEDGE_ARTIFACTS", ROOT / "artifacts")) / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
assert CHROMIUM is not None, "Debian's chromium is needed for the browser tests (.ci/run installs it)"
START = "2026-04-15T18:05+02:00"
"""Evening: the featured home's car is charging, so a limit has something to bite on."""


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    url: str
    passwords: dict[str, str]
    lines: list[str]


def _reader(stream: Any, out: queue.Queue[str | None]) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data = tmp_path_factory.mktemp("demo")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridedge", "demo", "--homes", "3", "--port", "0", "--speed", "10",
         "--start", START, "--no-story", "--data-dir", str(data), "--duration", "400"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    errors: list[str] = []
    threading.Thread(target=lambda: errors.extend(proc.stderr or []), daemon=True).start()  # type: ignore[arg-type]
    seen: list[str] = []
    url = None
    passwords: dict[str, str] = {}
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            if m := re.fullmatch(r"dashboard: (http://\S+)\n", line):
                url = m.group(1)
            elif m := re.fullmatch(r"user (\S+) \((\S+)\): password (\S+)\n", line):
                passwords[m.group(2)] = f"{m.group(1)} {m.group(3)}"
            elif "Ctrl-C stops" in line:
                break
        assert url is not None and len(passwords) == 3, (seen, errors[-20:])
        _wait_ready(url)
        yield Demo(proc, url, passwords, seen)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # it stopped because asked to, cleanly (SIGTERM: uvicorn's handler ends the demo)
    assert proc.returncode == 0, errors[-30:]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:  # loopback
        return json.loads(r.read())


def _wait_ready(url: str) -> None:
    """Until the featured home has a plan (the energy managers' first solves)."""
    deadline = time.monotonic() + 120
    last: object = None
    while time.monotonic() < deadline:
        try:
            status = _get(url + "api/status")
            home = _get(url + f"api/homes/{status['homes'][0]}")
            if home["plan"]:
                return
            last = home
        except OSError as e:
            last = e
        time.sleep(0.5)
    raise AssertionError(f"the demo never became ready: {last}")


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright.Browser]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


def _w(page: playwright.Page, name: str) -> float | None:
    raw = page.get_attribute(tid(name), "data-w")
    return None if raw in (None, "") else float(raw)


def _shot(page: playwright.Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_the_dashboard_loads_and_its_live_values_change(demo: Demo, browser: playwright.Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(demo.url)
    playwright.expect(page.locator(tid("connection-state"))).to_have_text("live", timeout=20_000)
    clock = page.locator(tid("sim-clock"))
    playwright.expect(clock).not_to_have_text("", timeout=20_000)
    first = clock.inner_text()
    playwright.expect(clock).not_to_have_text(first, timeout=20_000)  # simulated time moves
    # the power flow shows the featured home's devices, and values move with the household
    playwright.expect(page.locator(tid("grid-power"))).to_have_attribute("data-w", re.compile(r".+"))
    seen = {page.get_attribute(tid("grid-power"), "data-w")}
    deadline = time.monotonic() + 30
    while len(seen) < 3 and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        seen.add(page.get_attribute(tid("grid-power"), "data-w"))
    assert len(seen) >= 3, seen
    playwright.expect(page.locator(tid("plan-chart")).locator(".main-svg").first).to_be_visible()
    playwright.expect(page.locator(tid("price-chart")).locator(".main-svg").first).to_be_visible()
    _shot(page, "home-desktop")
    page.click(tid("nav-grid"))
    playwright.expect(page.locator(tid("sites-table")).locator("tbody tr")).to_have_count(3, timeout=10_000)
    playwright.expect(page.locator(tid("records-committed"))).not_to_have_text("0", timeout=30_000)
    _shot(page, "grid-desktop")
    assert not problems, problems
    page.close()


def test_a_limit_issued_in_the_grid_view_reaches_the_home_and_its_power_drops_under_it(
    demo: Demo, browser: playwright.Browser
) -> None:
    status = _get(demo.url + "api/status")
    featured = status["homes"][0]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(demo.url)
    playwright.expect(page.locator(tid("connection-state"))).to_have_text("live", timeout=20_000)
    # the car charges: the home imports well above the limit about to be issued
    deadline = time.monotonic() + 60
    grid_w = _w(page, "grid-power")
    while (grid_w is None or grid_w < 4000) and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        grid_w = _w(page, "grid-power")
    assert grid_w is not None and grid_w >= 4000, f"the featured home imports only {grid_w} W"
    limit_w = 2500.0

    # a grid operator logs in with the printed password and issues the limit in the grid view
    name, password = demo.passwords["grid-operator"].split(" ", 1)
    page.click(tid("login-button"))
    page.fill(tid("login-name"), name)
    page.fill(tid("login-password"), password)
    page.click(tid("login-submit"))
    playwright.expect(page.locator(tid("user-name"))).to_have_text(re.compile(name), timeout=10_000)
    page.click(tid("nav-grid"))
    page.select_option(tid("limit-site"), featured)
    page.fill(tid("limit-import-w"), f"{limit_w:.0f}")
    page.click(tid("issue-limit-submit"))
    badge = page.locator(tid(f"site-limit-{featured}")).locator(".badge")
    playwright.expect(badge).to_have_attribute("data-state", "limited", timeout=20_000)
    playwright.expect(page.locator(tid("limits-list"))).to_contain_text(name, timeout=20_000)
    _shot(page, "grid-limit-issued")

    # the home view shows it, and the site's power goes under it
    page.click(tid("nav-home"))
    page.select_option(tid("home-select"), featured)
    state = page.locator(tid("limit-state"))
    playwright.expect(state).to_have_attribute("data-state", "limited", timeout=20_000)
    playwright.expect(page.locator(tid("home-import-limit"))).to_have_attribute(
        "data-w", f"{limit_w:g}", timeout=10_000
    )
    deadline = time.monotonic() + 60
    under = 0
    while under < 5 and time.monotonic() < deadline:  # five updates in a row under the limit
        page.wait_for_timeout(400)
        w = _w(page, "grid-power")
        under = under + 1 if w is not None and w <= limit_w else 0
    assert under >= 5, f"the featured home still imports {_w(page, 'grid-power')} W over a {limit_w} W limit"
    # Prometheus sees the same limit on the featured home's energy manager
    with urllib.request.urlopen(demo.url + "metrics", timeout=10) as r:  # loopback
        metrics = r.read().decode()
    labels = f'direction="lpc",site="{featured}"'
    assert f"gridedge_grid_limit_watts{{{labels}}} {limit_w}" in metrics, metrics[:999]
    assert f'gridedge_grid_limit_state{{{labels},state="limited"}} 1.0' in metrics
    notes = page.locator(tid("notifications")).inner_text()
    assert name in notes or "limit" in notes.lower(), notes
    _shot(page, "home-limited")

    # at phone width: one column, nothing scrolls sideways
    phone = browser.new_page(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    phone.goto(demo.url)
    playwright.expect(phone.locator(tid("connection-state"))).to_have_text("live", timeout=20_000)
    wide = phone.evaluate("document.documentElement.scrollWidth")
    assert wide <= 375, wide
    _shot(phone, "home-phone")
    phone.close()
    page.close()
