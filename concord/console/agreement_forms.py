"""Drafting an agreement, or proposing a new version of one, in the console: the liaison's form, sent as the API's
document through DraftAgreement (`POST /api/v1/agreements`, `PUT /api/v1/agreements/{key}`), its problems at the
inputs they name; the draft then awaits the parties' signatures on the agreements screen (sign, withdraw, and the
diff between versions)."""

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


def fieldsets(agencies: tuple, purposes: int = PURPOSE_ROWS, scopes: int = SCOPE_ROWS, key: bool = True) -> tuple:
    """The draft form's fieldsets; the provider is chosen among the hub's agencies. A new version keeps its key
    (the agreement's identity: not an input) and has a row more than the version it starts from."""
    return (
        (N_("Agreement"), (Input("/key", N_("Key (e.g. MOU-NPPO-CUS-2026)"), size=40),) * key + (
                           Input("/title", N_("Title")),
                           Input("/provider", N_("Provider (the agency whose data is shared)"),
                                 choices=tuple((a, a) for a in agencies)),
                           Input("/recipients", N_("Recipients (agency codes, separated by commas)"), "codes"),
                           Input("/legal_basis", N_("Legal basis"), "long", size=1000),
                           Input("/valid_from", N_("Valid from (UTC)"), "time"),
                           Input("/valid_until", N_("Valid until (UTC)"), "time"))),
        (N_("Purposes"), tuple(Input(f"/purposes/{n}", N_("Purpose"), choices=PURPOSE_CHOICES)
                               for n in range(purposes))),
    ) + tuple((N_("Scope"), (
        Input(f"/scopes/{n}/resource", N_("What is shared"), choices=choices_of(RESOURCES, True)),
        Input(f"/scopes/{n}/fields", N_("Fields (JSON pointers, separated by commas)"), "list", size=4000),
        Input(f"/scopes/{n}/condition/hs_chapters", N_("Only HS chapters (optional)"), "list"),
        Input(f"/scopes/{n}/condition/origins", N_("Only origins (optional)"), "codes"),
        Input(f"/scopes/{n}/condition/offices", N_("Only offices (optional)"), "codes"),
        Input(f"/scopes/{n}/condition/categories", N_("Only incident categories (optional)"), "list",
              size=400))) for n in range(scopes)) + (
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


# -- a new version of an agreement the liaison's agency is party to --

MAX_ROWS = 20  # the API's most purposes and scopes (AgreementIn)


def _rows_in(values: dict, prefix: str, least: int) -> int:
    """The rows of a list the form sent (each row's inputs come back, blank or not), within least..MAX_ROWS."""
    found = {p[len(prefix):].split("/")[0] for p in values if p.startswith(prefix)}
    return min(max([least] + [int(n) + 1 for n in found if n.isdigit()]), MAX_ROWS)


def _shown(iso: str) -> str:
    """A stored time as <input type=datetime-local> shows it, in UTC: minutes, and seconds when it has some (a new
    version must not move 23:59:59 to 23:59 unasked)."""
    from datetime import datetime, timezone

    t = datetime.fromisoformat(iso)
    t = t.astimezone(timezone.utc) if t.tzinfo else t
    return t.strftime("%Y-%m-%dT%H:%M:%S" if t.second else "%Y-%m-%dT%H:%M")


def values_of(version: dict) -> dict:
    """The form's inputs filled with what a version says, so the liaison changes only what changes."""
    values = {"/title": version["title"], "/provider": version["provider"],
              "/recipients": ", ".join(version["recipients"]), "/legal_basis": version["legal_basis"],
              "/valid_from": _shown(version["valid_from"]), "/valid_until": _shown(version["valid_until"])}
    values |= {f"/purposes/{n}": p for n, p in enumerate(version["purposes"])}
    for n, scope in enumerate(version["scopes"]):
        values |= {f"/scopes/{n}/resource": scope["resource"], f"/scopes/{n}/fields": ", ".join(scope["fields"])}
        values |= {f"/scopes/{n}/condition/{k}": ", ".join(v) for k, v in (scope.get("condition") or {}).items()}
    values |= {f"/handling/{k}": str(v) for k, v in version["handling"].items()}
    return values


def _versions(request: Request, signed, key: str) -> dict:
    """The versions of `key` the API's list shows the liaison; none, or not a party of the newest: not found."""
    from concord.agreements import api as agreements_api
    from concord.errors import NotFound

    rows = agreements_api.list_agreements(status=None, subject=signed.subject, app=request.app.state.concord)
    versions = {r["version"]: r for r in rows if r["key"] == key[:64]}
    newest = versions[max(versions)] if versions else None
    if newest is None or signed.subject.agency not in (newest["provider"], *newest["recipients"]):
        raise NotFound(tr(request, "No agreement %(key)s that your agency is party to.", key=key[:64]))
    return versions


def _version_page(request: Request, signed, key: str, base: dict, values: dict, errors: dict, loose: list,
                  status: int = 200):
    app = request.app.state.concord
    with app.sessions() as s:
        agencies = tuple(sorted(app.directory.current(s).agencies))
    sets = fieldsets(agencies, _rows_in(values, "/purposes/", PURPOSE_ROWS),
                     _rows_in(values, "/scopes/", SCOPE_ROWS), key=False)
    return render(request, "record_form.html", signed, status=status, fieldsets=sets, values=values, errors=errors,
                  loose=loose, input_id=input_id, action=f"/console/agreements/{key}/new-version",
                  heading=tr(request, "Propose a new version of %(key)s", key=key), hidden={"base": base["version"]},
                  intro=tr(request, "Filled in from version %(v)s (%(status)s). The new version takes effect once "
                                    "every party of the current version and of the new one has signed it; until "
                                    "then the current version stays in force.", v=base["version"],
                           status=base["status"].replace("_", " ")))


@router.get("/agreements/{key}/new-version")
def version_page(key: str, request: Request, signed=Depends(signed_in)):
    """The newest version's content in the form, a blank purpose and scope row after it."""
    _liaison(request, signed)
    versions = _versions(request, signed, key)
    base = versions[max(versions)]
    values = values_of(base)
    values |= {f"/purposes/{len(base['purposes'])}": "", f"/scopes/{len(base['scopes'])}/resource": ""}
    return _version_page(request, signed, key[:64], base, values, {}, [])


@router.post("/agreements/{key}/new-version")
async def propose_version(key: str, request: Request, signed=Depends(signed_in)):
    """The API's amendment (DraftAgreement, amend): then the diff between the version it started from and it."""
    _liaison(request, signed)
    values = await form(request, signed)
    versions = await run_in_threadpool(_versions, request, signed, key)
    try:
        base = versions[int(values.get("base") or 0)]
    except (ValueError, KeyError):
        base = versions[max(versions)]
    kinds = kinds_of(fieldsets((), _rows_in(values, "/purposes/", 1), _rows_in(values, "/scopes/", 1), key=False))
    document = document_from(values, kinds) | {"key": key[:64]}
    app = request.app.state.concord
    try:
        new = await run_in_threadpool(app.bus.handle, DraftAgreement(document=document, amend=True),
                                      subject=signed.subject)
    except ConcordError as e:
        if e.status == 404:
            raise
        problems = {p.pointer: p.message for p in e.problems} or {"": e.message}
        errors, loose = at_fields(form_problems(problems, values, kinds), list(kinds))
        return _version_page(request, signed, key[:64], base, values, errors, loose, status=e.status)
    return redirect(f"/console/agreements/{new['key']}/diff?a={base['version']}&b={new['version']}&done=proposed")
