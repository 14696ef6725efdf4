"""TRS routes: the figures of a period and one declaration's milestones, each cut by the access rule; the exit."""

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from concord.access.deps import concord_app, current_subject, purpose
from concord.bodies import StrictBody
from concord.bounds import BoundedRoute, Timestamp
from concord.errors import InvalidDocument, Problem
from concord.trs import queries
from concord.trs.messages import RecordExit

router = APIRouter(prefix="/api/v1", tags=["time release"], route_class=BoundedRoute)


class ExitIn(StrictBody):
    gate: str | None = Field(None, max_length=35, description="the gate or terminal the goods left by")


def _aware(value, name: str):
    if value.tzinfo is None:
        raise InvalidDocument("give the time zone", [Problem(f"/{name}", "e.g. 2026-11-02T00:00:00+00:00")])
    return value


@router.get("/trs/report")
def trs_report(start: Timestamp = Query(..., alias="from", description="first arrival time (ISO 8601, with zone)"),
               end: Timestamp = Query(..., alias="to", description="end of the period, excluded"),
               why: str | None = Depends(purpose), subject=Depends(current_subject), app=Depends(concord_app)):
    """Time release figures over the declarations the caller may see: arrival to release (median, 90th
    percentile, distribution) per lane, office, mode, HS chapter and week; who holds the goods; the share released
    on arrival; per agency decision times and SLA breaches (a partner agency sees its own, the others merged)."""
    start, end = _aware(start, "from"), _aware(end, "to")
    with app.sessions() as s:
        return queries.trs_report(s, subject, start, end, as_of=app.clock.now(), purpose=why, access=app.access)


@router.get("/trs/declarations/{declaration_id}")
def declaration_milestones(declaration_id: str = Path(max_length=32), why: str | None = Depends(purpose),
                           subject=Depends(current_subject), app=Depends(concord_app)):
    """One declaration's milestones and who held the goods in each interval."""
    with app.sessions() as s:
        return queries.declaration_milestones(s, subject, declaration_id, purpose=why, access=app.access)


@router.post("/declarations/{declaration_id}/exit")
def record_exit(body: ExitIn | None = None, declaration_id: str = Path(max_length=32),
                subject=Depends(current_subject), app=Depends(concord_app)):
    """Customs records that released goods left the customs area (the TRS study's last milestone)."""
    return app.bus.handle(RecordExit(declaration_id=declaration_id, gate=body.gate if body else None),
                          subject=subject)
