"""Drafting an agreement in the console: the liaison's form, sent as the API's document through DraftAgreement, its
problems at the inputs they name; the draft then awaits the parties' signatures on the agreements screen (sign,
withdraw, and the diff between versions, as before)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from concord.agreements.messages import DraftAgreement
from concord.agreements.models import PURPOSES, RESOURCES
from concord.console.forms import Input, at_fields, choices_of, document_from, form_problems, input_id, kinds_of
from concord.console.web import N_, form, redirect, render, signed_in, tr
from concord.errors import ConcordError, Forbidden

router = APIRouter(prefix="/console", include_in_schema=False)
PURPOSE_ROWS, SCOPE_ROWS = 3, 3  # a larger agreement is drafted through the API or the coordination config
USES = ("forbidden", "with_permission", "allowed")
PURPOSE_CHOICES = (("", "—"),) + tuple(PURPOSES.items())


def fieldsets(agencies: tuple) -> tuple:
    """The draft form's fieldsets; the provider is chosen among the hub's agencies."""
    return (
        (N_("Agreement"), (Input("/key", N_("Key (e.g. MOU-NPPO-CUS-2026)"), size=40),
                           Input("/title", N_("Title")),
                           Input("/provider", N_("Provider (the agency whose data is shared)"),
                                 choices=tuple((a, a) for a in agencies)),
                           Input("/recipients", N_("Recipients (agency codes, separated by commas)"), "codes"),
                           Input("/legal_basis", N_("Legal basis"), "long", size=1000),
                           Input("/valid_from", N_("Valid from (UTC)"), "time"),
                           Input("/valid_until", N_("Valid until (UTC)"), "time"))),
        (N_("Purposes"), tuple(Input(f"/purposes/{n}", N_("Purpose"), choices=PURPOSE_CHOICES)
                               for n in range(PURPOSE_ROWS))),
    ) + tuple((N_("Scope"), (
        Input(f"/scopes/{n}/resource", N_("What is shared"), choices=choices_of(RESOURCES, True)),
        Input(f"/scopes/{n}/fields", N_("Fields (JSON pointers, separated by commas)"), "list", size=4000),
        Input(f"/scopes/{n}/condition/hs_chapters", N_("Only HS chapters (optional)"), "list"),
        Input(f"/scopes/{n}/condition/origins", N_("Only origins (optional)"), "codes"),
        Input(f"/scopes/{n}/condition/offices", N_("Only offices (optional)"), "codes"),
        Input(f"/scopes/{n}/condition/categories", N_("Only incident categories (optional)"), "list",
              size=400))) for n in range(SCOPE_ROWS)) + (
        (N_("Handling"), (Input("/handling/onward_sharing", N_("Onward sharing"), choices=choices_of(USES)),
                          Input("/handling/court_use", N_("Use in court"), choices=choices_of(USES)),
                          Input("/handling/retention_days", N_("Retention (days)"), size=4))),)


def _liaison(request: Request, signed) -> None:
    """The handler's own rule, said before the form is filled rather than after."""
    if signed.subject.agency is None or not signed.subject.has("liaison"):
        raise Forbidden(tr(request, "Only an agency's liaison officer drafts agreements."))


def _page(request: Request, signed, values: dict, errors: dict, loose: list, status: int = 200):
    app = request.app.state.concord
    with app.sessions() as s:
        agencies = tuple(sorted(app.directory.current(s).agencies))
    return render(request, "record_form.html", signed, status=status, fieldsets=fieldsets(agencies), values=values,
                  errors=errors, loose=loose, input_id=input_id, heading=tr(request, "Draft an agreement"),
                  action="/console/agreements/new")


@router.get("/agreements/new")
def draft_page(request: Request, signed=Depends(signed_in)):
    """The empty draft: the liaison's agency as provider, the usual handling."""
    _liaison(request, signed)
    return _page(request, signed, {"/provider": signed.subject.agency, "/handling/onward_sharing": "forbidden",
                                   "/handling/court_use": "with_permission", "/handling/retention_days": "365"},
                 {}, [])


@router.post("/agreements/new")
async def draft(request: Request, signed=Depends(signed_in)):
    """The API's DraftAgreement with the form's document; the draft then awaits every party's signature."""
    _liaison(request, signed)
    values = await form(request, signed)
    kinds = kinds_of(fieldsets(()))
    app = request.app.state.concord
    try:
        await run_in_threadpool(app.bus.handle, DraftAgreement(document=document_from(values, kinds)),
                                subject=signed.subject)
    except ConcordError as e:
        if e.status == 404:
            raise
        # not a party of the agreement drafted (403), or its key is taken (409): said at the input concerned
        problems = {p.pointer: p.message for p in e.problems} or {
            {403: "/provider", 409: "/key"}.get(e.status, ""): e.message}
        errors, loose = at_fields(form_problems(problems, values, kinds), list(kinds))
        return _page(request, signed, values, errors, loose, status=e.status)
    return redirect("/console/agreements?done=drafted")
