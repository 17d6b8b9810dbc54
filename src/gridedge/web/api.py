"""The dashboard's JSON API: what the home and grid views show, and what a logged-in user may change.

Reads: `GET /api/status`, `GET /api/homes/{site_id}`, `GET /api/grid` serve the typed views of
`gridedge.app.views` (their OpenAPI schemas are derived from those dataclasses). They need no login
unless the app is made with `public_reads=False` (`gridedge run`: a household's power and appliance
timeline are personal data): then any logged-in user or API token may read, others get 401.

Everything that changes state needs a login (`Auth.require`, roles of `gridedge.web.users`), and the
user's name goes to the control as `by`:

| endpoint | roles |
|---|---|
| `POST /api/grid/sites/{site_id}/limit` `{"import_w": W, "duration_s": S?}` | grid operator |
| `DELETE /api/grid/sites/{site_id}/limit` | grid operator |
| `POST /api/grid/heartbeat/stop`, `.../resume` `{"sites": [ids]?}` (none: all) | grid operator |
| `POST /api/homes/{site_id}/devices/{device_id}/managed` `{"managed": bool}` | home owner (a), installer |
| `POST /api/homes/{site_id}/appliances/{appliance_id}/label` `{"label": text}` | home owner (a), installer |
| `POST /api/demo/story/{key}` | any logged-in user; a step with `roles`: only those roles |
| `POST /api/demo/speed` `{"speed": x}` | installer, grid operator |

(a) A home owner bound to a site (`User.site`) only at that site: 403 naming it elsewhere.

Answers: 200 with `Accepted` when the control took the command (its effect shows in the views and
the event stream as soon as the world applies it), 401 without a login, 403 for a role that may not
(or a cookie-borne request without `X-Gridedge-Request: 1`), 404 for an unknown site, device,
appliance or storyline step (`KeyError`/`UnknownSite` from the control), 409 with the control's reason
when it refuses (`ValueError`, e.g. parking a device while the grid operator's limit applies), 422 for
a bad body: `detail` is FastAPI's list (each `loc` ends with the field) and `message` one line such as
`import_w: Input should be greater than or equal to 0`. Bodies are strict JSON: no `"60"` or `true`
for a number.

The endpoints are `async`: the control lives on the event loop and its methods are called there,
never from a worker thread. No `from __future__ import annotations` (FastAPI resolves the local
`Depends` at run time).
"""

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, HTTPException, Path
from fastapi.params import Depends as DependsParam
from pydantic import BaseModel, ConfigDict, Field

from gridedge.app.views import DemoControl, DemoStatus, GridView, HomeView, UnknownSite
from gridedge.web.auth import Auth
from gridedge.web.users import Role, User

__all__ = [
    "Accepted",
    "LabelRequest",
    "LimitRequest",
    "ManagedRequest",
    "Problem",
    "SitesRequest",
    "SpeedRequest",
    "actions_router",
    "reads_router",
]

MAX_SPEED: Final = 3600.0
"""Fastest simulated time the API accepts (an hour per second)."""


class Problem(BaseModel):
    """An error: `detail` says what was wrong."""

    detail: str


class LimitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    import_w: float = Field(
        ge=0,
        le=1e7,
        allow_inf_nan=False,
        description="Import (consumption) limit in W at the grid connection, >= 0",
    )
    duration_s: float | None = Field(
        default=None,
        gt=0,
        le=7 * 86400,
        allow_inf_nan=False,
        description="How long the limit holds (s); none: until cleared",
    )


class SitesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sites: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=10_000, description="Site ids; none: every site"
    )


class ManagedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    managed: bool = Field(description="Whether the energy manager steers the device")


class LabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    label: str = Field(min_length=1, max_length=64, description="The appliance's name, e.g. 'kettle'")


class SpeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    speed: float = Field(
        gt=0, le=MAX_SPEED, allow_inf_nan=False, description="Simulated seconds per real second"
    )


class Accepted(BaseModel):
    """The control took the command."""

    action: str
    by: str
    version: int = Field(description="The control's version right after the command")


SiteId = Annotated[str, Path(min_length=1, max_length=64, description="A site id, as in /api/status homes")]
ItemId = Annotated[str, Path(min_length=1, max_length=64)]


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


_GUARDED: Final[dict[int | str, dict[str, Any]]] = {
    400: _problem("The body could not be read as JSON"),
    401: _problem("Not logged in"),
    403: _problem("The user's role may not do this, or the anti-forgery header is missing"),
    404: _problem("No such site or item"),
    409: _problem("The control refused the command as it stands"),
}


def _no_site(site_id: str) -> HTTPException:
    return HTTPException(404, f"no site {site_id!r}")


def _key(e: KeyError) -> str:
    return str(e.args[0]) if e.args else ""


READ_REFUSED: Final[dict[int | str, dict[str, Any]]] = {
    401: _problem("Not logged in (reads are private here)")
}


def reads_router(control: DemoControl, guard: Sequence[DependsParam] = ()) -> APIRouter:
    """The views; `guard`: dependencies every read must pass (e.g. `Depends(auth.require())`)."""
    router = APIRouter(
        prefix="/api", tags=["views"], dependencies=list(guard), responses=READ_REFUSED if guard else None
    )

    @router.get("/status", response_model=DemoStatus, summary="Simulated time, speed, storyline, homes")
    async def status() -> DemoStatus:
        return control.status()

    @router.get(
        "/homes/{site_id}", response_model=HomeView, responses={404: _GUARDED[404]}, summary="One home's view"
    )
    async def home(site_id: SiteId) -> HomeView:
        try:
            return control.home(site_id)
        except UnknownSite:
            raise _no_site(site_id) from None

    @router.get("/grid", response_model=GridView, summary="The grid operator's view")
    async def grid() -> GridView:
        return control.grid()

    return router


def actions_router(control: DemoControl, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["actions"])
    operator = auth.require(Role.GRID_OPERATOR)
    household = auth.require(Role.HOME_OWNER, Role.INSTALLER)
    anyone = auth.require()
    commissioning = auth.require(Role.INSTALLER, Role.GRID_OPERATOR)

    def run(
        action: str, user: User, call: Callable[[], None], *, site_id: str | None = None, missing: str = ""
    ) -> Accepted:
        if site_id is not None and not user.may_act_on(site_id):
            raise HTTPException(403, f"{user.name} may act on site {user.site!r} only, not on {site_id!r}")
        try:
            call()
        except UnknownSite as e:
            raise _no_site(site_id if site_id is not None else _key(e)) from None
        except KeyError as e:
            said = _key(e)  # the control's own sentence, or just the missing key
            raise HTTPException(404, said if " " in said else missing or f"not found: {said!r}") from None
        except ValueError as e:
            raise HTTPException(409, str(e)) from None
        return Accepted(action=action, by=user.name, version=control.version)

    @router.post(
        "/grid/sites/{site_id}/limit",
        response_model=Accepted,
        responses=_GUARDED,
        summary="Issue an import (consumption) limit to a site",
    )
    async def issue_limit(
        site_id: SiteId, body: LimitRequest, user: Annotated[User, Depends(operator)]
    ) -> Accepted:
        return run(
            "issue_limit",
            user,
            lambda: control.issue_limit(site_id, body.import_w, body.duration_s, user.name),
            site_id=site_id,
        )

    @router.delete(
        "/grid/sites/{site_id}/limit",
        response_model=Accepted,
        responses=_GUARDED,
        summary="Lift a site's import limit",
    )
    async def clear_limit(site_id: SiteId, user: Annotated[User, Depends(operator)]) -> Accepted:
        return run("clear_limit", user, lambda: control.clear_limit(site_id, user.name), site_id=site_id)

    @router.post(
        "/grid/heartbeat/stop",
        response_model=Accepted,
        responses=_GUARDED,
        summary="Stop the DSO's heartbeats (to all sites, or the listed ones)",
    )
    async def stop_heartbeat(
        user: Annotated[User, Depends(operator)], body: Annotated[SitesRequest | None, Body()] = None
    ) -> Accepted:
        sites = None if body is None else body.sites
        return run("stop_heartbeat", user, lambda: control.stop_heartbeat(sites, user.name))

    @router.post(
        "/grid/heartbeat/resume",
        response_model=Accepted,
        responses=_GUARDED,
        summary="Resume the DSO's heartbeats (to all sites, or the listed ones)",
    )
    async def resume_heartbeat(
        user: Annotated[User, Depends(operator)], body: Annotated[SitesRequest | None, Body()] = None
    ) -> Accepted:
        sites = None if body is None else body.sites
        return run("resume_heartbeat", user, lambda: control.resume_heartbeat(sites, user.name))

    @router.post(
        "/homes/{site_id}/devices/{device_id}/managed",
        response_model=Accepted,
        responses=_GUARDED,
        summary="Let the energy manager steer a device, or park it",
    )
    async def set_managed(
        site_id: SiteId, device_id: ItemId, body: ManagedRequest, user: Annotated[User, Depends(household)]
    ) -> Accepted:
        return run(
            "set_managed",
            user,
            lambda: control.set_managed(site_id, device_id, body.managed, user.name),
            site_id=site_id,
            missing=f"no device {device_id!r} at site {site_id!r}",
        )

    @router.post(
        "/homes/{site_id}/appliances/{appliance_id}/label",
        response_model=Accepted,
        responses=_GUARDED,
        summary="Name an appliance NILM recognised",
    )
    async def label_appliance(
        site_id: SiteId, appliance_id: ItemId, body: LabelRequest, user: Annotated[User, Depends(household)]
    ) -> Accepted:
        return run(
            "label_appliance",
            user,
            lambda: control.label_appliance(site_id, appliance_id, body.label, user.name),
            site_id=site_id,
            missing=f"no appliance {appliance_id!r} at site {site_id!r}",
        )

    @router.post(
        "/demo/story/{key}", response_model=Accepted, responses=_GUARDED, summary="Play a storyline step now"
    )
    async def trigger(
        key: Annotated[str, Path(min_length=1, max_length=64)], user: Annotated[User, Depends(anyone)]
    ) -> Accepted:
        story = control.status().story
        known = ", ".join(s.key for s in story) or "none"
        step = next((s for s in story if s.key == key), None)
        if step is not None and step.roles and user.role.value not in step.roles:
            # a step that acts as the grid operator is not a home owner's to play (review finding)
            who = ", ".join(step.roles)
            raise HTTPException(403, f"a {user.role.value} may not play {key}: it is for {who}")
        return run(
            "trigger",
            user,
            lambda: control.trigger(key, user.name),
            missing=f"no storyline step {key!r} (known: {known})",
        )

    @router.post(
        "/demo/speed", response_model=Accepted, responses=_GUARDED, summary="Set how fast simulated time runs"
    )
    async def set_speed(body: SpeedRequest, user: Annotated[User, Depends(commissioning)]) -> Accepted:
        return run("set_speed", user, lambda: control.set_speed(body.speed))

    return router
