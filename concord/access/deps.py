"""FastAPI dependencies: the wired application and the authenticated subject."""

from fastapi import Header, Query, Request

from concord.access.handlers import TokenReader, authenticate
from concord.access.identity import Subject


async def concord_app(request: Request):  # async: a plain def would hop to the thread pool
    return request.app.state.concord


async def current_subject(request: Request) -> Subject:
    """Authenticate the bearer token on every request; revocation takes effect on the next request."""
    app = request.app.state.concord
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    if (tokens := app.extras.get("tokens")) is None:
        tokens = app.extras["tokens"] = TokenReader(app.engine)
    subject = authenticate(app.uow(request_id=request.state.request_id), token, tokens)
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
    """Run read(session, reads) and write the cross-agency reads it collected to the audit log."""
    reads: list = []
    with request.app.state.concord.sessions() as session:
        result = read(session, reads)
    log_request_reads(request, subject, reads, declared_purpose)
    return result
