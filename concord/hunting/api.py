"""Hunt routes: start a hunt, list the agency's hunts, read a hunt's report, export hunts as a STIX bundle."""

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from concord.access.deps import audited_read, concord_app, current_subject, purpose
from concord.bounds import MAX_OFFSET, MAX_PAGE, BoundedRoute
from concord.errors import Forbidden
from concord.hunting import queries
from concord.hunting.messages import StartHunt
from concord.hunting.schemas import HuntIn

router = APIRouter(prefix="/api/v1/hunts", tags=["hunting"], route_class=BoundedRoute)
STIX = "application/stix+json;version=2.1"


@router.post("", status_code=201, responses={403: {"description": "not an officer of an agency"}})
def start(body: HuntIn, request: Request, subject=Depends(current_subject), app=Depends(concord_app)):
    """Start a hunt for your agency: pending matches are held, recent ones reported to you, new ones met until
    `valid_until`. Answers the hunt and its report as you may see it."""
    if subject.agency is None:
        raise Forbidden("hunts are started by agency officers")
    data = body.model_dump(mode="json")
    started = app.bus.handle(StartHunt(agency=subject.agency, **data), subject=subject,
                             request_id=request.state.request_id)
    report = audited_read(request, subject, body.purpose, lambda s, reads: queries.hunt_report(
        s, subject, started["id"], purpose=body.purpose, reads=reads, access=app.access))
    return started | {"report": report}


@router.get("")
def list_(subject=Depends(current_subject), app=Depends(concord_app)):
    """Your agency's hunts, newest first (the lead agency: every agency's)."""
    with app.sessions() as s:
        return {"items": queries.hunts_of(s, subject)}


@router.get("/export", response_class=JSONResponse, responses={200: {"content": {STIX: {}}}})
def export(request: Request, why: str | None = Depends(purpose), subject=Depends(current_subject),
           app=Depends(concord_app)):
    """The hunts you receive (your agency's, and others' under an agreement) as one STIX 2.1 bundle, TLP-marked."""
    from concord.hunting.stix_io import export_bundle

    with app.sessions() as s:
        reads: list = []
        bundle = export_bundle(s, subject, why, app, reads)
    from concord.access.deps import log_request_reads

    log_request_reads(request, subject, reads, why)
    return JSONResponse(bundle, media_type=STIX)


@router.get("/{hunt_id}/report")
def report(hunt_id: str, request: Request, limit: int = Query(100, ge=1, le=MAX_PAGE),
           offset: int = Query(0, ge=0, le=MAX_OFFSET), why: str | None = Depends(purpose),
           subject=Depends(current_subject), app=Depends(concord_app)):
    """The declarations the hunt matched, as you may read them: held ones and those lodged in its look-back."""
    return audited_read(request, subject, why, lambda s, reads: queries.hunt_report(
        s, subject, hunt_id, purpose=why, limit=limit, offset=offset, reads=reads, access=app.access))
