"""Declaration routes: parse, build a command, hand it to the bus, return what the caller may see."""

from datetime import date
from typing import Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from concord.access.deps import audited_read, concord_app, current_subject, purpose
from concord.declarations import queries
from concord.declarations.grouping import lodge_batch
from concord.declarations.messages import AmendDeclaration, CancelDeclaration, RecordArrival
from concord.declarations.schemas import DeclarationIn, declaration_document
from concord.bounds import MAX_OFFSET, MAX_PAGE, NO_NUL, BoundedRoute, query_problems, read_body
from concord.errors import InvalidDocument, Problem

router = APIRouter(prefix="/api/v1/declarations", tags=["declarations"], route_class=BoundedRoute)
STATUSES = Literal["accepted", "under_control", "documents_requested", "cleared", "released", "refused", "cancelled"]
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {
    "type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[!-~]+$"}}  # as stored: 100 visible ASCII


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=2000, pattern=NO_NUL)


class ArrivalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    location: str | None = Field(None, max_length=70, pattern=NO_NUL, description="where the goods are presented")


def idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header, refused (422) unless it is 1 to 100 visible ASCII characters."""
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= 100 and key.isascii() and key.isprintable() and " " not in key):
        raise InvalidDocument("the Idempotency-Key header is not usable; nothing was stored", [Problem(
            "", "header Idempotency-Key: send 1 to 100 visible ASCII characters (letters, digits, punctuation)")])
    return key


def _names(app, session) -> dict:
    return {code: a.name for code, a in app.directory.current(session).agencies.items()}


DECLARATION_MAX_BYTES = 4 << 20  # a declaration of 999 items, each with its documents, is well under this
UPLOAD_MAX_BYTES = 64 << 20  # an upload of up to 1,000 declarations (MAX_BATCH)


async def _upload_body(request: Request) -> bytes:
    return await read_body(request, UPLOAD_MAX_BYTES, "upload")


# The body is read as bytes and validated straight from JSON (pydantic-core, no intermediate dicts); the
# schema is still the documented one: DeclarationIn, which the amendment route registers in the components.
_DECLARATION_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/DeclarationIn"}}}}}


@router.post("", status_code=201, openapi_extra=_DECLARATION_BODY | {"parameters": [IDEMPOTENCY_KEY]},
             responses={200: {"description": "a replay: the declaration lodged first under this key or LRN"}})
async def submit(request: Request):
    """Lodge a declaration; the same Idempotency-Key or LRN returns the first declaration (200).

    The hot path of the API: it takes the request whole and returns a Response, so that it can also be served
    as a plain Starlette route (FAST_ROUTES), which skips FastAPI's per-request machinery. It runs on the event
    loop, not in the thread pool: the work is a fraction of a millisecond of CPU under the write lock, and a
    thread would only add GIL hand-offs. Lodgings are committed in groups (LodgingQueue: group commit); each
    still succeeds or fails on its own."""
    subject = await current_subject(request)
    if request.scope.get("query_string") and (problems := query_problems(request, set())):  # FastLane: no
        # BoundedRoute in front of this route, so it checks its own query
        raise InvalidDocument("the request has faults; nothing was stored", problems)
    key = idempotency_key(request)
    document = declaration_document(await read_body(request, DECLARATION_MAX_BYTES, "declaration"))
    app = request.app.state.concord
    result = await app.lodging_queue.lodge(subject, document, key)
    return Response(orjson.dumps(result), status_code=200 if result["replayed"] else 201, media_type="application/json",
                    headers={"Location": f"/api/v1/declarations/{result['id']}"})


# create_app() serves these in front of the middleware stack (FastLane); the FastAPI route above stays for the
# OpenAPI document. Measured: FastAPI's per-request machinery and the middlewares cost a fifth of a millisecond.
FAST_ROUTES = {("POST", router.prefix): submit}


@router.post("/batch", openapi_extra={"requestBody": {"required": True, "content": {"application/x-ndjson": {
    "schema": {"type": "string", "description": "one declaration (DeclarationIn) per line, at most 1,000"}}}},
    "x-max-body-bytes": UPLOAD_MAX_BYTES})
def submit_batch(body: bytes = Depends(_upload_body), subject=Depends(current_subject), app=Depends(concord_app)):
    """Lodge up to 1,000 declarations in one upload (NDJSON, one per line), as a broker's system sends them.

    Each line succeeds or fails on its own and the answer says so line by line: the declaration lodged (or
    the earlier one its LRN repeats), or the faults of that line with JSON pointers into it. Runs in the
    thread pool, in transactions of 100, so a large upload does not hold up single lodgings for long."""
    return lodge_batch(app.bus, subject, body)


@router.get("")
def list_(request: Request, status: STATUSES | None = None, limit: int = Query(50, ge=1, le=MAX_PAGE),
          offset: int = Query(0, ge=0, le=MAX_OFFSET),
          lodged_from: date | None = Query(None, description="lodged on this UTC day or later"),
          lodged_to: date | None = Query(None, description="lodged on this UTC day or earlier"),
          why: str | None = Depends(purpose), subject=Depends(current_subject), app=Depends(concord_app)):
    """Declarations the caller may see (agencies: engaged ones, and those an agreement shares for the purpose)."""
    return audited_read(request, subject, why, lambda s, reads: queries.list_declarations(
        s, subject, status=status, limit=limit, offset=offset, purpose=why, reads=reads, access=app.access,
        lodged_from=lodged_from, lodged_to=lodged_to))


@router.get("/export", response_class=StreamingResponse,
            responses={200: {"content": {"application/x-ndjson": {}}}})
def export(request: Request, why: str | None = Depends(purpose), subject=Depends(current_subject),
           app=Depends(concord_app)):
    """Every declaration the caller may see, one JSON object per line, each cut to the caller's view."""
    lines = audited_read(request, subject, why, lambda s, reads: [
        orjson.dumps(row) + b"\n"
        for row in queries.export_declarations(s, subject, purpose=why, reads=reads, access=app.access)])
    return StreamingResponse(iter(lines), media_type="application/x-ndjson")


@router.get("/{declaration_id}")
def get(declaration_id: str, request: Request, why: str | None = Depends(purpose), subject=Depends(current_subject),
        app=Depends(concord_app)):
    return audited_read(request, subject, why, lambda s, reads: queries.get_declaration(
        s, subject, declaration_id, _names(app, s), why, reads, access=app.access))


@router.get("/{declaration_id}/timeline")
def timeline(declaration_id: str, request: Request, why: str | None = Depends(purpose),
             subject=Depends(current_subject), app=Depends(concord_app)):
    events = audited_read(request, subject, why, lambda s, reads: queries.timeline(
        s, subject, declaration_id, why, reads, access=app.access))
    return {"declaration_id": declaration_id, "events": events}


@router.get("/{declaration_id}/explanation")
def explanation(declaration_id: str, request: Request, why: str | None = Depends(purpose),
                subject=Depends(current_subject), app=Depends(concord_app)):
    """Why the learned model scored the declaration as it did: the features that pushed its riskiest item's score
    most. A declaration selected for control carries them in its risk reasons; a green one, here, on request."""
    return audited_read(request, subject, why, lambda s, reads: queries.explanation(
        s, subject, declaration_id, why, reads, access=app.access, models=app.risk.models))


@router.get("/{declaration_id}/versions")
def versions(declaration_id: str, request: Request, why: str | None = Depends(purpose),
             subject=Depends(current_subject), app=Depends(concord_app)):
    """The declaration's versions, oldest first: an amendment never overwrites what was declared."""
    out = audited_read(request, subject, why, lambda s, reads: queries.versions(
        s, subject, declaration_id, why, reads, access=app.access))
    return {"declaration_id": declaration_id, "versions": out}


@router.put("/{declaration_id}")
def amend(declaration_id: str, body: DeclarationIn, subject=Depends(current_subject), app=Depends(concord_app)):
    """Amend: a new version of the whole declaration; risk and routing run again."""
    return app.bus.handle(AmendDeclaration(declaration_id=declaration_id, document=body.model_dump(mode="json")),
                          subject=subject)


@router.post("/{declaration_id}/cancel")
def cancel(declaration_id: str, body: CancelIn, subject=Depends(current_subject), app=Depends(concord_app)):
    return app.bus.handle(CancelDeclaration(declaration_id=declaration_id, reason=body.reason), subject=subject)


@router.post("/{declaration_id}/arrival")
def arrival(declaration_id: str, body: ArrivalIn | None = None, subject=Depends(current_subject),
            app=Depends(concord_app)):
    """Customs or the terminal records that the goods are presented."""
    location = body.location if body else None
    return app.bus.handle(RecordArrival(declaration_id=declaration_id, location=location), subject=subject)
