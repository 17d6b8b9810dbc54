"""gridedge's OpenADR 3.0.1 VEN client over httpx (async): tokens, registration, programs, events,
reports and subscriptions (openadr3-3.0.1.yaml paths; models from `gridedge.model.openadr`).

* Tokens: OAuth2 client credentials at `<base>/auth/token` (spec `fetchToken`), cached until
  shortly before `expires_in` runs out on the injected clock; a 401 fetches a new one and retries
  the request once (the VTN may have restarted and forgotten its tokens).
* Searches page through results with `skip`/`limit` (50, the spec's maximum) until a short page.
* Conditional GET: the ETag of each page is remembered and sent back as `If-None-Match`; a 304
  reuses the cached page, and `changed` tells the caller whether anything differed.
* Errors: `OpenAdrError` with the HTTP status and the VTN's `problem` (or `authError`) text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import httpx
from pydantic import ValidationError

from gridedge.clock import Clock
from gridedge.model.openadr import (
    ClientCredentialResponse,
    Event,
    OpenAdrModel,
    Program,
    Report,
    Resource,
    Subscription,
    Ven,
)

__all__ = ["OpenAdrError", "Page", "VenClient"]

PAGE: Final = 50
M = TypeVar("M", bound=OpenAdrModel)


class OpenAdrError(Exception):
    """The VTN refused a request (or answered something that is not OpenADR)."""

    def __init__(self, method: str, url: str, status: int, detail: str) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.detail = detail
        super().__init__(f"{method} {url}: HTTP {status}: {detail}")


@dataclass(frozen=True, slots=True)
class Page:
    """The objects of a search and whether they differ from the previous answer."""

    items: list[dict[str, Any]]
    changed: bool


def _detail(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:200] or r.reason_phrase
    if isinstance(body, dict):
        for key in ("detail", "error_description", "title", "error"):
            if body.get(key):
                return str(body[key])
    return str(body)[:200]


class VenClient:
    """HTTP client of one VEN against one VTN."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        clock: Clock,
        *,
        http: httpx.AsyncClient | None = None,
        scope: str | None = None,
        token_url: str | None = None,
        token_margin_s: float = 30.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.clock = clock
        self.scope = scope
        self.token_url = token_url or f"{self.base_url}/auth/token"
        self.token_margin_s = token_margin_s
        self._http = http or httpx.AsyncClient(timeout=timeout_s)
        self._own_http = http is None
        self._token: str | None = None
        self._token_until = 0.0
        self._etags: dict[str, tuple[str, list[dict[str, Any]]]] = {}

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> VenClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- tokens

    async def token(self, *, fresh: bool = False) -> str:
        """A valid bearer token (fetched when none is cached, it is about to expire, or `fresh`)."""
        if not fresh and self._token is not None and self.clock.monotonic() < self._token_until:
            return self._token
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
        }
        if self.scope:
            form["scope"] = self.scope
        r = await self._http.post(self.token_url, data=form)
        if r.status_code != 200:
            raise OpenAdrError("POST", self.token_url, r.status_code, _detail(r))
        try:
            answer = ClientCredentialResponse.model_validate(r.json())
        except (ValueError, ValidationError) as exc:
            raise OpenAdrError("POST", self.token_url, r.status_code, f"not a token response: {exc}") from exc
        lifetime = float(answer.expires_in) if answer.expires_in is not None else 3600.0
        self._token = answer.access_token
        self._token_until = self.clock.monotonic() + max(0.0, lifetime - self.token_margin_s)
        return self._token

    # ---------------------------------------------------------------- HTTP

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: OpenAdrModel | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One authorised request; a 401 is retried once with a new token. Non-2xx/304 raise."""
        url = f"{self.base_url}{path}"
        content = body.dump_json().encode() if body is not None else None
        hdrs = {"Content-Type": "application/json"} if content is not None else {}
        hdrs.update(headers or {})
        for attempt in (0, 1):
            hdrs["Authorization"] = f"Bearer {await self.token(fresh=attempt == 1)}"
            r = await self._http.request(method, url, params=params, content=content, headers=hdrs)
            if r.status_code != 401:
                break
        if r.status_code >= 400:
            raise OpenAdrError(method, str(r.request.url), r.status_code, _detail(r))
        return r

    async def _page(self, path: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        key = str(httpx.URL(path, params=params))
        cached = self._etags.get(key)
        r = await self.request(
            "GET", path, params=params, headers={"If-None-Match": cached[0]} if cached else None
        )
        if r.status_code == 304 and cached is not None:
            return cached[1], False
        items = r.json()
        if not isinstance(items, list):
            raise OpenAdrError("GET", str(r.request.url), r.status_code, "expected a JSON array")
        tag = r.headers.get("etag")
        if tag:
            self._etags[key] = (tag, items)
        return items, True

    async def search(self, path: str, **filters: Any) -> Page:
        """Every object of a search path (all pages), with the spec's query parameters."""
        params = {k: v for k, v in filters.items() if v is not None}
        out: list[dict[str, Any]] = []
        changed = False
        skip = 0
        while True:
            items, ch = await self._page(path, {**params, "skip": skip, "limit": PAGE})
            out.extend(items)
            changed = changed or ch
            if len(items) < PAGE:
                return Page(out, changed)
            skip += PAGE

    @staticmethod
    def _parse(cls: type[M], items: Sequence[dict[str, Any]], where: str) -> list[M]:
        try:
            return [cls.model_validate(i) for i in items]
        except ValidationError as exc:
            raise OpenAdrError("GET", where, 200, f"invalid {cls.__name__}: {exc}") from exc

    # ---------------------------------------------------------------- objects

    async def programs(self, **filters: Any) -> list[Program]:
        return self._parse(Program, (await self.search("/programs", **filters)).items, "/programs")

    async def program_by_name(self, name: str) -> Program | None:
        return next((p for p in await self.programs() if p.program_name == name), None)

    async def events(self, program_id: str | None = None, **filters: Any) -> tuple[list[Event], bool]:
        """The events (of a program) and whether they changed since the last call."""
        page = await self.search("/events", programID=program_id, **filters)
        return self._parse(Event, page.items, "/events"), page.changed

    async def find_ven(self, ven_name: str) -> Ven | None:
        vens = self._parse(Ven, (await self.search("/vens", venName=ven_name)).items, "/vens")
        return vens[0] if vens else None

    async def create(self, path: str, obj: M) -> M:
        r = await self.request("POST", path, body=obj)
        return type(obj).model_validate(r.json())

    async def register(self, ven: Ven) -> Ven:
        """This VEN's `ven` object: the existing one of that venName, else a new one."""
        found = await self.find_ven(ven.ven_name)
        return found if found is not None else await self.create("/vens", ven)

    async def create_resource(self, ven_id: str, resource: Resource) -> Resource:
        return await self.create(f"/vens/{ven_id}/resources", resource)

    async def create_report(self, report: Report) -> Report:
        return await self.create("/reports", report)

    async def create_subscription(self, subscription: Subscription) -> Subscription:
        return await self.create("/subscriptions", subscription)

    async def delete(self, path: str) -> None:
        await self.request("DELETE", path)
