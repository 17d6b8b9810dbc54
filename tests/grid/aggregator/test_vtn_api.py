"""The VTN in process (httpx ASGI transport): tokens, scopes, CRUD of every object, the spec's
query parameters, paging, 400/401/403/404/409 as `problem`s, VEN privacy, ETags, notifications."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
from vtn_support import BL, READER, START, VEN1, VEN2, async_test, bearer, created, price_event_body, vtn

from gridedge.clock import SimClock
from gridedge.grid.aggregator.notifier import WebhookNotifier
from gridedge.model.openadr import Notification, Problem


def assert_problem(r: httpx.Response, status: int, text: str = "") -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    p = Problem.model_validate(r.json())
    assert p.status == status and p.title
    assert text in (p.detail or ""), p.detail


# --------------------------------------------------------------------------- tokens


@async_test
async def test_token_endpoint() -> None:
    async with vtn() as (_, http):
        ok = await http.post(
            "/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": VEN1.client_id,
                "client_secret": VEN1.secret,
            },
        )
        assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
        body = ok.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 600
        assert body["scope"].split() == ["read_all", "write_reports", "write_subscriptions", "write_vens"]
        cases = [
            (
                {"grant_type": "client_credentials", "client_id": "ven-1", "client_secret": "nope"},
                "invalid_client",
            ),
            (
                {"grant_type": "password", "client_id": "ven-1", "client_secret": "x"},
                "unsupported_grant_type",
            ),
            ({"grant_type": "client_credentials", "client_id": "ven-1"}, "invalid_request"),
            (
                {
                    "grant_type": "client_credentials",
                    "client_id": "ven-1",
                    "client_secret": VEN1.secret,
                    "scope": "write_programs",
                },
                "invalid_scope",
            ),
        ]
        for form, error in cases:
            r = await http.post("/auth/token", data=form)
            assert r.status_code == 400 and r.json()["error"] == error, (form, r.text)
        basic = await http.post(
            "/auth/token", data={"grant_type": "client_credentials"}, auth=("esp-bl", "wrong")
        )
        assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"
        good = await http.post(
            "/auth/token", data={"grant_type": "client_credentials"}, auth=(BL.client_id, BL.secret)
        )
        assert good.status_code == 200
        narrow = await bearer(http, BL, scope="read_all")
        assert_problem(
            await http.post("/programs", json={"programName": "x"}, headers=narrow), 403, "write_programs"
        )
        server = await http.get("/auth/server")
        assert server.json() == {"tokenURL": "http://vtn.test/openadr3/3.0.1/auth/token"}


@async_test
async def test_no_token_401_wrong_scope_403_expiry_on_the_clock() -> None:
    clock = SimClock(START)
    async with vtn(clock) as (_, http):
        r = await http.get("/programs")
        assert_problem(r, 401, "bearer token")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert_problem(
            await http.get("/programs", headers={"Authorization": "Bearer nonsense"}), 401, "unknown"
        )
        ven = await bearer(http, VEN1)
        assert (await http.get("/programs", headers=ven)).status_code == 200
        assert_problem(
            await http.post("/programs", json={"programName": "p"}, headers=ven), 403, "write_programs"
        )
        assert_problem(await http.post("/events", json={}, headers=ven), 403, "write_events")
        bl = await bearer(http, BL)
        assert_problem(await http.post("/reports", json={}, headers=bl), 403, "write_reports")
        reader = await bearer(http, READER)
        assert_problem(await http.post("/vens", json={"venName": "v"}, headers=reader), 403, "write_vens")
        await clock.advance(599)
        assert (await http.get("/programs", headers=ven)).status_code == 200
        await clock.advance(1)
        assert_problem(await http.get("/programs", headers=ven), 401, "expired")


# --------------------------------------------------------------------------- CRUD


@async_test
async def test_program_crud_conflicts_and_provisioning() -> None:
    clock = SimClock(START)
    async with vtn(clock) as (_, http):
        bl = await bearer(http, BL)
        body = {
            "programName": "tariff",
            "id": "client-chosen",
            "createdDateTime": "2000-01-01T00:00:00Z",
            "objectType": "PROGRAM",
            "country": "BE",
            "timeZoneOffset": "PT1H",
        }
        p = await created(http, "/programs", body, bl)
        assert p["id"] != "client-chosen" and p["objectType"] == "PROGRAM"
        assert p["createdDateTime"] == p["modificationDateTime"] == "2025-10-01T10:00:00Z"
        assert p["timeZoneOffset"] == "PT1H"
        assert_problem(
            await http.post("/programs", json={"programName": "tariff"}, headers=bl), 409, "tariff"
        )
        await clock.advance(60)
        r = await http.put(
            f"/programs/{p['id']}", json={"programName": "tariff", "country": "NL"}, headers=bl
        )
        assert r.status_code == 200, r.text
        up = r.json()
        assert up["country"] == "NL" and up["createdDateTime"] == p["createdDateTime"]
        assert up["modificationDateTime"] == "2025-10-01T10:01:00Z"
        other = await created(http, "/programs", {"programName": "other"}, bl)
        r = await http.put(f"/programs/{other['id']}", json={"programName": "tariff"}, headers=bl)
        assert_problem(r, 409, "tariff")
        assert (await http.get(f"/programs/{p['id']}", headers=bl)).json() == up
        assert_problem(await http.get("/programs/does-not-exist", headers=bl), 404, "does-not-exist")
        assert_problem(await http.put("/programs/nope", json={"programName": "z"}, headers=bl), 404)
        assert_problem(await http.get("/programs/bad%20id", headers=bl), 400, "programID")
        assert_problem(await http.post("/programs", json={"programName": ""}, headers=bl), 400, "programName")
        assert_problem(await http.post("/programs", content=b"{not json", headers=bl), 400)
        r = await http.post(
            "/programs", json={"programName": "d", "intervalPeriod": {"start": "x"}}, headers=bl
        )
        assert_problem(r, 400, "intervalPeriod.start")
        # deleting a program deletes its events
        e = await created(http, "/events", price_event_body(p["id"]), bl)
        d = await http.delete(f"/programs/{p['id']}", headers=bl)
        assert d.status_code == 200 and d.json() == up
        assert_problem(await http.get(f"/programs/{p['id']}", headers=bl), 404)
        assert_problem(await http.get(f"/events/{e['id']}", headers=bl), 404)


@async_test
async def test_events_reports_subscriptions_need_existing_references() -> None:
    async with vtn() as (_, http):
        bl = await bearer(http, BL)
        ven = await bearer(http, VEN1)
        assert_problem(await http.post("/events", json=price_event_body("ghost"), headers=bl), 400, "ghost")
        p = await created(http, "/programs", {"programName": "t"}, bl)
        q = await created(http, "/programs", {"programName": "u"}, bl)
        e = await created(http, "/events", price_event_body(p["id"]), bl)
        assert e["intervals"][2]["payloads"][0]["values"] == [0.12]
        report = {
            "programID": p["id"],
            "eventID": e["id"],
            "clientName": "ven-1",
            "resources": [{"resourceName": "meter", "intervals": []}],
        }
        r = await created(http, "/reports", report, ven)
        assert r["objectType"] == "REPORT"
        wrong = {**report, "programID": q["id"]}
        assert_problem(await http.post("/reports", json=wrong, headers=ven), 400, "belongs to program")
        assert_problem(
            await http.post("/reports", json={**report, "eventID": "nope"}, headers=ven), 400, "eventID"
        )
        sub = {
            "clientName": "ven-1",
            "programID": "ghost",
            "objectOperations": [
                {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "http://x.test/cb"}
            ],
        }
        assert_problem(await http.post("/subscriptions", json=sub, headers=ven), 400, "ghost")
        s = await created(http, "/subscriptions", {**sub, "programID": p["id"]}, ven)
        upd = {**sub, "programID": p["id"], "clientName": "ven-1b"}
        assert (await http.put(f"/subscriptions/{s['id']}", json=upd, headers=ven)).json()[
            "clientName"
        ] == "ven-1b"
        assert (await http.delete(f"/subscriptions/{s['id']}", headers=ven)).status_code == 200
        assert (await http.delete(f"/reports/{r['id']}", headers=ven)).status_code == 200
        assert (await http.delete(f"/events/{e['id']}", headers=bl)).status_code == 200
        assert_problem(await http.delete(f"/events/{e['id']}", headers=bl), 404)


@async_test
async def test_vens_and_resources() -> None:
    async with vtn() as (_, http):
        ven = await bearer(http, VEN1)
        v = await created(
            http,
            "/vens",
            {
                "venName": "home-1",
                "targets": [{"type": "GROUP", "values": ["feeder-7"]}],
                "resources": [{"resourceName": "meter"}, {"resourceName": "heat-pump"}],
            },
            ven,
        )
        assert [r["resourceName"] for r in v["resources"]] == ["meter", "heat-pump"]
        assert all(r["venID"] == v["id"] for r in v["resources"])
        assert_problem(await http.post("/vens", json={"venName": "home-1"}, headers=ven), 409, "home-1")
        assert_problem(
            await http.post(
                "/vens", json={"venName": "h2", "resources": [{"resourceName": "a"}] * 2}, headers=ven
            ),
            409,
            "repeat",
        )
        assert (
            await http.get("/vens", params={"venName": "h2"}, headers=ven)
        ).json() == []  # nothing half-made
        path = f"/vens/{v['id']}/resources"
        ev = await created(http, path, {"resourceName": "ev", "venID": "ignored"}, ven)
        assert ev["venID"] == v["id"]
        assert_problem(await http.post(path, json={"resourceName": "ev"}, headers=ven), 409, "ev")
        assert_problem(await http.post("/vens/nope/resources", json={"resourceName": "x"}, headers=ven), 404)
        names = [r["resourceName"] for r in (await http.get(path, headers=ven)).json()]
        assert names == ["meter", "heat-pump", "ev"]
        one = await http.get(path, params={"resourceName": "ev"}, headers=ven)
        assert [r["id"] for r in one.json()] == [ev["id"]]
        r = await http.put(f"{path}/{ev['id']}", json={"resourceName": "car"}, headers=ven)
        assert r.json()["resourceName"] == "car" and r.json()["venID"] == v["id"]
        assert (await http.get(f"{path}/{ev['id']}", headers=ven)).json()["resourceName"] == "car"
        assert_problem(await http.get(f"/vens/{v['id']}/resources/nope", headers=ven), 404)
        assert (await http.delete(f"{path}/{ev['id']}", headers=ven)).status_code == 200
        d = await http.delete(f"/vens/{v['id']}", headers=ven)
        assert d.status_code == 200 and len(d.json()["resources"]) == 2
        assert_problem(await http.get(path, headers=ven), 404)


@async_test
async def test_a_ven_sees_only_its_own_vens_reports_and_subscriptions() -> None:
    async with vtn() as (_, http):
        bl, v1, v2 = await bearer(http, BL), await bearer(http, VEN1), await bearer(http, VEN2)
        p = await created(http, "/programs", {"programName": "t"}, bl)
        e = await created(http, "/events", price_event_body(p["id"]), bl)
        mine = await created(http, "/vens", {"venName": "home-1"}, v1)
        report = {
            "programID": p["id"],
            "eventID": e["id"],
            "clientName": "home-1",
            "resources": [{"resourceName": "meter", "intervals": []}],
        }
        rep = await created(http, "/reports", report, v1)
        assert [x["id"] for x in (await http.get("/vens", headers=v2)).json()] == []
        assert [x["id"] for x in (await http.get("/vens", headers=bl)).json()] == [mine["id"]]
        assert_problem(await http.get(f"/vens/{mine['id']}", headers=v2), 404)
        assert_problem(await http.delete(f"/vens/{mine['id']}", headers=v2), 404)
        assert_problem(await http.get(f"/reports/{rep['id']}", headers=v2), 404)
        assert (await http.get("/reports", headers=v2)).json() == []
        assert len((await http.get("/reports", headers=bl)).json()) == 1
        assert len((await http.get("/events", headers=v2)).json()) == 1  # programs and events are for all


# --------------------------------------------------------------------------- searches


@async_test
async def test_filters_and_paging() -> None:
    async with vtn() as (_, http):
        bl = await bearer(http, BL)
        p = await created(
            http, "/programs", {"programName": "t", "targets": [{"type": "GROUP", "values": ["a"]}]}, bl
        )
        q = await created(http, "/programs", {"programName": "u"}, bl)
        for i in range(55):
            group = ["a"] if i % 2 else ["b", "c"]
            await created(
                http, "/events", price_event_body(p["id"], f"e{i}", [{"type": "GROUP", "values": group}]), bl
            )
        await created(http, "/events", price_event_body(q["id"], "q0"), bl)
        everything = (await http.get("/events", headers=bl)).json()
        assert len(everything) == 50  # the spec's maximum page
        second = (await http.get("/events", params={"skip": 50}, headers=bl)).json()
        assert [e["eventName"] for e in second] == ["e50", "e51", "e52", "e53", "e54", "q0"]
        assert (await http.get("/events", params={"limit": 0}, headers=bl)).json() == []
        of_q = (await http.get("/events", params={"programID": q["id"]}, headers=bl)).json()
        assert [e["eventName"] for e in of_q] == ["q0"]
        in_c = await http.get(
            "/events", params={"targetType": "GROUP", "targetValues": ["c", "zz"], "limit": 50}, headers=bl
        )
        assert len(in_c.json()) == 28 and all(e["targets"][0]["values"] == ["b", "c"] for e in in_c.json())
        assert (
            len((await http.get("/events", params={"targetType": "GROUP", "skip": 50}, headers=bl)).json())
            == 5
        )
        assert (await http.get("/events", params={"targetType": "VEN_NAME"}, headers=bl)).json() == []
        progs = (
            await http.get("/programs", params={"targetType": "GROUP", "targetValues": "a"}, headers=bl)
        ).json()
        assert [x["programName"] for x in progs] == ["t"]
        for params, field in [
            ({"limit": 51}, "limit"),
            ({"skip": -1}, "skip"),
            ({"limit": "many"}, "limit"),
            ({"programID": "bad id"}, "programID"),
            ({"limit": [1, 2]}, "limit"),
        ]:
            assert_problem(await http.get("/events", params=params, headers=bl), 400, field)
        ven = await bearer(http, VEN1)
        sub = {
            "clientName": "ven-1",
            "programID": p["id"],
            "objectOperations": [
                {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "http://x.test/"}
            ],
        }
        s = await created(http, "/subscriptions", sub, ven)
        assert [
            x["id"]
            for x in (await http.get("/subscriptions", params={"objects": "EVENT"}, headers=ven)).json()
        ] == [s["id"]]
        assert (await http.get("/subscriptions", params={"objects": "REPORT"}, headers=ven)).json() == []
        assert (await http.get("/subscriptions", params={"clientName": "other"}, headers=ven)).json() == []
        assert_problem(
            await http.get("/subscriptions", params={"objects": "CAT"}, headers=ven), 400, "objects"
        )


@async_test
async def test_etag_and_if_none_match() -> None:
    async with vtn() as (_, http):
        bl = await bearer(http, BL)
        p = await created(http, "/programs", {"programName": "t"}, bl)
        first = await http.get("/events", params={"programID": p["id"]}, headers=bl)
        tag = first.headers["etag"]
        same = await http.get("/events", params={"programID": p["id"]}, headers={**bl, "If-None-Match": tag})
        assert same.status_code == 304 and same.content == b""
        await created(http, "/events", price_event_body(p["id"]), bl)
        changed = await http.get(
            "/events", params={"programID": p["id"]}, headers={**bl, "If-None-Match": tag}
        )
        assert changed.status_code == 200 and changed.headers["etag"] != tag


# --------------------------------------------------------------------------- notifications


@async_test
async def test_notifications_reach_matching_subscribers_and_are_retried() -> None:
    posts: list[tuple[str, str | None, dict[str, Any]]] = []
    fail_once = {"http://flaky.test/cb"}

    def handler(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url in fail_once:
            fail_once.clear()
            return httpx.Response(503)
        posts.append((url, request.headers.get("authorization"), json.loads(request.content)))
        return httpx.Response(200)

    clock = SimClock(START)
    notifier = WebhookNotifier(clock, client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    async with vtn(clock, notifier) as (_, http):
        bl, v1, v2 = await bearer(http, BL), await bearer(http, VEN1), await bearer(http, VEN2)
        p = await created(http, "/programs", {"programName": "t"}, bl)
        other = await created(http, "/programs", {"programName": "u"}, bl)

        def sub(
            url: str, objects: list[str], ops: list[str], pid: str, targets: Any = None
        ) -> dict[str, Any]:
            body: dict[str, Any] = {
                "clientName": "c",
                "programID": pid,
                "objectOperations": [
                    {
                        "objects": objects,
                        "operations": ops,
                        "callbackUrl": url,
                        "bearerToken": "tok-" + url[7:11],
                    }
                ],
            }
            if targets:
                body["targets"] = targets
            return body

        await created(
            http,
            "/subscriptions",
            sub("http://all1.test/cb", ["EVENT"], ["CREATE", "UPDATE", "DELETE"], p["id"]),
            v1,
        )
        await created(http, "/subscriptions", sub("http://flaky.test/cb", ["EVENT"], ["CREATE"], p["id"]), v1)
        await created(
            http,
            "/subscriptions",
            sub("http://grpB.test/cb", ["EVENT"], ["CREATE"], p["id"], [{"type": "GROUP", "values": ["b"]}]),
            v2,
        )
        await created(
            http, "/subscriptions", sub("http://othr.test/cb", ["EVENT"], ["CREATE"], other["id"]), v2
        )
        await created(http, "/subscriptions", sub("http://vens.test/cb", ["VEN"], ["CREATE"], p["id"]), v2)
        e = await created(
            http, "/events", price_event_body(p["id"], targets=[{"type": "GROUP", "values": ["a"]}]), bl
        )
        await http.put(f"/events/{e['id']}", json=price_event_body(p["id"], "renamed"), headers=bl)
        await created(http, "/vens", {"venName": "home-1"}, v1)  # ven-2 must not hear of ven-1's ven
        await asyncio.sleep(0)
        # the flaky subscriber's first try failed; its retry waits on the simulated clock
        while notifier.stats.retried == 0:
            await asyncio.sleep(0.01)
        await clock.advance(1)
        await notifier.wait_idle()
        got = [(u, t, n["operation"], n["object"].get("eventName")) for u, t, n in posts]
        assert sorted(got) == sorted(
            [
                ("http://all1.test/cb", "Bearer tok-all1", "POST", "prices"),
                ("http://all1.test/cb", "Bearer tok-all1", "PUT", "renamed"),
                ("http://flaky.test/cb", "Bearer tok-flak", "POST", "prices"),
            ]
        )
        note = Notification.model_validate(posts[0][2])
        assert note.object_type.value == "EVENT" and note.targets is not None
        assert notifier.stats.delivered == 3 and notifier.stats.retried == 1 and notifier.stats.failed == 0
        assert clock.now() == START + timedelta(seconds=1)
