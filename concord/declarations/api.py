"""Declaration routes: parse, build a command, hand it to the bus, return what the caller may see."""

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from concord.access.deps import audited_read, concord_app, current_subject, purpose
from concord.declarations import queries
from concord.declarations.grouping import lodge_batch
from concord.declarations.messages import AmendDeclaration, CancelDeclaration, RecordArrival
from concord.declarations.schemas import DeclarationIn, declaration_document
from concord.errors import InvalidDocument, Problem, TooLarge

router = APIRouter(prefix="/api/v1/declarations", tags=["declarations"])


def _names(app, session) -> dict:
    return {code: a.name for code, a in app.directory.current(session).agencies.items()}


DECLARATION_MAX_BYTES = 4 << 20  # a declaration of 999 items, each with its documents, is well under this
UPLOAD_MAX_BYTES = 64 << 20  # an upload of up to 1,000 declarations (MAX_BATCH)


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused (413) past `limit` bytes: by its Content-Length, or as it streams in, so an
    oversized body is never held in memory whole."""
    too_large = TooLarge(f"the {what} is over {limit:,} bytes; nothing was stored", [Problem(
        "", f"send at most {limit:,} bytes" + ("; split the file" if what == "upload" else ""))])
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _upload_body(request: Request) -> bytes:
    return await read_body(request, UPLOAD_MAX_BYTES, "upload")


# The body is read as bytes and validated straight from JSON (pydantic-core, no intermediate dicts); the
# schema is still the documented one: DeclarationIn, which the amendment route registers in the components.
_DECLARATION_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/DeclarationIn"}}}}}


@router.post("", status_code=201, openapi_extra=_DECLARATION_BODY | {"parameters": [
    {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}]})
async def submit(request: Request):
    """Lodge a declaration; the same Idempotency-Key or LRN returns the first declaration (200).

    The hot path of the API: it takes the request whole and returns a Response, so that it can also be served
    as a plain Starlette route (FAST_ROUTES), which skips FastAPI's per-request machinery. It runs on the event
    loop, not in the thread pool: the work is a fraction of a millisecond of CPU under the write lock, and a
    thread would only add GIL hand-offs. Lodgings are committed in groups (LodgingQueue: group commit); each
    still succeeds or fails on its own."""
    subject = await current_subject(request)
    document = declaration_document(await read_body(request, DECLARATION_MAX_BYTES, "declaration"))
    app = request.app.state.concord
    result = await app.lodging_queue.lodge(subject, document, request.headers.get("idempotency-key"))
    return Response(orjson.dumps(result), status_code=200 if result["replayed"] else 201, media_type="application/json",
                    headers={"Location": f"/api/v1/declarations/{result['id']}"})


# create_app() serves these in front of the middleware stack (FastLane); the FastAPI route above stays for the
# OpenAPI document. Measured: FastAPI's per-request machinery and the middlewares cost a fifth of a millisecond.
FAST_ROUTES = {("POST", router.prefix): submit}


@router.post("/batch", openapi_extra={"requestBody": {"required": True, "content": {"application/x-ndjson": {
    "schema": {"type": "string", "description": "one declaration (DeclarationIn) per line, at most 1,000"}}}}})
def submit_batch(body: bytes = Depends(_upload_body), subject=Depends(current_subject), app=Depends(concord_app)):
    """Lodge up to 1,000 declarations in one upload (NDJSON, one per line), as a broker's system sends them.

    Each line succeeds or fails on its own and the answer says so line by line: the declaration lodged (or
    the earlier one its LRN repeats), or the faults of that line with JSON pointers into it. Runs in the
    thread pool, in transactions of 100, so a large upload does not hold up single lodgings for long."""
    return lodge_batch(app.bus, subject, body)


@router.get("")
def list_(request: Request, status: str | None = None, limit: int = Query(50), offset: int = Query(0, ge=0),
          why: str | None = Depends(purpose), subject=Depends(current_subject), app=Depends(concord_app)):
    """Declarations the caller may see (agencies: engaged ones, and those an agreement shares for the purpose)."""
    return audited_read(request, subject, why, lambda s, reads: queries.list_declarations(
        s, subject, status=status, limit=limit, offset=offset, purpose=why, reads=reads, access=app.access))


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
def cancel(declaration_id: str, body: dict, subject=Depends(current_subject), app=Depends(concord_app)):
    reason = str(body.get("reason") or "").strip()
    if not reason:
        raise InvalidDocument("say why the declaration is cancelled", [Problem("/reason", "give a reason")])
    return app.bus.handle(CancelDeclaration(declaration_id=declaration_id, reason=reason), subject=subject)


@router.post("/{declaration_id}/arrival")
def arrival(declaration_id: str, body: dict | None = None, subject=Depends(current_subject), app=Depends(concord_app)):
    """Customs or the terminal records that the goods are presented."""
    location = (body or {}).get("location")
    return app.bus.handle(RecordArrival(declaration_id=declaration_id, location=location), subject=subject)
