"""FastAPI dependencies: the wired application and the authenticated subject."""

from fastapi import Header, Query, Request

from concord.access.handlers import authenticate
from concord.access.identity import Subject


async def concord_app(request: Request):  # async: a plain def would hop to the thread pool
    return request.app.state.concord


async def current_subject(request: Request) -> Subject:
    """Authenticate the bearer token on every request; revocation takes effect on the next request.

    The fast lodging lane calls this too, so both paths refuse, count and rate-limit alike."""
    from concord.audit.summaries import write_notes

    app = request.app.state.concord
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    client = request.client.host if request.client else "unknown"
    subject = authenticate(token, app.tokens, app.auth_refusals, client,
                           lambda notes: write_notes(app, notes, request.state.request_id))
    request.state.subject = subject
    return subject


_PURPOSE_DOC = "why a cross-agency read is made: one of the purposes of the agreements (e.g. revenue_control)"


def purpose(header: str | None = Header(None, alias="Concord-Purpose", max_length=64, description=_PURPOSE_DOC),
            query: str | None = Query(None, alias="purpose", max_length=64, description=_PURPOSE_DOC)) -> str | None:
    """The purpose a cross-agency read states (Concord-Purpose header or ?purpose=), from the controlled list."""
    from concord.agreements.models import PURPOSES
    from concord.errors import InvalidDocument, Problem

    value = header or query
    if value is not None and value not in PURPOSES:
        raise InvalidDocument("unknown purpose", [Problem("/purpose", f"use one of: {', '.join(PURPOSES)}")])
    return value


def log_request_reads(request: Request, subject: Subject, reads: list, declared_purpose: str | None) -> None:
    """Write the request's cross-agency reads to the audit log before the response leaves."""
    from concord.access.handlers import log_reads

    log_reads(request.app.state.concord.uow(subject, request.state.request_id), reads, declared_purpose)


def audited_read(request: Request, subject: Subject, declared_purpose: str | None, read):
    """Run read(session, reads) and write the cross-agency reads it collected to the audit log.

    A read refused as not found (out of scope, or a purpose no agreement covers: the caller cannot tell which) is
    counted as a denial of the owner's data, for its access report, in the counted summaries."""
    from concord.errors import NotFound

    reads: list = []
    app = request.app.state.concord
    with app.sessions() as session:
        try:
            result = read(session, reads)
        except NotFound:
            _note_denial(request, subject, declared_purpose, session)
            raise
    log_request_reads(request, subject, reads, declared_purpose)
    return result


def _note_denial(request: Request, subject: Subject, declared_purpose: str | None, session) -> None:
    from concord.errors import ConcordError

    name = next((k for k in request.path_params if k.endswith("_id")), None)
    if name is None or subject.lead:  # the lead agency's own data: not a cross-agency denial
        return
    kind = name[:-3]
    try:
        owner = request.app.state.concord.lead_agency(session) if kind == "declaration" else None
    except ConcordError:  # no coordination config yet: nobody owns anything
        owner = None
    note_denial(request, subject, declared_purpose, f"{kind}/{request.path_params[name]}", owner)


def note_denial(request: Request, subject: Subject, declared_purpose: str | None, resource: str,
                owner: str | None, action: str | None = None) -> None:
    """Count a read the subject was denied (answered 404) against the owner's data, in the counted summaries."""
    from concord.audit.summaries import write_notes

    app = request.app.state.concord
    if (denials := app.read_denials) is None:
        return
    kind = resource.split("/", 1)[0]
    key = ("denied", subject.user_id, subject.agency, owner, action or f"{kind}:read", declared_purpose, kind)
    write_notes(app, denials.hit(key, resource[:120]), request.state.request_id)
