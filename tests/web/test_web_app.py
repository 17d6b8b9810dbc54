"""The web app's HTTP contract against a recording `DemoControl`: the OpenAPI schema documents every
endpoint, reads serve the views, every command needs the right login and reaches the control with
the user's name, bad input is refused naming the field, unknown things are 404, and the dashboard's
files, plotly.js and /metrics are served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Gauge, make_asgi_app
from pydantic import TypeAdapter
from web_support import HOME_2, PASSWORD, S1_HOME, USERS, FakeControl, make_users

from gridedge.app.views import DemoStatus, GridView, HomeView
from gridedge.web.app import CSP, create_app, plotly_js
from gridedge.web.auth import CSRF_HEADER, SESSION_COOKIE
from gridedge.web.demo_users import DEMO_USERS, provision
from gridedge.web.users import Role

OWNER, INSTALLER, OPERATOR = "anna", "ivan", "otto"

# (method, path, body, roles allowed, the call the control records for user X)
COMMANDS: list[tuple[str, str, dict[str, Any] | None, set[Role], tuple[Any, ...]]] = [
    ("POST", f"/api/grid/sites/{S1_HOME}/limit", {"import_w": 4000, "duration_s": 900}, {Role.GRID_OPERATOR},
     ("issue_limit", S1_HOME, 4000.0, 900.0, "X")),
    ("DELETE", f"/api/grid/sites/{S1_HOME}/limit", None, {Role.GRID_OPERATOR}, ("clear_limit", S1_HOME, "X")),
    ("POST", "/api/grid/heartbeat/stop", {"sites": [HOME_2]}, {Role.GRID_OPERATOR},
     ("stop_heartbeat", (HOME_2,), "X")),
    ("POST", "/api/grid/heartbeat/resume", None, {Role.GRID_OPERATOR}, ("resume_heartbeat", None, "X")),
    ("POST", f"/api/homes/{S1_HOME}/devices/hp/managed", {"managed": False},
     {Role.HOME_OWNER, Role.INSTALLER}, ("set_managed", S1_HOME, "hp", False, "X")),
    ("POST", f"/api/homes/{S1_HOME}/appliances/a3/label", {"label": " toaster "},
     {Role.HOME_OWNER, Role.INSTALLER}, ("label_appliance", S1_HOME, "a3", "toaster", "X")),
    ("POST", "/api/demo/story/morning_peak", None, set(Role), ("trigger", "morning_peak", "X")),
    ("POST", "/api/demo/story/dso_limit", None, {Role.GRID_OPERATOR}, ("trigger", "dso_limit", "X")),
    ("POST", "/api/demo/speed", {"speed": 300}, {Role.INSTALLER, Role.GRID_OPERATOR}, ("set_speed", 300.0)),
]  # fmt: skip


@pytest.fixture
def setup() -> tuple[FakeControl, FastAPI, dict[str, str]]:
    """The fake control, the app, and a bearer token per user."""
    control = FakeControl()
    users = make_users()
    app = create_app(control, users)
    tokens = {name: users.issue_token(name, "test").token for name in USERS}
    return control, app, tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request(method, path, json=body, headers=headers)


def test_the_openapi_schema_documents_every_endpoint(
    setup: tuple[FakeControl, FastAPI, dict[str, str]],
) -> None:
    _, app, _ = setup
    spec = TestClient(app).get("/openapi.json").json()
    ops = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    templates = {
        S1_HOME: "{site_id}",
        "/hp/": "/{device_id}/",
        "/a3/": "/{appliance_id}/",
        "dso_limit": "{key}",
        "morning_peak": "{key}",
    }
    expected = set()
    for method, path, *_ in COMMANDS:
        for concrete, template in templates.items():
            path = path.replace(concrete, template)
        expected.add((method, path))
    expected |= {("GET", "/api/status"), ("GET", "/api/homes/{site_id}"), ("GET", "/api/grid"),
                 ("GET", "/api/events"), ("POST", "/api/login"), ("POST", "/api/logout"), ("GET", "/api/me"),
                 ("POST", "/api/tokens"), ("GET", "/api/session")}  # fmt: skip
    assert ops == expected
    schemas = spec["components"]["schemas"]
    names = "DemoStatus HomeView GridView PowerFlow LimitView SiteSummary LimitRequest Accepted Problem"
    for name in names.split():
        assert name in schemas, name
    assert schemas["LimitRequest"]["properties"]["import_w"]["minimum"] == 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            ok = op["responses"].get("200") or op["responses"].get("201") or op["responses"].get("204")
            assert ok is not None, (method, path)
            if path == "/api/events":
                assert "text/event-stream" in ok["content"]
            elif "content" in ok:
                assert "$ref" in ok["content"]["application/json"]["schema"], (method, path)
            if method != "get" and path not in ("/api/login",):
                assert "401" in op["responses"], (method, path)
    assert spec["paths"]["/api/homes/{site_id}"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/HomeView"}


def test_reads_serve_the_views(setup: tuple[FakeControl, FastAPI, dict[str, str]]) -> None:
    control, app, _ = setup
    client = TestClient(app)
    assert client.get("/api/status").json() == TypeAdapter(DemoStatus).dump_python(
        control.status(), mode="json"
    )
    assert client.get("/api/grid").json() == TypeAdapter(GridView).dump_python(control.grid(), mode="json")
    home = client.get(f"/api/homes/{S1_HOME}").json()
    assert home == TypeAdapter(HomeView).dump_python(control.home(S1_HOME), mode="json")
    assert home["flow"]["grid_w"] == 1830.0 and home["limit"]["state"] == "unlimited/controlled"
    assert home["now"] == "2025-04-15T12:30:00+02:00"  # the offset is kept: the dashboard shows local time
    r = client.get("/api/homes/nowhere")
    assert r.status_code == 404 and r.json() == {"detail": "no site 'nowhere'"}


def test_commands_need_a_login_and_the_right_role(setup: tuple[FakeControl, FastAPI, dict[str, str]]) -> None:
    control, app, tokens = setup
    client = TestClient(app)
    for method, path, body, roles, _ in COMMANDS:
        r = call(client, method, path, body, {})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", (method, path)
        for name, role in USERS.items():
            r = call(client, method, path, body, bearer(tokens[name]))
            assert r.status_code == (200 if role in roles else 403), (method, path, name, r.text)
            if r.status_code == 403:
                assert "may not" in r.json()["detail"]
    # only the allowed users' commands reached the control
    assert len(control.calls) == sum(len(roles) for *_, roles, _ in COMMANDS)


def test_commands_reach_the_control_as_the_user(setup: tuple[FakeControl, FastAPI, dict[str, str]]) -> None:
    control, app, tokens = setup
    client = TestClient(app)
    for method, path, body, roles, expected in COMMANDS:
        name = next(n for n, r in USERS.items() if r in roles)
        before = control.version
        r = call(client, method, path, body, bearer(tokens[name]))
        assert r.status_code == 200, r.text
        assert r.json() == {"action": expected[0], "by": name, "version": before + 1}
        assert control.calls[-1] == tuple(name if x == "X" else x for x in expected)


def test_cookie_sessions_need_the_anti_forgery_header(
    setup: tuple[FakeControl, FastAPI, dict[str, str]],
) -> None:
    control, app, _ = setup
    client = TestClient(app)
    r = client.post("/api/login", json={"name": OPERATOR, "password": PASSWORD})
    assert r.status_code == 200 and SESSION_COOKIE in r.cookies
    path = f"/api/grid/sites/{HOME_2}/limit"
    r = client.post(path, json={"import_w": 0})
    assert r.status_code == 403 and CSRF_HEADER in r.json()["detail"]
    assert control.calls == []
    r = client.post(path, json={"import_w": 0}, headers={CSRF_HEADER: "1"})
    assert r.status_code == 200 and control.calls == [("issue_limit", HOME_2, 0.0, None, OPERATOR)]
    assert client.get("/api/me").json() == {"name": OPERATOR, "role": "grid-operator", "site": None}
    operator = {"name": OPERATOR, "role": "grid-operator", "site": None}
    assert client.get("/api/session").json() == {"user": operator, "public_reads": True}
    assert TestClient(app).get("/api/session").json() == {"user": None, "public_reads": True}
    # a session of the wrong role is 403 even with the header
    owner = TestClient(app)
    owner.post("/api/login", json={"name": OWNER, "password": PASSWORD})
    assert owner.delete(path, headers={CSRF_HEADER: "1"}).status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", f"/api/grid/sites/{S1_HOME}/limit", {"import_w": -1}, "import_w"),
        ("POST", f"/api/grid/sites/{S1_HOME}/limit", {"import_w": "lots"}, "import_w"),
        ("POST", f"/api/grid/sites/{S1_HOME}/limit", {"import_w": 10, "duration_s": 0}, "duration_s"),
        ("POST", f"/api/grid/sites/{S1_HOME}/limit", {"import_w": 10, "export_w": 3}, "export_w"),
        ("POST", f"/api/grid/sites/{S1_HOME}/limit", {}, "import_w"),
        ("POST", f"/api/grid/sites/{S1_HOME}/limit", None, "body"),
        ("POST", "/api/grid/heartbeat/stop", {"sites": []}, "sites"),
        ("POST", "/api/grid/heartbeat/stop", {"sites": "all"}, "sites"),
        ("POST", f"/api/homes/{S1_HOME}/devices/hp/managed", {"managed": "perhaps"}, "managed"),
        ("POST", f"/api/homes/{S1_HOME}/appliances/a1/label", {"label": "   "}, "label"),
        ("POST", f"/api/homes/{S1_HOME}/appliances/a1/label", {"label": "x" * 65}, "label"),
        ("POST", "/api/demo/speed", {"speed": 0}, "speed"),
        ("POST", "/api/demo/speed", {"speed": 1e9}, "speed"),
        ("POST", "/api/demo/speed", {"speed": True}, "speed"),  # strict: no booleans or strings for numbers
        ("POST", "/api/demo/speed", {"speed": "60"}, "speed"),
        ("POST", f"/api/homes/{S1_HOME}/devices/hp/managed", {"managed": 0}, "managed"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(
    setup: tuple[FakeControl, FastAPI, dict[str, str]], method: str, path: str, body: Any, field: str
) -> None:
    control, app, tokens = setup
    user = OPERATOR if "/grid/" in path or "speed" in path else OWNER
    r = call(TestClient(app), method, path, body, bearer(tokens[user]))
    assert r.status_code == 422, r.text
    answer = r.json()
    assert any(field in [str(p) for p in e["loc"]] for e in answer["detail"]), answer
    assert answer["message"].startswith(field), answer["message"]
    assert control.calls == []


def test_bodies_that_are_not_json_are_refused_cleanly(
    setup: tuple[FakeControl, FastAPI, dict[str, str]],
) -> None:
    control, app, tokens = setup
    client = TestClient(app)
    headers = bearer(tokens[OPERATOR])
    for content, kind in [(b"\xff\xfe", "text/plain"), (b"{not json", "application/json")]:
        r = client.post("/api/demo/speed", content=content, headers={**headers, "content-type": kind})
        assert r.status_code in (400, 422), (kind, r.text)
        assert r.status_code == 400 or r.json()["message"].startswith("body: "), r.text
    assert control.calls == []


def test_unknown_sites_devices_and_steps_are_404(setup: tuple[FakeControl, FastAPI, dict[str, str]]) -> None:
    control, app, tokens = setup
    client = TestClient(app)
    op, owner = bearer(tokens[OPERATOR]), bearer(tokens[OWNER])
    for method, path, body, headers, detail in [
        ("POST", "/api/grid/sites/nowhere/limit", {"import_w": 1}, op, "no site 'nowhere'"),
        ("DELETE", "/api/grid/sites/nowhere/limit", None, op, "no site 'nowhere'"),
        ("POST", "/api/grid/heartbeat/stop", {"sites": [S1_HOME, "nowhere"]}, op, "no site 'nowhere'"),
        ("POST", "/api/homes/nowhere/devices/hp/managed", {"managed": True}, owner, "no site 'nowhere'"),
        ("POST", f"/api/homes/{S1_HOME}/devices/toaster/managed", {"managed": True}, owner,
         f"no device 'toaster' at site '{S1_HOME}'"),
        ("POST", f"/api/homes/{S1_HOME}/appliances/zz/label", {"label": "x"}, owner,
         f"no appliance 'zz' at site '{S1_HOME}'"),
    ]:  # fmt: skip
        r = call(client, method, path, body, headers)
        assert r.status_code == 404 and r.json()["detail"] == detail, (path, r.text)
    r = client.post("/api/demo/story/alien_invasion", headers=owner)
    assert r.status_code == 404 and "no storyline step 'alien_invasion'" in r.json()["detail"]
    assert "dso_limit" in r.json()["detail"]  # the known keys are listed
    assert control.calls == []


def test_the_dashboard_its_files_and_plotly_are_served(
    setup: tuple[FakeControl, FastAPI, dict[str, str]],
) -> None:
    _, app, _ = setup
    client = TestClient(app)
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    for path, kind in [("/static/dashboard.js", "javascript"), ("/static/dashboard.css", "text/css")]:
        r = client.get(path)
        assert r.status_code == 200 and kind in r.headers["content-type"], path
        assert r.content, path
    js = plotly_js()
    assert js is not None and js.name == "plotly.min.js" and "site-packages" in str(js)
    r = client.get("/vendor/plotly.min.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert r.content == js.read_bytes()
    assert client.get("/static/nothing.js").status_code == 404
    assert client.get("/metrics").status_code == 404  # no metrics app given


def test_metrics_are_mounted_when_given() -> None:
    registry = CollectorRegistry(auto_describe=False)
    Gauge("gridedge_test_gauge", "A test gauge", registry=registry).set(42)
    app = create_app(FakeControl(), make_users(), metrics=make_asgi_app(registry=registry))
    client = TestClient(app)
    for path in ("/metrics", "/metrics/"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 200 and "gridedge_test_gauge 42.0" in r.text, path
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_demo_users_one_per_role_with_fresh_passwords(tmp_path: Path) -> None:
    users = make_users(tmp_path / "users.db")
    first = provision(users)
    assert [(c.name, c.role) for c in first] == list(zip(DEMO_USERS.values(), DEMO_USERS.keys(), strict=True))
    assert {c.role for c in first} == set(Role)
    assert len({c.password for c in first}) == 3 and all(len(c.password) >= 16 for c in first)
    assert all(c.password not in repr(c) for c in first)
    for c in first:
        assert users.login(c.name, c.password).user.role is c.role
    again = provision(users)  # a second demo run on the same data directory: new passwords work, old ones not
    for old, new in zip(first, again, strict=True):
        assert new.password != old.password
        users.login(new.name, new.password)
    app = create_app(FakeControl(), users)
    client = TestClient(app)
    op = next(c for c in again if c.role is Role.GRID_OPERATOR)
    assert client.post("/api/login", json={"name": op.name, "password": op.password}).status_code == 200


def test_a_home_owner_bound_to_a_site_acts_on_that_site_only() -> None:
    control = FakeControl()
    users = make_users()
    users.add_user("bea", Role.HOME_OWNER, PASSWORD, site=HOME_2)
    client = TestClient(create_app(control, users))
    bea = bearer(users.issue_token("bea", "test").token)
    anna = bearer(users.issue_token(OWNER, "test").token)  # not bound: every site, as `gridedge run` makes
    ivan = bearer(users.issue_token(INSTALLER, "test").token)
    for path, body in [(f"/api/homes/{S1_HOME}/devices/hp/managed", {"managed": False}),
                       (f"/api/homes/{S1_HOME}/appliances/a3/label", {"label": "toaster"})]:  # fmt: skip
        r = client.post(path, json=body, headers=bea)
        assert (
            r.status_code == 403
            and r.json()["detail"] == f"bea may act on site '{HOME_2}' only, not on '{S1_HOME}'"
        )
        assert client.post(path, json=body, headers=anna).status_code == 200
        assert client.post(path, json=body, headers=ivan).status_code == 200
    assert [c[-1] for c in control.calls] == [OWNER, INSTALLER, OWNER, INSTALLER]
    r = client.post(f"/api/homes/{HOME_2}/devices/ev/managed", json={"managed": False}, headers=bea)
    assert r.status_code == 200 and control.calls[-1] == ("set_managed", HOME_2, "ev", False, "bea")
    assert client.get("/api/me", headers=bea).json() == {"name": "bea", "role": "home-owner", "site": HOME_2}
    session = client.get("/api/session", headers=bea).json()
    assert session == {"user": {"name": "bea", "role": "home-owner", "site": HOME_2}, "public_reads": True}


def test_the_demo_owner_is_bound_to_the_featured_home() -> None:
    users = make_users()
    credentials = provision(users, owner_site=S1_HOME)
    sites = {c.name: users.login(c.name, c.password).user.site for c in credentials}
    assert sites == {"owner": S1_HOME, "installer": None, "operator": None}


READS = ["/api/status", f"/api/homes/{S1_HOME}", "/api/grid", "/api/events", f"/api/events?site={S1_HOME}",
         "/metrics", "/metrics/"]  # fmt: skip


def test_private_reads_need_a_login_but_the_page_and_the_login_load() -> None:
    registry = CollectorRegistry(auto_describe=False)
    Gauge("gridedge_test_gauge", "A test gauge", registry=registry).set(42)
    users = make_users()
    app = create_app(FakeControl(), users, metrics=make_asgi_app(registry=registry), public_reads=False)
    client = TestClient(app)
    for path in READS:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
        assert r.json() == {"detail": "log in first"}, path
        r = client.get(path, headers=bearer("ge_nope"), follow_redirects=False)
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"], path
    # what the login page needs stays open
    for path in (
        "/",
        "/static/dashboard.js",
        "/static/dashboard.css",
        "/vendor/plotly.min.js",
        "/openapi.json",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get("/api/session").json() == {"user": None, "public_reads": False}
    # any role may read once logged in, by cookie or by token
    for name in USERS:
        token = bearer(users.issue_token(name, "scrape").token)
        assert client.get("/api/status", headers=token).status_code == 200
        r = client.get("/metrics", headers=token)
        assert r.status_code == 200 and "gridedge_test_gauge 42.0" in r.text
        r = client.get("/api/events?site=nowhere", headers=token)  # past the guard: the site is checked
        assert r.status_code == 404
    r = client.post("/api/login", json={"name": OWNER, "password": PASSWORD})
    assert r.status_code == 200
    assert client.get(f"/api/homes/{S1_HOME}").json()["site_id"] == S1_HOME
    assert client.get("/api/grid").status_code == 200
    assert client.get("/metrics/").status_code == 200
    assert client.get("/api/session").json()["public_reads"] is False
    spec = client.get("/openapi.json").json()
    for path in ("/api/status", "/api/homes/{site_id}", "/api/grid", "/api/events"):
        assert "401" in spec["paths"][path]["get"]["responses"], path
    # public reads (the demo's default) answer everyone, and document no 401
    public = TestClient(create_app(FakeControl(), users, metrics=make_asgi_app(registry=registry)))
    for path in [*READS[:3], "/metrics"]:
        assert public.get(path).status_code == 200, path
    assert "401" not in public.get("/openapi.json").json()["paths"]["/api/status"]["get"]["responses"]
