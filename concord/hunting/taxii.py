"""A read-only TAXII 2.1 server under /taxii2/: discovery, one API root, a collection per agency (its hunts'
indicators as STIX 2.1), objects with pagination, and the manifest. Each collection is cut by the access rule
(sharing.py): a reader sees the collections it receives and no other, and a collection it does not receive answers
exactly as one that does not exist (404). Reads of another agency's collection are audited with the agreement."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from concord.access.deps import concord_app, current_subject, log_request_reads, purpose
from concord.bounds import BoundedRoute
from concord.errors import InvalidDocument, NotFound, Problem
from concord.hunting import sharing
from concord.hunting.models import Hunt
from concord.hunting.stix import NAMESPACE, objects_of

TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"
ROOT = "/taxii2/api/"
MAX_LIMIT = 500
router = APIRouter(prefix="/taxii2", tags=["taxii"], route_class=BoundedRoute)
_RESPONSES = {200: {"content": {TAXII: {}}}, 404: {"description": "no such collection, or not yours to read"}}


def _taxii(body: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body, media_type=TAXII, headers=headers)


KINDS = {"hunts": "hunt indicators", "incidents": "incidents", "notices": "risk information notices"}


def collection_id(agency: str, kind: str = "hunts") -> str:
    """Stable ids: a hunts collection keeps the id it had before incidents and notices had collections."""
    return str(uuid.uuid5(NAMESPACE, "collection/" + agency if kind == "hunts" else f"collection/{kind}/{agency}"))


def _collection(kind: str, agency: str, names: dict) -> dict:
    return {"id": collection_id(agency, kind), "title": f"{names.get(agency, agency)}: {KINDS[kind]}",
            "description": f"{agency}'s {KINDS[kind]}, as you may receive them", "can_read": True,
            "can_write": False, "media_types": [STIX]}


def _names(app, session) -> dict:
    return {code: a.name for code, a in app.directory.current(session).agencies.items()}


def _received(app, session, subject, why) -> dict:
    """collection id -> (kind, agency, TLP and decision for hunts): the collections the subject receives.

    Incidents' and notices' collections are listed for the agency's own and for providers whose agreements share
    that kind with the subject's agency; their objects are still each cut by the incidents' own rule."""
    agencies = app.directory.current(session).agencies
    out = {collection_id(a): ("hunts", a, got)
           for a, got in sharing.providers_for(session, subject, agencies, why, app.access).items()}
    if subject is None or subject.agency is None or subject.is_trader:
        return out
    now = app.access.now()
    for kind, resource in (("incidents", "incident"), ("notices", "notice")):
        for agency in sorted(agencies):
            # a notice is read for its own purpose (the reader states none); an incident for the stated one
            shared = agency == subject.agency or any(
                subject.agency in s.recipients and s.resource == resource and s.provider == agency
                and s.in_force(now) and (resource == "notice" or why in s.purposes)
                for s in app.access.book.scopes())
            if shared:
                out[collection_id(agency, kind)] = (kind, agency, None)
    return out


def _find(app, session, subject, why, cid: str):
    if (found := _received(app, session, subject, why).get(cid)) is not None:
        return found
    raise NotFound(f"collection {cid} not found")


@router.get("/", responses=_RESPONSES)
def discovery(subject=Depends(current_subject)):
    """TAXII 2.1 discovery: this hub's one API root."""
    return _taxii({"title": "Concord TAXII 2.1", "description": "hunt indicators, shared under the agreements",
                   "default": ROOT, "api_roots": [ROOT]})


@router.get("/api/", responses=_RESPONSES)
def api_root(subject=Depends(current_subject)):
    return _taxii({"title": "Concord", "versions": [TAXII], "max_content_length": 10 * 1024 * 1024})


@router.get("/api/collections/", responses=_RESPONSES)
def collections(why: str | None = Depends(purpose), subject=Depends(current_subject), app=Depends(concord_app)):
    """The collections the caller receives: its own agency's, and those agreements share with it for the purpose."""
    with app.sessions() as s:
        names = _names(app, s)
        return _taxii({"collections": [_collection(kind, a, names)
                                       for kind, a, _ in _received(app, s, subject, why).values()]})


@router.get("/api/collections/{collection}/", responses=_RESPONSES)
def collection(collection: str, why: str | None = Depends(purpose), subject=Depends(current_subject),
               app=Depends(concord_app)):
    with app.sessions() as s:
        kind, agency, _ = _find(app, s, subject, why, collection)
        return _taxii(_collection(kind, agency, _names(app, s)))


def _objects(request: Request, app, subject, why, cid: str, object_id: str | None = None,
             types: str | None = None, added_after: str | None = None) -> list[tuple[dict, str]]:
    """(STIX object, date added) of the collection, oldest first; its reads audited."""
    with app.sessions() as s:
        kind, agency, got = _find(app, s, subject, why, cid)
        if kind != "hunts":
            return _records(request, app, s, subject, why, kind, agency, object_id, types, added_after)
        level, decision = got
        hunts = s.scalars(select(Hunt).where(Hunt.agency == agency).order_by(Hunt.started_at, Hunt.id)).all()
        names = _names(app, s)
    if not hunts:
        return []
    objects = [o for o in objects_of([(h, level) for h in hunts], names)]
    added = {o["id"]: hunts[0].started_at for o in objects}
    for h, o in zip(hunts, objects[-len(hunts):]):
        added[o["id"]] = h.started_at
    out = [(_plain(o), _stamp(added[o["id"]])) for o in objects]
    if object_id:
        out = [x for x in out if x[0]["id"] == object_id]
    if types:
        wanted = set(types.split(","))
        out = [x for x in out if x[0]["type"] in wanted]
    if added_after:
        out = [x for x in out if x[1] > _stamp_of(added_after)]
    if decision.basis != "own-agency":
        reads = [(f"hunt/{h.id}", decision) for h in hunts if any(
            x[0]["id"].endswith(str(uuid.uuid5(NAMESPACE, h.id))) for x in out)]
        log_request_reads(request, subject, reads, why)
    return out


def _records(request, app, s, subject, why, kind, agency, object_id, types, added_after) -> list:
    """An incidents' or notices' collection: each record cut by the incidents lane's own queries."""
    from concord.hunting import exchange

    reads: list = []
    pairs = (exchange.incidents(s, subject, why, app.access, owner=agency, reads=reads) if kind == "incidents"
             else exchange.notices(s, subject, app.access, issuer=agency, reads=reads))
    out = sorted(((o, _stamp(at)) for o, at in exchange.plain(pairs)), key=lambda x: x[1])
    if object_id:
        out = [x for x in out if x[0]["id"] == object_id]
    if types:
        out = [x for x in out if x[0]["type"] in set(types.split(","))]
    if added_after:
        out = [x for x in out if x[1] > _stamp_of(added_after)]
    log_request_reads(request, subject, reads, why)
    return out


def _plain(o) -> dict:
    import json

    return json.loads(o.serialize())


def _stamp(at) -> str:
    from concord.clock import as_utc

    return as_utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stamp_of(text: str) -> str:
    from datetime import datetime

    try:
        return _stamp(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidDocument("bad added_after", [Problem("/added_after", "give a timestamp such as "
                                                                          "2026-01-05T08:00:00.000Z")]) from None


def _page(items: list, limit: int, next_: str | None) -> tuple[list, bool, str | None]:
    start = 0
    if next_:
        if not next_.isdigit() or int(next_) > len(items):
            raise InvalidDocument("bad next", [Problem("/next", "give the `next` of the previous page")])
        start = int(next_)
    page = items[start:start + limit]
    more = start + limit < len(items)
    return page, more, str(start + limit) if more else None


def _dated(page: list) -> dict:
    if not page:
        return {}
    return {"X-TAXII-Date-Added-First": page[0][1], "X-TAXII-Date-Added-Last": page[-1][1]}


@router.get("/api/collections/{collection}/objects/", responses=_RESPONSES)
def objects(collection: str, request: Request, limit: int = Query(100, ge=1, le=MAX_LIMIT),
            next_: str | None = Query(None, alias="next", max_length=20),
            added_after: str | None = Query(None, max_length=40),
            match_type: str | None = Query(None, alias="match[type]", max_length=200),
            match_id: str | None = Query(None, alias="match[id]", max_length=200),
            why: str | None = Depends(purpose), subject=Depends(current_subject), app=Depends(concord_app)):
    """The collection's STIX objects, oldest first, `limit` at a time (`next` for the following page)."""
    items = _objects(request, app, subject, why, collection, match_id, match_type, added_after)
    page, more, token = _page(items, limit, next_)
    body = {"more": more, "objects": [o for o, _ in page]}
    if token:
        body["next"] = token
    return _taxii(body, _dated(page))


@router.get("/api/collections/{collection}/objects/{object_id}/", responses=_RESPONSES)
def one_object(collection: str, object_id: str, request: Request, why: str | None = Depends(purpose),
               subject=Depends(current_subject), app=Depends(concord_app)):
    items = _objects(request, app, subject, why, collection, object_id)
    if not items:
        raise NotFound(f"object {object_id} not found")
    return _taxii({"more": False, "objects": [o for o, _ in items]}, _dated(items))


@router.get("/api/collections/{collection}/manifest/", responses=_RESPONSES)
def manifest(collection: str, request: Request, limit: int = Query(100, ge=1, le=MAX_LIMIT),
             next_: str | None = Query(None, alias="next", max_length=20),
             why: str | None = Depends(purpose), subject=Depends(current_subject), app=Depends(concord_app)):
    items = _objects(request, app, subject, why, collection)
    page, more, token = _page(items, limit, next_)
    body = {"more": more, "objects": [{"id": o["id"], "date_added": at, "version": o.get("modified", at),
                                       "media_type": STIX} for o, at in page]}
    if token:
        body["next"] = token
    return _taxii(body, _dated(page))
