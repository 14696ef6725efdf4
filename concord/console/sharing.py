"""Liaison screens beyond signing: access requests to answer and break-glass openings to review, the access report
with filters and its CSV export, and what changed between two versions of an agreement.

Each read is the API route's own function (concord.agreements.api), called with the signed-in subject, so the
console shows exactly the rows the API gives that subject; decisions go through the bus (DecideAccessRequest)."""

from __future__ import annotations

import difflib
import json
import re
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from concord.agreements import api as agreements_api
from concord.agreements.messages import DecideAccessRequest
from concord.console.forms import problems_of_validation
from concord.console.web import form, redirect, render, signed_in, tr
from concord.errors import ConcordError, Forbidden, InvalidDocument, NotFound, Problem

router = APIRouter(prefix="/console", include_in_schema=False)
REPORT_ROWS = 200  # rows shown in the page; the CSV export carries up to the API's limit
EXPORT_ROWS = 100_000
SAME_IN_EVERY_VERSION = ("id", "version", "status", "status_reason", "signatures", "awaiting")


# -- access requests and break-glass --

def _agency(request, signed) -> None:
    if signed.subject.agency is None or signed.subject.is_trader:
        raise Forbidden(tr(request, "Access requests are between agencies."))


def _grants_page(request: Request, signed, status: int = 200, **extra):
    _agency(request, signed)
    rows = agreements_api.list_requests(status=None, subject=signed.subject, app=request.app.state.concord)
    mine = signed.subject.agency
    return render(request, "access_requests.html", signed, status=status,
                  to_answer=[g for g in rows if g["kind"] == "request" and g["provider"] == mine],
                  asked=[g for g in rows if g["kind"] == "request" and g["requester_agency"] == mine],
                  break_glass=[g for g in rows if g["kind"] == "break_glass"],
                  may_decide=signed.subject.has("liaison"), values=extra.pop("values", {}),
                  errors=extra.pop("errors", {}), **extra)


@router.get("/access-requests")
def access_requests(request: Request, signed=Depends(signed_in)):
    """Requests to the agency to answer, its own requests, and break-glass openings of or by the agency."""
    return _grants_page(request, signed, done=request.query_params.get("done"))


@router.post("/access-requests/{request_id}/decision")
async def decide(request_id: str, request: Request, signed=Depends(signed_in)):
    fields = await form(request, signed)
    app = request.app.state.concord
    try:
        body = agreements_api.AccessDecisionIn.model_validate({
            "grant": fields.get("grant") == "yes", "reason": fields.get("reason", "").strip(),
            "hours": fields.get("hours") or 72})
        await run_in_threadpool(app.bus.handle, DecideAccessRequest(
            request_id=request_id[:32], grant=body.grant, reason=body.reason, hours=body.hours),
            subject=signed.subject)
    except (ValidationError, ConcordError) as e:
        if isinstance(e, ConcordError) and e.status == 404:
            raise
        errors = problems_of_validation(e) if isinstance(e, ValidationError) else (
            {p.pointer: p.message for p in e.problems} or {"": e.message})
        return _grants_page(request, signed, status=422 if isinstance(e, ValidationError) else e.status,
                            values=fields | {"request_id": request_id}, errors=errors)
    return redirect("/console/access-requests?done=decided")


# -- the access report --

def _day(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value[:10]).replace(tzinfo=timezone.utc)
    except ValueError:
        raise InvalidDocument("a date is not one", [Problem(f"/{field}", "a date, e.g. 2026-01-31")]) from None


def _report(request: Request, signed, agency: str, since: str, until: str, limit: int, fmt: str):
    subject = signed.subject
    if not subject.has("liaison", "auditor"):  # the API's rule, said before the filters are read
        raise Forbidden(tr(request, "Access reports are for an agency's liaison officer and for auditors."))
    agency = (agency or subject.agency or "").upper()[:16]
    if not re.fullmatch(r"[A-Z][A-Z0-9_]{1,15}", agency):
        raise InvalidDocument("name an agency", [Problem("/agency", "an agency code, e.g. NPPO")])
    return agency, agreements_api.access_report(
        agency=agency, since=_day(since, "since"), until=_day(until, "until"), format=fmt, limit=limit,
        subject=subject, app=request.app.state.concord)


@router.get("/access-report")
def access_report(request: Request, agency: str = Query("", max_length=16), since: str = Query("", max_length=10),
                  until: str = Query("", max_length=10), action: str = Query("", max_length=40),
                  signed=Depends(signed_in)):
    """Who read or asked for the agency's data: the API's report (liaison: own agency; auditors: any)."""
    code, report = _report(request, signed, agency, since, until, EXPORT_ROWS, "json")
    entries = [e for e in report["entries"] if not action or (e["action"] or "").startswith(action)]
    query = {"agency": code, "since": since, "until": until}
    return render(request, "access_report.html", signed, agency=code, since=since, until=until, action=action,
                  entries=entries[-REPORT_ROWS:][::-1], total=len(entries), shown=REPORT_ROWS,
                  export="&".join(f"{k}={v}" for k, v in query.items() if v))


@router.get("/access-report.csv")
def access_report_csv(request: Request, agency: str = Query("", max_length=16), since: str = Query("", max_length=10),
                      until: str = Query("", max_length=10), signed=Depends(signed_in)):
    """The same rows as CSV: the API's own export."""
    _, response = _report(request, signed, agency, since, until, EXPORT_ROWS, "csv")
    response.headers["Cache-Control"] = "no-store"
    return response


# -- what changed between versions of an agreement --

def _text(version: dict) -> list[str]:
    shown = {k: v for k, v in version.items() if k not in SAME_IN_EVERY_VERSION}
    return json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


@router.get("/agreements/{key}/diff")
def diff(key: str, request: Request, a: int = Query(0, ge=0, le=10_000), b: int = Query(0, ge=0, le=10_000),
         signed=Depends(signed_in)):
    """Two versions of an agreement the agency is party to (the API's list), line by line."""
    from concord.console.liaison import _liaison

    _liaison(request, signed)
    rows = agreements_api.list_agreements(status=None, subject=signed.subject, app=request.app.state.concord)
    versions = {r["version"]: r for r in rows if r["key"] == key[:64]}
    if not versions:
        raise NotFound(f"agreement {key[:64]} not found")
    newest = max(versions)
    b = b if b in versions else newest
    a = a if a in versions else max((v for v in versions if v < b), default=b)
    lines = list(difflib.unified_diff(_text(versions[a]), _text(versions[b]), f"v{a}", f"v{b}", lineterm="", n=2))
    return render(request, "agreement_diff.html", signed, key=key[:64], a=versions[a], b=versions[b],
                  versions=sorted(versions), lines=lines[2:], done=request.query_params.get("done"))
