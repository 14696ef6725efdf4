"""FastAPI dependencies: the wired application and the authenticated subject."""

from fastapi import Request

from concord.access.handlers import authenticate
from concord.access.identity import Subject


async def concord_app(request: Request):  # async: a plain def would hop to the thread pool
    return request.app.state.concord


async def current_subject(request: Request) -> Subject:
    """Authenticate the bearer token on every request; revocation takes effect on the next request."""
    app = request.app.state.concord
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    subject = authenticate(app.uow(request_id=request.state.request_id), token, app.tokens)
    request.state.subject = subject
    return subject


def purpose(request: Request) -> str | None:
    """The purpose a cross-agency read states (Concord-Purpose header or ?purpose=), from the controlled list."""
    from concord.agreements.models import PURPOSES
    from concord.errors import InvalidDocument, Problem

    value = request.headers.get("concord-purpose") or request.query_params.get("purpose")
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
