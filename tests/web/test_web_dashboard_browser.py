"""The dashboard in a real browser (Playwright driving Debian's Chromium headless) against uvicorn and
the recording control: it renders the views without console errors, follows live updates, keeps
role-bound buttons disabled until the right login, sends commands as the logged-in user, and fits a
375 px phone screen without horizontal scrolling."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import playwright.sync_api as playwright
import pytest
from web_support import HOME_2, PASSWORD, S1_HOME, FakeControl, live_server, make_users

from gridedge.web.app import create_app
from gridedge.web.users import Role

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
assert CHROMIUM is not None, "Debian's chromium is needed for the browser tests (.ci/run installs it)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def served() -> Iterator[tuple[FakeControl, str]]:
    control = FakeControl()
    with live_server(create_app(control, make_users())) as (url, _server):
        yield control, url


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


def open_page(browser: Any, url: str, width: int = 1280) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector(f"{tid('grid-power')}[data-w]", state="attached")
    return page, errors


def test_the_home_view_renders_and_follows_live_updates(
    browser: Any, served: tuple[FakeControl, str]
) -> None:
    control, url = served
    page, errors = open_page(browser, url)
    assert page.get_attribute(tid("grid-power"), "data-w") == "1830"
    assert page.text_content(tid("grid-power")) == "1.83 kW"
    assert page.get_attribute(tid("grid-power"), "data-direction") == "import"
    assert page.text_content(tid("limit-state")) == "unlimited/controlled"
    assert page.text_content(tid("home-import-limit")) == "none"
    assert page.text_content(tid("failsafe-in")) == "1 min 48 s"
    assert page.text_content(tid("battery-soc")) == "55 %"
    assert page.text_content(tid("peak-month")) == "5.10 kW"
    assert page.text_content(tid("sim-clock")) == "12:30"  # the site's wall time, not the browser's zone
    assert page.locator(f"{tid('appliances')} li").count() == 3
    assert page.locator(f"{tid('devices')} li").count() == 4
    assert page.locator(f"{tid('plan-chart')} .main-svg").count() > 0  # plotly drew the charts
    assert page.locator(f"{tid('price-chart')} .main-svg").count() > 0
    assert page.get_attribute(tid("connection-state"), "data-state") == "live"
    control.bump(grid_w=-3210.0)  # exporting now: the page follows within a second or so
    page.wait_for_selector(f'{tid("grid-power")}[data-w="-3210"]', timeout=3000)
    assert page.get_attribute(tid("grid-power"), "data-direction") == "export"
    assert page.text_content(tid("grid-direction")) == "Exporting 3.21 kW to the grid"
    # the second home: no NILM
    page.select_option(tid("home-select"), HOME_2)
    page.wait_for_selector(f"{tid('home-name')}:has-text('Home 2')")
    assert page.is_visible(tid("nilm-absent"))
    assert errors == []


def seconds(text: str) -> int:
    """A countdown as the page shows it (`1 min 48 s`, `58 s`, `2 min`, `12 s ago`), in seconds."""
    words = text.removesuffix(" ago").split()
    units = {"h": 3600, "min": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in zip(words[::2], words[1::2], strict=True))


def test_devices_and_feeders_read_like_the_power_flow(browser: Any, served: tuple[FakeControl, str]) -> None:
    """What a device delivers is positive with a word, as in the power-flow card (the PV showed
    "-4.2 kW" under "Solar 4.2 kW"); an exporting feeder says so and its share is of the flow."""
    control, url = served
    page, errors = open_page(browser, url)
    page.wait_for_selector(tid("device-power-pv"))
    assert page.text_content(tid("device-power-pv")) == "4.20 kW producing"
    assert page.get_attribute(tid("device-power-pv"), "data-w") == "-4200"
    assert page.text_content(tid("device-power-ev")) == "3.70 kW"
    page.click(tid("nav-grid"))
    page.wait_for_selector(tid("feeder-load-F1"))
    assert page.text_content(tid("feeder-load-F1")) == "41.0 kW of 60.0 kW (68 %)"
    control.feeder_w = -9000.0  # noon: the street's PV pushes 9 kW up the feeder
    control.bump(home_only=False)
    feeder = tid("feeder-load-F1")
    exporting = f"() => document.querySelector('{feeder}').textContent.includes('export')"
    page.wait_for_function(exporting, timeout=3000)
    assert page.text_content(tid("feeder-load-F1")) == "9.00 kW export of 60.0 kW (15 %)"
    assert errors == []


def test_a_site_without_storyline_shows_no_story_buttons_and_no_speed(
    browser: Any, served: tuple[FakeControl, str]
) -> None:
    control, url = served
    page, errors = open_page(browser, url)
    page.wait_for_selector(tid("story-bar"), state="visible", timeout=3000)
    control.story = False  # what `gridedge run`'s control says
    control.bump(home_only=False)
    page.wait_for_selector(tid("story-bar"), state="hidden", timeout=3000)
    assert page.is_hidden(tid("speed-select"))
    assert errors == []


def test_the_lag_shows_next_to_the_speed_once_the_world_falls_behind(
    browser: Any, served: tuple[FakeControl, str]
) -> None:
    control, url = served
    page, errors = open_page(browser, url)
    assert page.is_hidden(tid("sim-lag"))
    title = page.get_attribute(tid("sim-clock"), "title")
    control.lag_s = 45.0  # at 60x, less than a wall second behind: not worth showing
    control.bump(home_only=False)
    page.wait_for_function(
        f"() => document.querySelector('{tid('sim-clock')}').title !== {title!r}", timeout=3000
    )
    assert page.is_hidden(tid("sim-lag"))
    control.lag_s = 125.0
    control.bump(home_only=False)
    page.wait_for_selector(tid("sim-lag"), state="visible", timeout=3000)
    assert page.text_content(tid("sim-lag")) == "2 min 05 s behind"
    assert page.get_attribute(tid("sim-lag"), "data-s") == "125"
    assert errors == []


def test_the_countdowns_run_between_updates_while_the_clock_moves(
    browser: Any, served: tuple[FakeControl, str]
) -> None:
    control, url = served
    page, errors = open_page(browser, url)
    page.wait_for_timeout(1200)
    assert page.text_content(tid("failsafe-in")) == "1 min 48 s"  # the clock stands still: so do they
    for _ in range(6):  # the simulated clock moves 10 s every 0.2 s (50x, below the speed of 60x)
        control.bump(home_only=False)
        page.wait_for_timeout(200)
    page.wait_for_timeout(2000)  # the last update came within 0.5 s; it runs on for at most 1 s after
    left = seconds(page.text_content(tid("failsafe-in")))
    age = seconds(page.text_content(tid("heartbeat-age")))
    assert 20 <= left <= 100, left  # 108 s at the update, then up to 60 simulated s a wall second
    assert abs(left + age - 120) <= 1  # 12 s ago + 108 s left: both run on the same clock
    page.wait_for_timeout(500)
    assert seconds(page.text_content(tid("failsafe-in"))) == left  # no update: they stop
    assert errors == []


def test_commands_need_the_right_login(browser: Any, served: tuple[FakeControl, str]) -> None:
    control, url = served
    page, errors = open_page(browser, url)
    page.click(tid("nav-grid"))
    page.wait_for_selector(tid(f"site-row-{S1_HOME}"))
    assert page.text_content(tid(f"site-power-{S1_HOME}")) == "1.83 kW"
    assert page.locator(f"{tid('feeder-chart')} .main-svg").count() > 0
    # nobody logged in: role-bound controls are disabled and say why
    submit = page.locator(tid("issue-limit-submit"))
    assert submit.is_disabled() and submit.get_attribute("title") == "Log in as grid operator"
    assert page.is_visible(tid("operator-hint"))
    assert page.locator(tid("story-dso_limit")).is_disabled()
    # a home owner may play the household's steps, but neither issue limits nor play the grid
    # operator's steps
    login(page, "anna")
    assert page.locator(tid("story-morning_peak")).is_enabled() and submit.is_disabled()
    assert page.locator(tid("story-dso_limit")).is_disabled()
    assert page.get_attribute(tid("story-dso_limit"), "title") == "Log in as grid operator"
    page.click(tid("story-morning_peak"))
    wait_calls(page, control, 1)
    assert control.calls[-1] == ("trigger", "morning_peak", "anna")
    page.click(tid("logout-button"))
    page.wait_for_selector(tid("login-button"))
    # the grid operator issues a limit of 3 kW for 15 minutes, then stops the heartbeats of home 2
    login(page, "otto")
    assert submit.is_enabled() and not page.is_visible(tid("operator-hint"))
    page.select_option(tid("limit-site"), S1_HOME)
    page.fill(tid("limit-import-w"), "3000")
    page.fill(tid("limit-duration"), "15")
    submit.click()
    wait_calls(page, control, 2)
    assert control.calls[-1] == ("issue_limit", S1_HOME, 3000.0, 900.0, "otto")
    page.wait_for_selector(f"{tid(f'site-limit-{S1_HOME}')}:has-text('limited')")
    page.select_option(tid("heartbeat-sites"), HOME_2)
    page.click(tid("heartbeat-stop"))
    wait_calls(page, control, 3)
    assert control.calls[-1] == ("stop_heartbeat", (HOME_2,), "otto")
    page.wait_for_selector(f"{tid('heartbeat-state')}:has-text('stopped')")
    # a refused command shows the server's reason
    page.fill(tid("limit-import-w"), "-5")
    page.evaluate("document.querySelector('[data-testid=limit-import-w]').removeAttribute('min')")
    submit.click()
    page.wait_for_selector(f"{tid('toast')}[data-level='error']:has-text('import_w')")
    assert len(control.calls) == 3
    # the home view: the operator may not park devices; the home owner may
    page.click(tid("nav-home"))
    assert page.locator(tid("managed-toggle-hp")).is_disabled()
    page.click(tid("logout-button"))
    login(page, "anna")
    page.click(tid("managed-toggle-hp"))
    wait_calls(page, control, 4)
    assert control.calls[-1] == ("set_managed", S1_HOME, "hp", False, "anna")
    assert [e for e in errors if "422" not in e] == []  # the refused limit is logged by the browser


def login(page: Any, name: str) -> None:
    page.click(tid("login-button"))
    page.fill(tid("login-name"), name)
    page.fill(tid("login-password"), PASSWORD)
    page.click(tid("login-submit"))
    page.wait_for_selector(f"{tid('user-name')}:has-text('{name}')")


def wait_calls(page: Any, control: FakeControl, n: int) -> None:
    for _ in range(100):
        if len(control.calls) >= n:
            return
        page.wait_for_timeout(30)
    raise AssertionError(f"expected {n} commands, got {control.calls}")


@pytest.mark.parametrize("view", ["home", "grid"])
def test_a_phone_gets_one_column_and_no_horizontal_scroll(
    browser: Any, served: tuple[FakeControl, str], view: str
) -> None:
    _, url = served
    page, errors = open_page(browser, f"{url}/#/{view}", width=375)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    cards = page.locator(f"{tid('view-' + view)} .card")
    lefts = {round(cards.nth(i).bounding_box()["x"]) for i in range(cards.count())}
    assert len(lefts) == 1, lefts  # a single column
    assert errors == []


def test_private_reads_open_with_the_login_and_follow_live_updates_after_it(browser: Any) -> None:
    control = FakeControl()
    with live_server(create_app(control, make_users(), public_reads=False)) as (url, _server):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector(tid("login-dialog"), state="visible", timeout=5000)
        assert page.get_attribute(tid("connection-state"), "data-state") == "login"
        assert page.locator(tid("grid-power")).count() == 0  # nothing read, nothing shown
        assert control.waiting == 0  # no event stream either
        page.fill(tid("login-name"), "otto")  # any role may read
        page.fill(tid("login-password"), PASSWORD)
        page.click(tid("login-submit"))
        page.wait_for_selector(f"{tid('grid-power')}[data-w='1830']", state="attached", timeout=5000)
        page.wait_for_selector(f"{tid('connection-state')}[data-state='live']", timeout=5000)
        control.bump(grid_w=-1234.0)
        page.wait_for_selector(f'{tid("grid-power")}[data-w="-1234"]', timeout=3000)
        # logging out forgets what was shown and asks for a login again
        page.click(tid("logout-button"))
        page.wait_for_selector(tid("login-dialog"), state="visible", timeout=5000)
        assert page.locator(tid("grid-power")).count() == 0
        assert errors == []
        page.close()


def test_a_home_owner_bound_to_one_home_cannot_act_on_the_others(browser: Any) -> None:
    control = FakeControl()
    users = make_users()
    users.add_user("bea", Role.HOME_OWNER, PASSWORD, site=HOME_2)
    with live_server(create_app(control, users)) as (url, _server):
        page, errors = open_page(browser, url)
        login(page, "bea")
        assert (
            page.is_visible(tid("site-hint"))
            and page.text_content(tid("site-hint")) == f"bea may act on {HOME_2} only"
        )
        toggle = page.locator(tid("managed-toggle-hp"))
        assert toggle.is_disabled() and toggle.get_attribute("title") == f"bea may act on {HOME_2} only"
        assert page.locator(tid("appliance-label-a1")).is_disabled()
        page.select_option(tid("home-select"), HOME_2)
        page.wait_for_selector(f"{tid('home-name')}:has-text('Home 2')")
        assert page.is_hidden(tid("site-hint")) and toggle.is_enabled()
        toggle.click()
        wait_calls(page, control, 1)
        assert control.calls[-1] == ("set_managed", HOME_2, "hp", False, "bea")
        # an unbound home owner may act on every home
        page.click(tid("logout-button"))
        login(page, "anna")
        page.select_option(tid("home-select"), S1_HOME)
        page.wait_for_selector(f"{tid('home-name')}:has-text('Home with S1 port')")
        assert page.is_hidden(tid("site-hint")) and toggle.is_enabled()
        assert errors == []
        page.close()
