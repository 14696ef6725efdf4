"""Supervisor screen: the agency's workload per officer, its open tasks with a form to give each to an officer
(the API's AssignTask), overdue tasks (SLA breaches) and decisions per officer over the last week."""

from datetime import timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from concord.clearance.messages import AssignTask
from concord.clearance.queries import UNASSIGNED, agency_officers, decisions_per_officer, task_queue, workload
from concord.console.officer import countdown
from concord.console.web import N_, PAGE, form, redirect, render, signed_in, tr
from concord.errors import ConcordError, Forbidden, InvalidDocument, Problem

router = APIRouter(prefix="/console", include_in_schema=False)
WEEK = timedelta(days=7)


def _supervisor(request: Request, signed) -> None:
    if signed.subject.agency is None or not signed.subject.has("supervisor"):
        raise Forbidden(tr(request, "This screen is for an agency's supervisors."))


def _screen(request: Request, signed, officer: str, page: int, status: int = 200, errors: dict | None = None,
            chosen: dict | None = None):
    app, subject = request.app.state.concord, signed.subject
    now = app.clock.now()
    with app.sessions() as s:
        overdue = task_queue(s, subject, now, status="open", overdue=True, limit=PAGE, access=app.access)
        open_total = task_queue(s, subject, now, status="open", limit=1, access=app.access)["total"]
        tasks = task_queue(s, subject, now, status="open", assignee=officer or None, limit=PAGE,
                           offset=(page - 1) * PAGE, access=app.access)
        load = workload(s, subject, now, access=app.access)
        officers = agency_officers(s, subject, access=app.access)
        decided = decisions_per_officer(s, subject, now - WEEK, access=app.access)
    for item in overdue["items"] + tasks["items"]:
        item["left"], item["late"] = countdown(item["due_at"], now)
    return render(request, "supervisor.html", signed, status=status, overdue=overdue, open_total=open_total,
                  officers=decided, tasks=tasks, load=load, staff=officers, who={o["id"]: o["name"] for o in officers}, officer=officer, unassigned=UNASSIGNED,
                  page=page, pages=max(1, -(-tasks["total"] // PAGE)), errors=errors or {}, chosen=chosen or {},
                  done=request.query_params.get("done", "")[:32])


@router.get("/supervisor")
def supervisor(request: Request, officer: str = Query("", max_length=64), page: int = Query(1, ge=1, le=10_000),
               signed=Depends(signed_in)):
    """The workload per officer and the open tasks (all, one officer's, or the unassigned), each reassignable."""
    _supervisor(request, signed)
    return _screen(request, signed, officer, page)


@router.post("/tasks/{task_id}/assignment")
async def reassign(task_id: str, request: Request, signed=Depends(signed_in)):
    """Give an open task to an officer of the agency: the API's AssignTask, refused at the field when it cannot."""
    fields = await form(request, signed)
    app, tid = request.app.state.concord, task_id[:32]
    officer = fields.get("officer", "").strip()[:64]
    back = fields.get("filter", "").strip()[:64]
    try:
        if not officer:
            choose = tr(request, "Choose the officer.")
            raise InvalidDocument(choose, [Problem("/officer", choose)])
        await run_in_threadpool(app.bus.handle, AssignTask(task_id=tid, officer=officer), subject=signed.subject)
    except ConcordError as e:
        if e.status in (403, 404):  # not the caller's task, or not a supervisor: the API's refusal, as a page
            raise
        _supervisor(request, signed)
        message = "; ".join(p.message for p in getattr(e, "problems", [])) or e.message
        return _screen(request, signed, back, 1, status=e.status, errors={tid: message}, chosen={tid: officer})
    return redirect("/console/supervisor?" + urlencode({"officer": back, "done": tid} if back else {"done": tid}))


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


@router.get("/supervisor/lanes")
def lanes(request: Request, weeks: int = Query(8, ge=1, le=53), signed=Depends(signed_in)):
    """Lanes and the hit rate of the agency's inspections per week: the API's own query (`GET /api/v1/risk/lanes`),
    drawn as bars beside the table that carries the figures."""
    from concord.risk.queries import lanes_by_week

    app, subject = request.app.state.concord, signed.subject
    _supervisor(request, signed)
    if not subject.lead:
        raise Forbidden(tr(request, "Lanes are customs' risk results: this screen is for customs' supervisors."))
    with app.sessions() as s:
        rows = lanes_by_week(s, subject, app.clock.now(), weeks)
    return render(request, "lanes.html", signed, rows=rows, weeks=weeks,
                  most=max([r["declarations"] for r in rows] + [1]))
