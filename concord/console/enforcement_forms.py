"""Creating incidents, operations and notices from the console: forms whose inputs are named by JSON pointers, sent
as the API's documents through the API's commands (RecordIncident, OpenOperation, IssueNotice), so the handlers'
own checks and 422 pointers land on the input they name."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from concord.agreements.models import PURPOSES
from concord.console.forms import Input, at_fields, choices_of as _pick, document_from, form_problems, input_id, kinds_of
from concord.console.web import N_, form, redirect, render, signed_in, tr
from concord.errors import ConcordError, Forbidden
from concord.incidents.messages import IssueNotice, OpenOperation, RecordIncident
from concord.incidents.models import CATEGORIES, MEMBER_ROLES, SEVERITIES
from concord.incidents.schemas import ACTIONS

router = APIRouter(prefix="/console", include_in_schema=False)
MEMBER_ROWS = 4  # members named when an operation opens; more are added on the operation's page or by the API
PARTY_ROLES = ("importer", "exporter", "consignee", "carrier", "driver", "suspect", "other")


INCIDENT = (
    (N_("Incident"), (Input("/category", N_("Category"), choices=_pick(CATEGORIES)),
                      Input("/severity", N_("Severity"), choices=_pick(SEVERITIES)),
                      Input("/title", N_("Title")), Input("/summary", N_("Summary"), "long", size=4000),
                      Input("/occurred_at", N_("When it happened (UTC)"), "time"))),
    (N_("Where"), (Input("/location/office", N_("Office or port (UN/LOCODE)"), size=5),
                   Input("/location/place", N_("Place (quay, terminal, road)")),
                   Input("/location/country", N_("Country (ISO 3166 code)"), size=2))),
    (N_("What was found"), (Input("/found/0/goods", N_("Goods")), Input("/found/0/hs_code", N_("HS code"), size=10),
                            Input("/found/0/origin", N_("Origin (ISO 3166 code)"), size=2),
                            Input("/found/0/quantity", N_("Quantity"), size=19),
                            Input("/found/0/unit", N_("Unit (e.g. KGM, NAR)"), size=5),
                            Input("/found/0/concealment", N_("How it was hidden"), size=500))),
    (N_("Consignment"), (Input("/declarations", N_("Declarations (ids, separated by commas)"), "list", size=2000),
                         Input("/containers", N_("Containers (separated by commas)"), "codes", size=4000),
                         Input("/conveyance", N_("Conveyance (IMO number, flight, plate)")),
                         Input("/parties/0/role", N_("Party's role"), choices=_pick(PARTY_ROLES, True)),
                         Input("/parties/0/name", N_("Party's name")),
                         Input("/parties/0/id", N_("Party's identifier (EORI, TIN, passport)"), size=64))),
    (N_("Indicators for the hunt"), (Input("/indicators/hs", N_("HS code prefixes (separated by commas)"), "list"),
                                     Input("/indicators/origins", N_("Origins (ISO codes, separated by commas)"),
                                           "codes"),
                                     Input("/indicators/parties", N_("Parties (identifiers or names, separated by "
                                                                     "commas)"), "list", size=2000))),
)
OPERATION = (
    (N_("Operation"), (Input("/name", N_("Name")), Input("/incident_id", N_("Incident (id, optional)"), size=32),
                       Input("/starts_at", N_("Starts (UTC)"), "time"), Input("/ends_at", N_("Ends (UTC)"), "time"))),
) + tuple((N_("Member"), (Input(f"/members/{n}/user_id", N_("User id"), size=64),
                          Input(f"/members/{n}/role", N_("Role"), choices=_pick(MEMBER_ROLES, True))))
          for n in range(MEMBER_ROWS))
NOTICE = (
    (N_("Notice"), (Input("/title", N_("Title")), Input("/summary", N_("Summary"), "long", size=4000),
                    Input("/purpose", N_("Purpose"), choices=tuple(PURPOSES.items())),
                    Input("/recommended_action", N_("Recommended action"), choices=_pick(ACTIONS)),
                    Input("/incident_id", N_("Incident (id, optional)"), size=32))),
    (N_("Indicators"), (Input("/indicators/hs", N_("HS code prefixes (separated by commas)"), "list"),
                        Input("/indicators/origins", N_("Origins (ISO codes, separated by commas)"), "codes"),
                        Input("/indicators/parties", N_("Parties (identifiers or names, separated by commas)"),
                              "list", size=2000),
                        Input("/indicators/containers", N_("Containers (separated by commas)"), "codes", size=4000),
                        Input("/indicators/conveyances", N_("Conveyances (separated by commas)"), "list"))),
    (N_("Validity and recipients"), (Input("/valid_from", N_("Valid from (UTC, optional)"), "time"),
                                     Input("/valid_until", N_("Valid until (UTC)"), "time"),
                                     Input("/feedback_due_at", N_("Feedback due (UTC)"), "time"),
                                     Input("/recipients", N_("Only these agencies (codes, optional)"), "codes"))),
)
# what: (fieldsets, command, heading, where the new record is shown)
FORMS = {"incidents": (INCIDENT, RecordIncident, N_("Report an incident")),
         "operations": (OPERATION, OpenOperation, N_("Open an operation")),
         "notices": (NOTICE, IssueNotice, N_("Issue a risk information notice"))}


def _officer(request: Request, signed) -> None:
    """The handlers' own rule (require_officer), said before the form is filled rather than after."""
    s = signed.subject
    if s.agency is None or s.is_trader or not s.has("officer", "supervisor"):
        raise Forbidden(tr(request, "Only an agency's officers and supervisors create incidents, operations and "
                                    "notices."))


def _page(request: Request, signed, what: str, values: dict, errors: dict, loose: list, status: int = 200):
    fieldsets, _, heading = FORMS[what]
    return render(request, "record_form.html", signed, status=status, fieldsets=fieldsets, values=values,
                  errors=errors, loose=loose, input_id=input_id, heading=tr(request, heading),
                  action=f"/console/{what}/new")


def _new(what: str):
    def page(request: Request, incident: str = Query("", max_length=32), signed=Depends(signed_in)):
        """The empty form (an operation or notice may start from an incident: ?incident=ID)."""
        _officer(request, signed)
        return _page(request, signed, what, {"/incident_id": incident} if incident else {}, {}, [])

    async def create(request: Request, signed=Depends(signed_in)):
        """The API's command with the form's document; its problems shown at the inputs they name."""
        _officer(request, signed)
        values = await form(request, signed)
        fieldsets, command, _ = FORMS[what]
        kinds = kinds_of(fieldsets)
        app = request.app.state.concord
        try:
            done = await run_in_threadpool(app.bus.handle, command(document=document_from(values, kinds)),
                                           subject=signed.subject)
        except ConcordError as e:
            if e.status == 403:
                raise
            problems = {p.pointer: p.message for p in e.problems} or (
                {"/incident_id": e.message} if e.status == 404 else {"": e.message})  # the one id the form names
            errors, loose = at_fields(form_problems(problems, values, kinds), list(kinds))
            return _page(request, signed, what, values, errors, loose, status=e.status)
        return redirect(f"/console/{what}/{done['id']}?done=created")

    router.add_api_route(f"/{what}/new", page, methods=["GET"], name=f"new_{what}")
    router.add_api_route(f"/{what}/new", create, methods=["POST"], name=f"create_{what}")


for _what in FORMS:
    _new(_what)
