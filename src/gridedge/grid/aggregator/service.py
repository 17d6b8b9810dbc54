"""The VTN's rules, apart from HTTP: create, read, update, delete and search OpenADR objects.

Both the HTTP routes (`routes.py`) and the aggregator's own business logic (`publisher.py`) go
through this, so a price event the publisher writes is stored and notified exactly like one a
BL client posts. Rules (OpenADR 3.0.1 yaml and User Guide):

* the VTN provisions `id`, `createdDateTime`, `modificationDateTime` (from the injected clock)
  and `objectType`; whatever a client sends in those fields is ignored; a resource's `venID`
  comes from the path;
* `programName` and `venName` are unique in the VTN, `resourceName` within its VEN (409);
* an event's programID, a report's programID and eventID, and a subscription's programID must
  name existing objects (400); deleting a program deletes its events, deleting a VEN its resources;
* searches filter by the spec's query parameters, then apply `skip` and `limit` (at most 50);
  `targetType`/`targetValues` keep objects with a matching target (untargeted ones do not match);
* a BL client sees everything; a VEN client sees programs and events, and only the vens,
  resources, subscriptions and reports it created itself (a household's data is its own);
* every create, update and delete is handed to the notifier, which resolves the subscribers here
  (`deliveries`): a subscription's objectOperations must list the object type and operation,
  its programID must be the object's program (vens and resources have none), its targets (if
  any) must meet the object's (an untargeted object meets all), and a VEN client is only told
  about programs, events and its own objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel

from gridedge.clock import Clock
from gridedge.grid.aggregator.auth import Principal, Role
from gridedge.grid.aggregator.notifier import Change, Delivery, WebhookNotifier
from gridedge.grid.aggregator.problems import BadRequest, Conflict, NotFound
from gridedge.grid.aggregator.store import AsyncVtnStore, DuplicateName, Record
from gridedge.model.openadr import (
    OBJECT_CLASSES,
    Event,
    Notification,
    NotificationOperation,
    ObjectType,
    OpenAdrObject,
    Operation,
    Report,
    Resource,
    Subscription,
    Ven,
)

__all__ = ["MAX_LIMIT", "Search", "VtnService"]

MAX_LIMIT: Final = 50
"""The spec's `limit` maximum; also the page size when a search gives no limit."""

_HTTP_OF: Final = {
    Operation.CREATE: NotificationOperation.POST,
    Operation.UPDATE: NotificationOperation.PUT,
    Operation.DELETE: NotificationOperation.DELETE,
}
_PUBLIC: Final = frozenset({ObjectType.PROGRAM, ObjectType.EVENT})
"""Objects every client with read_all sees."""


@dataclass(frozen=True, slots=True)
class Search:
    """The query parameters of the spec's search operations (None: no condition)."""

    program_id: str | None = None
    event_id: str | None = None
    client_name: str | None = None
    ven_name: str | None = None
    resource_name: str | None = None
    target_type: str | None = None
    target_values: tuple[str, ...] | None = None
    objects: tuple[ObjectType, ...] | None = None
    skip: int = 0
    limit: int = MAX_LIMIT


def targets_match(
    targets: Sequence[Mapping[str, Any]] | None, target_type: str | None, values: Sequence[str] | None
) -> bool:
    """True when a target has `target_type` (if given) and one of `values` (if given)."""
    if target_type is None and not values:
        return True
    for t in targets or ():
        if target_type is not None and t.get("type") != target_type:
            continue
        if not values or any(str(v) in values for v in t.get("values", ())):
            return True
    return False


def _targets_meet(sub: Sequence[Mapping[str, Any]] | None, obj: Sequence[Mapping[str, Any]] | None) -> bool:
    if not sub or not obj:
        return True
    return any(targets_match(obj, s.get("type"), [str(v) for v in s.get("values", ())]) for s in sub)


class VtnService:
    """OpenADR objects with the VTN's rules; `store` is used from its own thread."""

    def __init__(
        self,
        store: AsyncVtnStore,
        clock: Clock,
        notifier: WebhookNotifier | None = None,
        roles: Mapping[str, Role] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.roles = dict(roles or {})
        """client_id -> role, to tell BL subscribers from VEN ones when notifying."""
        if notifier is not None:
            notifier.bind(self.deliveries)

    # ---------------------------------------------------------------- reads

    async def get(
        self, kind: ObjectType, obj_id: str, who: Principal, ven_id: str | None = None
    ) -> dict[str, Any]:
        rec = await self._visible(kind, obj_id, who, ven_id)
        return await self._out(rec)

    async def search(
        self, kind: ObjectType, who: Principal, q: Search, ven_id: str | None = None
    ) -> list[dict[str, Any]]:
        if kind is ObjectType.RESOURCE:
            assert ven_id is not None
            await self._visible(ObjectType.VEN, ven_id, who)
        recs = await self.store.run(
            self.store.store.find,
            kind.value,
            program_id=q.program_id,
            event_id=q.event_id,
            client_name=q.client_name,
            ven_id=ven_id,
            uname=q.ven_name
            if kind is ObjectType.VEN
            else q.resource_name
            if kind is ObjectType.RESOURCE
            else None,
        )
        keep = [
            r
            for r in recs
            if (kind in _PUBLIC or kind is ObjectType.RESOURCE or who.sees_all or r.owner == who.client_id)
            and targets_match(r.body.get("targets"), q.target_type, q.target_values)
            and (q.objects is None or self._subscribes_to(r.body, q.objects))
        ]
        return [await self._out(r) for r in keep[q.skip : q.skip + min(q.limit, MAX_LIMIT)]]

    async def lookup(
        self, kind: ObjectType, *, name: str | None = None, program_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every object of `kind` with that unique name and/or programID, for business logic in
        this process (no visibility rules, no paging)."""
        recs = await self.store.run(self.store.store.find, kind.value, uname=name, program_id=program_id)
        return [await self._out(r) for r in recs]

    @staticmethod
    def _subscribes_to(body: Mapping[str, Any], objects: Sequence[ObjectType]) -> bool:
        return any(o in op.get("objects", ()) for op in body.get("objectOperations", ()) for o in objects)

    async def _visible(
        self, kind: ObjectType, obj_id: str, who: Principal, ven_id: str | None = None
    ) -> Record:
        """The record, if it exists and `who` may see it; NotFound otherwise (no hint either way)."""
        if kind is ObjectType.RESOURCE:
            assert ven_id is not None
            await self._visible(ObjectType.VEN, ven_id, who)
        rec = await self.store.run(self.store.store.get, kind.value, obj_id)
        if rec is None or (ven_id is not None and rec.ven_id != ven_id):
            raise NotFound(self._missing(kind, obj_id, ven_id))
        if not (kind in _PUBLIC or kind is ObjectType.RESOURCE or who.sees_all or rec.owner == who.client_id):
            raise NotFound(self._missing(kind, obj_id, ven_id))
        return rec

    @staticmethod
    def _missing(kind: ObjectType, obj_id: str, ven_id: str | None) -> str:
        under = f" of ven {ven_id!r}" if ven_id else ""
        return f"no {kind.value.lower()} with id {obj_id!r}{under}"

    async def _out(self, rec: Record) -> dict[str, Any]:
        """The wire object; a VEN carries its current resources."""
        if rec.kind != ObjectType.VEN.value:
            return rec.body
        res = await self.store.run(self.store.store.find, ObjectType.RESOURCE.value, ven_id=rec.id)
        return {**rec.body, "resources": [r.body for r in res]} if res else rec.body

    # ---------------------------------------------------------------- writes

    async def create(
        self, kind: ObjectType, obj: OpenAdrObject, who: Principal, ven_id: str | None = None
    ) -> dict[str, Any]:
        if kind is ObjectType.RESOURCE:
            assert ven_id is not None
            await self._visible(ObjectType.VEN, ven_id, who)
        await self._check_refs(obj)
        now = self.clock.now()
        new_id = uuid.uuid4().hex
        extra: dict[str, Any] = {"ven_id": ven_id} if kind is ObjectType.RESOURCE else {}
        inline: list[Resource] = []
        if isinstance(obj, Ven):
            inline = list(obj.resources or ())
            extra["resources"] = None
        body = self._provision(obj, new_id, now, now, extra)
        records = [self._record(kind, body, who.client_id)]
        for res in inline:
            rb = self._provision(res, uuid.uuid4().hex, now, now, {"ven_id": new_id})
            records.append(self._record(ObjectType.RESOURCE, rb, who.client_id))
        try:
            await self.store.run(self.store.store.insert, records)
        except DuplicateName as exc:
            raise Conflict(self._clash(kind, body, inline)) from exc
        for r in records:
            self._notify(ObjectType(r.kind), Operation.CREATE, r)
        return await self._out(records[0])

    async def update(
        self, kind: ObjectType, obj_id: str, obj: OpenAdrObject, who: Principal, ven_id: str | None = None
    ) -> dict[str, Any]:
        old = await self._visible(kind, obj_id, who, ven_id)
        await self._check_refs(obj)
        created = old.body.get("createdDateTime")
        extra: dict[str, Any] = {"ven_id": old.ven_id} if kind is ObjectType.RESOURCE else {}
        if isinstance(obj, Ven):
            extra["resources"] = None  # resources are managed under /vens/{venID}/resources
        body = self._provision(obj, obj_id, None, self.clock.now(), extra)
        if created is not None:
            body["createdDateTime"] = created
        rec = self._record(kind, body, old.owner)
        try:
            await self.store.run(self.store.store.replace, rec)
        except DuplicateName as exc:
            raise Conflict(self._clash(kind, body, [])) from exc
        self._notify(kind, Operation.UPDATE, rec)
        return await self._out(rec)

    async def delete(
        self, kind: ObjectType, obj_id: str, who: Principal, ven_id: str | None = None
    ) -> dict[str, Any]:
        rec = await self._visible(kind, obj_id, who, ven_id)
        out = await self._out(rec)
        dependents: list[Record] = []
        if kind is ObjectType.PROGRAM:
            dependents = await self.store.run(
                self.store.store.find, ObjectType.EVENT.value, program_id=obj_id
            )
        elif kind is ObjectType.VEN:
            dependents = await self.store.run(self.store.store.find, ObjectType.RESOURCE.value, ven_id=obj_id)
        for d in dependents:
            await self.store.run(self.store.store.delete, d.kind, [d.id])
            self._notify(ObjectType(d.kind), Operation.DELETE, d)
        await self.store.run(self.store.store.delete, kind.value, [obj_id])
        self._notify(kind, Operation.DELETE, rec)
        return out

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _provision(
        obj: BaseModel, obj_id: str, created: Any, modified: Any, extra: dict[str, Any]
    ) -> dict[str, Any]:
        update = {"id": obj_id, "modification_date_time": modified, **extra}
        if created is not None:
            update["created_date_time"] = created
        body = obj.model_copy(update=update)
        return body.model_dump(mode="json", by_alias=True, exclude_none=True)

    @staticmethod
    def _record(kind: ObjectType, body: dict[str, Any], owner: str) -> Record:
        name = {
            ObjectType.PROGRAM: body.get("programName"),
            ObjectType.VEN: body.get("venName"),
            ObjectType.RESOURCE: body.get("resourceName"),
        }.get(kind)
        return Record(
            kind=kind.value,
            id=body["id"],
            owner=owner,
            body=body,
            program_id=body.get("programID"),
            event_id=body.get("eventID"),
            ven_id=body.get("venID"),
            client_name=body.get("clientName"),
            unique_name=name,
        )

    @staticmethod
    def _clash(kind: ObjectType, body: Mapping[str, Any], inline: Sequence[Resource]) -> str:
        if kind is ObjectType.PROGRAM:
            return f"a program named {body.get('programName')!r} exists"
        if kind is ObjectType.RESOURCE:
            return f"ven {body.get('venID')!r} has a resource named {body.get('resourceName')!r}"
        if kind is ObjectType.VEN and inline and len({r.resource_name for r in inline}) < len(inline):
            return "the ven's resources repeat a resourceName"
        return f"a ven named {body.get('venName')!r} exists"

    async def _check_refs(self, obj: OpenAdrObject) -> None:
        get = self.store.store.get
        if (
            isinstance(obj, Event | Subscription | Report)
            and await self.store.run(get, ObjectType.PROGRAM.value, obj.program_id) is None
        ):
            raise BadRequest(f"programID: no program with id {obj.program_id!r}")
        if isinstance(obj, Report):
            event = await self.store.run(get, ObjectType.EVENT.value, obj.event_id)
            if event is None:
                raise BadRequest(f"eventID: no event with id {obj.event_id!r}")
            if event.program_id != obj.program_id:
                raise BadRequest(f"eventID: event {obj.event_id!r} belongs to program {event.program_id!r}")

    def _notify(self, kind: ObjectType, op: Operation, rec: Record) -> None:
        if self.notifier is not None:
            program = rec.id if kind is ObjectType.PROGRAM else rec.program_id
            self.notifier.publish(Change(kind.value, op.value, rec.body, program, rec.owner))

    async def deliveries(self, change: Change) -> list[Delivery]:
        """The notifications a change causes (see the module docstring)."""
        kind = ObjectType(change.kind)
        op = Operation(change.operation)
        subs = await self.store.run(
            self.store.store.find,
            ObjectType.SUBSCRIPTION.value,
            program_id=change.program_id if kind not in (ObjectType.VEN, ObjectType.RESOURCE) else None,
        )
        owner = change.owner if kind not in _PUBLIC else None
        note = Notification(
            object_type=kind,
            operation=_HTTP_OF[op],
            object=_parse(kind, change.body),
            targets=None,
        ).dump()
        if change.body.get("targets"):
            note["targets"] = change.body["targets"]
        out = []
        for sub in subs:
            if (
                owner is not None
                and self.roles.get(sub.owner, Role.VEN) is not Role.BL
                and sub.owner != owner
            ):
                continue
            if not _targets_meet(sub.body.get("targets"), change.body.get("targets")):
                continue
            for oo in sub.body.get("objectOperations", ()):
                if kind.value in oo.get("objects", ()) and op.value in oo.get("operations", ()):
                    out.append(Delivery(oo["callbackUrl"], oo.get("bearerToken"), note))
        return out


def _parse(kind: ObjectType, body: Mapping[str, Any]) -> OpenAdrObject:
    return OBJECT_CLASSES[kind].model_validate(body)
