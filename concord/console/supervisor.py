"""Supervisor screen: the agency's overdue tasks (SLA breaches) and decisions per officer over the last week."""

from datetime import timedelta

from fastapi import APIRouter, Depends, Request

from concord.clearance.queries import decisions_per_officer, task_queue
from concord.console.officer import countdown
from concord.console.web import N_, PAGE, render, signed_in, tr
from concord.errors import Forbidden, InvalidDocument, Problem

router = APIRouter(prefix="/console", include_in_schema=False)
WEEK = timedelta(days=7)


@router.get("/supervisor")
def supervisor(request: Request, signed=Depends(signed_in)):
    app, subject = request.app.state.concord, signed.subject
    if subject.agency is None or not subject.has("supervisor"):
        raise Forbidden(tr(request, "This screen is for an agency's supervisors."))
    now = app.clock.now()
    with app.sessions() as s:
        overdue = task_queue(s, subject, now, status="open", overdue=True, limit=PAGE, access=app.access)
        open_total = task_queue(s, subject, now, status="open", limit=1, access=app.access)["total"]
        officers = decisions_per_officer(s, subject, now - WEEK, access=app.access)
    for item in overdue["items"]:
        item["left"], item["late"] = countdown(item["due_at"], now)
    return render(request, "supervisor.html", signed, overdue=overdue, open_total=open_total, officers=officers)


TRS_DAYS = 30  # the period a supervisor sees first: the last month of arrivals
DIMENSIONS = (("lane", N_("Lane")), ("office", N_("Office")), ("mode", N_("Mode")), ("hs_chapter", N_("HS chapter")),
              ("week", N_("Week")))


@router.get("/supervisor/trs")
def time_release(request: Request, signed=Depends(signed_in)):
    """The time release figures (TRS) of a period, from the API's own query: what the agency may see, cut alike."""
    from datetime import datetime, time, timezone

    from concord.trs.queries import trs_report

    app, subject = request.app.state.concord, signed.subject
    if subject.agency is None or not subject.has("supervisor"):
        raise Forbidden(tr(request, "This screen is for an agency's supervisors."))
    now = app.clock.now()
    day = lambda name, default: _date(request, name, default)  # noqa: E731
    end = day("to", now.date() + timedelta(days=1))
    start = day("from", end - timedelta(days=TRS_DAYS))
    if end <= start:
        raise InvalidDocument(tr(request, "'to' must be after 'from'."), [Problem("/to", "a later day")])
    at = lambda d: datetime.combine(d, time(0), tzinfo=timezone.utc)  # noqa: E731
    with app.sessions() as s:
        rep = trs_report(s, subject, at(start), at(end), as_of=now, access=app.access)
    return render(request, "trs.html", signed, rep=rep, start=start, end=end, dimensions=DIMENSIONS,
                  scale=_scale(rep))


def _date(request: Request, name: str, default):
    from datetime import date

    given = request.query_params.get(name)
    if not given:
        return default
    try:
        return date.fromisoformat(given[:10])
    except ValueError:
        raise InvalidDocument(tr(request, "Give the day as YYYY-MM-DD."), [Problem(f"/{name}", given[:40])]) from None


def _scale(rep: dict) -> float:
    """The longest 90th percentile on the page: every bar is drawn against it, so bars compare across tables."""
    values = [(rep.get("arrival_to_release_hours") or {}).get("p90")]
    for groups in (rep.get("by") or {}).values():
        values += [g.get("p90") for g in groups.values()]
    values += [(a.get("decision_hours") or {}).get("p90") for a in (rep.get("agencies") or {}).values()]
    return max([v for v in values if isinstance(v, (int, float))] + [1.0])
