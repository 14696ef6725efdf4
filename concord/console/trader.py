"""Declarations: the list and search (traders: their own; agencies: their view), one declaration's status, pending
steps and timeline with live updates, and the lodging form whose faults appear at the field."""

import secrets

import orjson
from fastapi import APIRouter, Depends, Query, Request

from concord.access.deps import audited_read
from concord.console.forms import (MAX_ITEM_ROWS, at_fields, document_of, input_id, item_rows, lodging_fields,
                                  lodging_form, renumber, with_rows)
from concord.console.officer import names
from concord.console.web import PAGE, tr, redirect, render, signed_in
from concord.declarations import queries, search
from concord.declarations.schemas import declaration_document
from concord.errors import ConcordError, Forbidden, InvalidDocument, Problem

router = APIRouter(prefix="/console", include_in_schema=False)
STATUSES = ("accepted", "under_control", "documents_requested", "cleared", "released", "refused", "cancelled")
COUNT_CAP = 1000  # the list counts this many at most, then "more than 1,000" (plant health's 34,753: 0.25 s a page)
POLL_SECONDS = 20  # the live part refreshes on the stream's events (console/live.py); this slow poll is a fallback


@router.get("/declarations")
def declarations(request: Request, q: str = Query("", max_length=70), status: str = Query("", max_length=24),
                 lodged_from: str = Query("", max_length=10), lodged_to: str = Query("", max_length=10),
                 page: int = Query(1, ge=1, le=10_000), signed=Depends(signed_in)):
    """The declarations the subject may see (the API's list, through authorize), or a search within that view; both
    within the days of lodging given."""
    app, subject = request.app.state.concord, signed.subject
    status = status if status in STATUSES else None
    days = {"lodged_from": _day(request, "lodged_from", lodged_from), "lodged_to": _day(request, "lodged_to", lodged_to)}
    result = audited_read(request, subject, None, lambda s, reads: search.search_declarations(
        s, subject, q.strip(), status=status, limit=PAGE, offset=(page - 1) * PAGE, reads=reads, access=app.access,
        **days) if q.strip() else queries.list_declarations(s, subject, status=status, limit=PAGE,
                                                             offset=(page - 1) * PAGE, reads=reads, access=app.access,
                                                             count_cap=COUNT_CAP, **days))
    # Past the cap (a list) or the first matches needed (a search) the total is a lower bound, and the pager only
    # knows whether a next page exists.
    pages = max(1, -(-result["total"] // PAGE)) if result["complete"] else page + result["more"]
    return render(request, "declarations.html", signed, result=result, q=q, status_filter=status or "",
                  statuses=STATUSES, page=page, pages=pages, open_ended=not result["complete"],
                  lodged_from=days["lodged_from"] or "", lodged_to=days["lodged_to"] or "")


def _day(request: Request, name: str, given: str):
    """A day of the search form (<input type=date>: YYYY-MM-DD), or None when left blank."""
    from datetime import date

    if not given:
        return None
    try:
        return date.fromisoformat(given)
    except ValueError:
        raise InvalidDocument(tr(request, "Give the day as YYYY-MM-DD."), [Problem(f"/{name}", given)]) from None


def _declaration(request: Request, signed, declaration_id: str) -> tuple[dict, list]:
    app, subject = request.app.state.concord, signed.subject

    def read(s, reads):
        d = queries.get_declaration(s, subject, declaration_id, names(app, s), None, reads, access=app.access)
        return d, queries.timeline(s, subject, declaration_id, None, reads, access=app.access)

    return audited_read(request, subject, None, read)


@router.get("/declarations/{declaration_id}")
def declaration(declaration_id: str, request: Request, signed=Depends(signed_in)):
    d, events = _declaration(request, signed, declaration_id)
    return render(request, "declaration.html", signed, d=d, events=events, poll=POLL_SECONDS,
                  document=d.get("document"), may_record_arrival=_customs(signed) and d["status"] == "cleared",
                  done=request.query_params.get("done"))


@router.get("/declarations/{declaration_id}/live")
def live(declaration_id: str, request: Request, signed=Depends(signed_in)):
    """The part of the declaration page that changes (status, pending steps, timeline), for HTMX's poll."""
    d, events = _declaration(request, signed, declaration_id)
    return render(request, "_live.html", signed, d=d, events=events, poll=POLL_SECONDS)


def _customs(signed) -> bool:
    return signed.subject.lead and signed.subject.has("officer", "supervisor")


@router.get("/lodge")
def lodge_page(request: Request, signed=Depends(signed_in)):
    _trader(request, signed)
    return _lodge_form(request, signed, {}, {}, [])


def _trader(request, signed) -> None:
    if not signed.subject.is_trader:
        raise Forbidden(tr(request, "Declarations are lodged by traders and brokers."))


def _lodge_form(request, signed, values: dict, errors: dict, loose: list, status: int = 200, **extra):
    """The lodging form; extra (action, heading) turns it into the amendment form (console/declarant.py)."""
    rows = item_rows(values)
    return render(request, "lodge.html", signed, status=status, values=values, errors=errors, loose=loose,
                  rows=range(rows), more=rows < MAX_ITEM_ROWS, max_items=MAX_ITEM_ROWS, input_id=input_id,
                  key=values.get("key") or secrets.token_hex(12), **extra)


def rows_changed(request, signed, values: dict, **extra):
    """"Add an item" or "Remove the marked items": the same form back with its rows changed, nothing lodged."""
    change = values.get("rows_change")
    if change not in ("add", "remove"):
        return None
    return _lodge_form(request, signed, with_rows(values, 1 if change == "add" else 0), {}, [], **extra)


@router.post("/lodge")
async def lodge(request: Request, signed=Depends(signed_in)):
    """Lodge through the API's path: the same validation (JSON pointers) and the same lodging queue."""
    _trader(request, signed)
    values = await lodging_form(request, signed)
    if (changed := rows_changed(request, signed, values)) is not None:
        return changed
    app = request.app.state.concord
    try:
        document = declaration_document(orjson.dumps(document_of(values)))
        result = await app.lodging_queue.lodge(signed.subject, document, "console-" + values.get("key", "")[:80])
    except ConcordError as e:
        problems = {p.pointer: p.message for p in getattr(e, "problems", [])} or {"": e.message}
        errors, loose = at_fields(renumber(problems, values), lodging_fields(item_rows(values)))
        return _lodge_form(request, signed, values, errors, loose, status=e.status)
    return redirect(f"/console/declarations/{result['id']}")
