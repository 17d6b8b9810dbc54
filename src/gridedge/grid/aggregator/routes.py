"""The HTTP paths of openadr3-3.0.1.yaml (programs, events, reports, subscriptions, vens, ven
resources), each a thin call into `VtnService`. Operation ids are the spec's.

Every path needs a bearer token with the scope the spec's `security` names: `read_all` for GET,
`write_programs`, `write_events`, `write_reports`, `write_subscriptions` or `write_vens` for the
writes. Query parameters are the spec's, with its limits (`limit` 0..50, `skip` >= 0, objectID
pattern); anything else is a 400 `problem`.

GETs carry an `ETag` (a hash of the body) and answer `If-None-Match` with 304, so a polling VEN
costs the VTN one query and no transfer when nothing changed (plain HTTP, RFC 9110 §13.1.2; the
spec itself does not define conditional requests).
"""

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from gridedge.grid.aggregator.auth import Principal, Scope, TokenIssuer
from gridedge.grid.aggregator.problems import BadRequest, Forbidden, Unauthorized
from gridedge.grid.aggregator.service import MAX_LIMIT, Search, VtnService
from gridedge.model.openadr import (
    OBJECT_ID_PATTERN,
    Event,
    ObjectType,
    Program,
    Report,
    Resource,
    Subscription,
    Ven,
)

__all__ = ["vtn_router"]


def _id_path(name: str) -> Any:
    return Path(alias=name, pattern=OBJECT_ID_PATTERN, min_length=1, max_length=128)


def _id_query(name: str) -> Any:
    return Query(alias=name, pattern=OBJECT_ID_PATTERN, min_length=1, max_length=128)


ProgramIDPath = Annotated[str, _id_path("programID")]
EventIDPath = Annotated[str, _id_path("eventID")]
ReportIDPath = Annotated[str, _id_path("reportID")]
SubscriptionIDPath = Annotated[str, _id_path("subscriptionID")]
VenIDPath = Annotated[str, _id_path("venID")]
ResourceIDPath = Annotated[str, _id_path("resourceID")]
ProgramIDQuery = Annotated[str | None, _id_query("programID")]
EventIDQuery = Annotated[str | None, _id_query("eventID")]
Skip = Annotated[int, Query(ge=0, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=0, le=MAX_LIMIT)]
TargetType = Annotated[str | None, Query(alias="targetType")]
TargetValues = Annotated[list[str] | None, Query(alias="targetValues")]
ClientName = Annotated[str | None, Query(alias="clientName")]


def json_response(request: Request, data: Any, status: int = 200) -> Response:
    """JSON with an ETag on GET; 304 when the client already has this body."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    if request.method != "GET":
        return Response(body, status_code=status, media_type="application/json")
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    seen = request.headers.get("if-none-match", "")
    if tag in [t.strip() for t in seen.split(",")] or seen.strip() == "*":
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, status_code=status, media_type="application/json", headers={"ETag": tag})


_LISTS = frozenset({"targetValues", "objects"})
"""The only query parameters the spec declares as arrays; any other may appear once."""


def single_values(request: Request) -> None:
    """400 for a repeated scalar query parameter (`?limit=1&limit=2`), which FastAPI would
    otherwise quietly read as its last value."""
    repeated = sorted(
        {k for k in request.query_params if k not in _LISTS and len(request.query_params.getlist(k)) > 1}
    )
    if repeated:
        raise BadRequest(f"query {', '.join(repeated)}: expected one value, found several")


def vtn_router(service: VtnService, issuer: TokenIssuer) -> APIRouter:
    """The spec's paths (without the base path) over `service`, authorised by `issuer`'s tokens."""

    def need(scope: Scope) -> Callable[[Request], Principal]:
        def check(request: Request) -> Principal:
            header = request.headers.get("authorization", "")
            kind, _, token = header.partition(" ")
            if kind.lower() != "bearer" or not token.strip():
                raise Unauthorized("a bearer token is needed (POST /auth/token with client credentials)")
            who = issuer.verify(token.strip())
            if who is None:
                raise Unauthorized("the bearer token is unknown or expired")
            if not who.may(scope):
                raise Forbidden(
                    f"the token lacks scope {scope.value} (it has {sorted(s.value for s in who.scopes)})"
                )
            return who

        return check

    Read = Annotated[Principal, Depends(need(Scope.READ_ALL))]
    WritePrograms = Annotated[Principal, Depends(need(Scope.WRITE_PROGRAMS))]
    WriteEvents = Annotated[Principal, Depends(need(Scope.WRITE_EVENTS))]
    WriteReports = Annotated[Principal, Depends(need(Scope.WRITE_REPORTS))]
    WriteSubs = Annotated[Principal, Depends(need(Scope.WRITE_SUBSCRIPTIONS))]
    WriteVens = Annotated[Principal, Depends(need(Scope.WRITE_VENS))]

    r = APIRouter(dependencies=[Depends(single_values)])
    P, E, R, S, V, RS = (
        ObjectType.PROGRAM,
        ObjectType.EVENT,
        ObjectType.REPORT,
        ObjectType.SUBSCRIPTION,
        ObjectType.VEN,
        ObjectType.RESOURCE,
    )

    # ---- programs
    @r.get("/programs", operation_id="searchAllPrograms", tags=["programs"])
    async def search_programs(
        request: Request,
        who: Read,
        target_type: TargetType = None,
        target_values: TargetValues = None,
        skip: Skip = 0,
        limit: Limit = MAX_LIMIT,
    ) -> Response:
        q = Search(target_type=target_type, target_values=_tuple(target_values), skip=skip, limit=limit)
        return json_response(request, await service.search(P, who, q))

    @r.post("/programs", operation_id="createProgram", tags=["programs"], status_code=201)
    async def create_program(request: Request, who: WritePrograms, body: Program) -> Response:
        return json_response(request, await service.create(P, body, who), 201)

    @r.get("/programs/{programID}", operation_id="searchProgramByProgramId", tags=["programs"])
    async def get_program(request: Request, who: Read, program_id: ProgramIDPath) -> Response:
        return json_response(request, await service.get(P, program_id, who))

    @r.put("/programs/{programID}", operation_id="updateProgram", tags=["programs"])
    async def update_program(
        request: Request, who: WritePrograms, program_id: ProgramIDPath, body: Program
    ) -> Response:
        return json_response(request, await service.update(P, program_id, body, who))

    @r.delete("/programs/{programID}", operation_id="deleteProgram", tags=["programs"])
    async def delete_program(request: Request, who: WritePrograms, program_id: ProgramIDPath) -> Response:
        return json_response(request, await service.delete(P, program_id, who))

    # ---- reports
    @r.get("/reports", operation_id="searchAllReports", tags=["reports"])
    async def search_reports(
        request: Request,
        who: Read,
        program_id: ProgramIDQuery = None,
        event_id: EventIDQuery = None,
        client_name: ClientName = None,
        skip: Skip = 0,
        limit: Limit = MAX_LIMIT,
    ) -> Response:
        q = Search(program_id=program_id, event_id=event_id, client_name=client_name, skip=skip, limit=limit)
        return json_response(request, await service.search(R, who, q))

    @r.post("/reports", operation_id="createReport", tags=["reports"], status_code=201)
    async def create_report(request: Request, who: WriteReports, body: Report) -> Response:
        return json_response(request, await service.create(R, body, who), 201)

    @r.get("/reports/{reportID}", operation_id="searchReportsByReportID", tags=["reports"])
    async def get_report(request: Request, who: Read, report_id: ReportIDPath) -> Response:
        return json_response(request, await service.get(R, report_id, who))

    @r.put("/reports/{reportID}", operation_id="updateReport", tags=["reports"])
    async def update_report(
        request: Request, who: WriteReports, report_id: ReportIDPath, body: Report
    ) -> Response:
        return json_response(request, await service.update(R, report_id, body, who))

    @r.delete("/reports/{reportID}", operation_id="deleteReport", tags=["reports"])
    async def delete_report(request: Request, who: WriteReports, report_id: ReportIDPath) -> Response:
        return json_response(request, await service.delete(R, report_id, who))

    # ---- events
    @r.get("/events", operation_id="searchAllEvents", tags=["events"])
    async def search_events(
        request: Request,
        who: Read,
        program_id: ProgramIDQuery = None,
        target_type: TargetType = None,
        target_values: TargetValues = None,
        skip: Skip = 0,
        limit: Limit = MAX_LIMIT,
    ) -> Response:
        q = Search(
            program_id=program_id,
            target_type=target_type,
            target_values=_tuple(target_values),
            skip=skip,
            limit=limit,
        )
        return json_response(request, await service.search(E, who, q))

    @r.post("/events", operation_id="createEvent", tags=["events"], status_code=201)
    async def create_event(request: Request, who: WriteEvents, body: Event) -> Response:
        return json_response(request, await service.create(E, body, who), 201)

    @r.get("/events/{eventID}", operation_id="searchEventsByID", tags=["events"])
    async def get_event(request: Request, who: Read, event_id: EventIDPath) -> Response:
        return json_response(request, await service.get(E, event_id, who))

    @r.put("/events/{eventID}", operation_id="updateEvent", tags=["events"])
    async def update_event(
        request: Request, who: WriteEvents, event_id: EventIDPath, body: Event
    ) -> Response:
        return json_response(request, await service.update(E, event_id, body, who))

    @r.delete("/events/{eventID}", operation_id="deleteEvent", tags=["events"])
    async def delete_event(request: Request, who: WriteEvents, event_id: EventIDPath) -> Response:
        return json_response(request, await service.delete(E, event_id, who))

    # ---- subscriptions
    @r.get("/subscriptions", operation_id="searchSubscriptions", tags=["subscriptions"])
    async def search_subscriptions(
        request: Request,
        who: Read,
        program_id: ProgramIDQuery = None,
        client_name: ClientName = None,
        target_type: TargetType = None,
        target_values: TargetValues = None,
        objects: Annotated[list[ObjectType] | None, Query()] = None,
        skip: Skip = 0,
        limit: Limit = MAX_LIMIT,
    ) -> Response:
        q = Search(
            program_id=program_id,
            client_name=client_name,
            target_type=target_type,
            target_values=_tuple(target_values),
            objects=_tuple(objects),
            skip=skip,
            limit=limit,
        )
        return json_response(request, await service.search(S, who, q))

    @r.post("/subscriptions", operation_id="createSubscription", tags=["subscriptions"], status_code=201)
    async def create_subscription(request: Request, who: WriteSubs, body: Subscription) -> Response:
        return json_response(request, await service.create(S, body, who), 201)

    @r.get("/subscriptions/{subscriptionID}", operation_id="searchSubscriptionByID", tags=["subscriptions"])
    async def get_subscription(request: Request, who: Read, subscription_id: SubscriptionIDPath) -> Response:
        return json_response(request, await service.get(S, subscription_id, who))

    @r.put("/subscriptions/{subscriptionID}", operation_id="updateSubscription", tags=["subscriptions"])
    async def update_subscription(
        request: Request, who: WriteSubs, subscription_id: SubscriptionIDPath, body: Subscription
    ) -> Response:
        return json_response(request, await service.update(S, subscription_id, body, who))

    @r.delete("/subscriptions/{subscriptionID}", operation_id="deleteSubscription", tags=["subscriptions"])
    async def delete_subscription(
        request: Request, who: WriteSubs, subscription_id: SubscriptionIDPath
    ) -> Response:
        return json_response(request, await service.delete(S, subscription_id, who))

    # ---- vens
    @r.get("/vens", operation_id="searchVens", tags=["vens"])
    async def search_vens(
        request: Request,
        who: Read,
        ven_name: Annotated[str | None, Query(alias="venName")] = None,
        target_type: TargetType = None,
        target_values: TargetValues = None,
        skip: Skip = 0,
        limit: Limit = MAX_LIMIT,
    ) -> Response:
        q = Search(
            ven_name=ven_name,
            target_type=target_type,
            target_values=_tuple(target_values),
            skip=skip,
            limit=limit,
        )
        return json_response(request, await service.search(V, who, q))

    @r.post("/vens", operation_id="createVen", tags=["vens"], status_code=201)
    async def create_ven(request: Request, who: WriteVens, body: Ven) -> Response:
        return json_response(request, await service.create(V, body, who), 201)

    @r.get("/vens/{venID}", operation_id="searchVenByID", tags=["vens"])
    async def get_ven(request: Request, who: Read, ven_id: VenIDPath) -> Response:
        return json_response(request, await service.get(V, ven_id, who))

    @r.put("/vens/{venID}", operation_id="updateVen", tags=["vens"])
    async def update_ven(request: Request, who: WriteVens, ven_id: VenIDPath, body: Ven) -> Response:
        return json_response(request, await service.update(V, ven_id, body, who))

    @r.delete("/vens/{venID}", operation_id="deleteVen", tags=["vens"])
    async def delete_ven(request: Request, who: WriteVens, ven_id: VenIDPath) -> Response:
        return json_response(request, await service.delete(V, ven_id, who))

    # ---- ven resources
    @r.get("/vens/{venID}/resources", operation_id="searchVenResources", tags=["vens"])
    async def search_resources(
        request: Request,
        who: Read,
        ven_id: VenIDPath,
        resource_name: Annotated[str | None, Query(alias="resourceName")] = None,
        target_type: TargetType = None,
        target_values: TargetValues = None,
        skip: Skip = 0,
        limit: Limit = MAX_LIMIT,
    ) -> Response:
        q = Search(
            resource_name=resource_name,
            target_type=target_type,
            target_values=_tuple(target_values),
            skip=skip,
            limit=limit,
        )
        return json_response(request, await service.search(RS, who, q, ven_id=ven_id))

    @r.post("/vens/{venID}/resources", operation_id="createResource", tags=["vens"], status_code=201)
    async def create_resource(
        request: Request, who: WriteVens, ven_id: VenIDPath, body: Resource
    ) -> Response:
        return json_response(request, await service.create(RS, body, who, ven_id=ven_id), 201)

    @r.get("/vens/{venID}/resources/{resourceID}", operation_id="searchVenResourceByID", tags=["vens"])
    async def get_resource(
        request: Request, who: Read, ven_id: VenIDPath, resource_id: ResourceIDPath
    ) -> Response:
        return json_response(request, await service.get(RS, resource_id, who, ven_id=ven_id))

    @r.put("/vens/{venID}/resources/{resourceID}", operation_id="updateVenResource", tags=["vens"])
    async def update_resource(
        request: Request, who: WriteVens, ven_id: VenIDPath, resource_id: ResourceIDPath, body: Resource
    ) -> Response:
        return json_response(request, await service.update(RS, resource_id, body, who, ven_id=ven_id))

    @r.delete("/vens/{venID}/resources/{resourceID}", operation_id="deleteVenResource", tags=["vens"])
    async def delete_resource(
        request: Request, who: WriteVens, ven_id: VenIDPath, resource_id: ResourceIDPath
    ) -> Response:
        return json_response(request, await service.delete(RS, resource_id, who, ven_id=ven_id))

    return r


def _tuple(values: list[Any] | None) -> tuple[Any, ...] | None:
    return tuple(values) if values else None
