"""Time-limited access to one record: access requests (hit / no-hit) and break-glass.

Filing a request or breaking the glass never looks the record up: the requester names the agency to ask
(the hit's `ask_agency`; declarations are the lead agency's), so a hidden record and a missing one answer
alike. The policy counts a grant only when its provider owns the record, and the provider's liaison can
grant only its own records."""

from __future__ import annotations

from datetime import datetime, timedelta

from concord.agreements.messages import (AccessDecided, AccessRequested, BreakGlass, BreakGlassOpened,
                                         DecideAccessRequest, RequestAccess)
from concord.agreements.models import PURPOSES, AccessGrant
from concord.errors import Conflict, Forbidden, InvalidDocument, NotFound, Problem
from concord.ids import new_id

BREAK_GLASS_HOURS = 4
RESOURCE_MAX = 120  # the column's width: stored without a lookup, so checked before the insert


def _provider(resource: str, named: str | None, directory, session, owners: dict) -> str:
    """The agency asked: the lead for a declaration, else the agency the requester names. No lookup of the record."""
    kind, _, ident = resource.partition("/")
    agencies = directory.current(session)
    if not ident or len(resource) > RESOURCE_MAX or (kind != "declaration" and kind not in owners):
        raise InvalidDocument("unknown resource", [Problem("/resource", "use declaration/ID, watchlist_entry/ID or "
                                                                  f"incident/ID, at most {RESOURCE_MAX} characters")])
    if kind == "declaration":
        if named not in (None, agencies.lead):
            raise InvalidDocument("declarations are the lead agency's",
                                  [Problem("/provider", f"ask {agencies.lead}, or leave provider out")])
        return agencies.lead
    if named is None:
        raise InvalidDocument("name the agency to ask", [Problem("/provider", "the agency the hit told you to ask "
                                                                             "(its ask_agency)")])
    if named not in agencies.agencies:
        raise InvalidDocument("unknown agency", [Problem("/provider", f"no agency '{named}'")])
    return named


def owner_of(session, resource: str, lead: str, owners: dict) -> str | None:
    """The agency that owns the record today, or None when there is no such record.

    `owners`: resource type -> function(session, id) giving the owning agency, as bootstrap.RESOURCE_OWNERS wires."""
    kind, _, ident = resource.partition("/")
    if kind == "declaration":
        from concord.declarations.models import Declaration

        return lead if session.get(Declaration, ident) is not None else None
    return owners[kind](session, ident) if kind in owners else None


def request_access(cmd: RequestAccess, uow, *, directory, resource_owners) -> dict:
    """Hit / no-hit: ask the owning agency for a record the requester learnt exists but may not see."""
    subject = uow.subject
    if subject.agency is None or not subject.has("officer", "supervisor"):
        raise Forbidden("agency officers request access to other agencies' records")
    _check_request(cmd.purpose, cmd.justification)
    with uow:
        provider = _provider(cmd.resource, cmd.provider, directory, uow.session, resource_owners)
        if provider == subject.agency:
            raise Conflict("the record belongs to your own agency")
        g = _grant(uow, "request", cmd.resource, provider, cmd.purpose, cmd.justification, "pending", None)
        uow.record(AccessRequested(agency=provider, request_id=g.id, resource=g.resource,
                                   requester_agency=g.requester_agency, purpose=g.purpose))
        uow.audit("access:requested", cmd.resource, purpose=cmd.purpose, owner=provider, detail={"request": g.id})
        uow.commit()
        return grant_view(g)


def decide_access_request(cmd: DecideAccessRequest, uow, *, book, directory, resource_owners) -> dict:
    """The provider's liaison grants (for a limited time) or refuses an access request on its own record."""
    subject = uow.subject
    with uow:
        s = uow.session
        g = s.get(AccessGrant, cmd.request_id, with_for_update=True)
        # a request is visible to the two agencies concerned (GET /access-requests); to others it does not exist
        if g is None or g.kind != "request" or subject.agency not in (g.provider, g.requester_agency):
            raise NotFound(f"access request {cmd.request_id} not found")
        if not subject.has("liaison") or subject.agency != g.provider:
            raise Forbidden(f"only the liaison officer of {g.provider} can decide on it")
        if g.status != "pending":
            raise Conflict(f"access request {g.id} is already {g.status}")
        if not 1 <= cmd.hours <= 24 * 90:
            raise InvalidDocument("bad duration", [Problem("/hours", "grant between 1 hour and 90 days")])
        if cmd.grant and owner_of(s, g.resource, directory.current(s).lead, resource_owners) != g.provider:
            raise Conflict(f"{g.resource} is not a record of {g.provider}; refuse the request")
        now = uow.clock.now()
        g.status = "granted" if cmd.grant else "refused"
        g.decided_by, g.decided_at, g.decision_reason = subject.user_id, now, cmd.reason
        g.expires_at = now + timedelta(hours=cmd.hours) if cmd.grant else None
        uow.record(AccessDecided(agency=g.requester_agency, request_id=g.id, granted=cmd.grant))
        uow.audit(f"access:{g.status}", g.resource, purpose=g.purpose, owner=g.provider, detail={"request": g.id})
        uow.commit()
    book.invalidate()
    return grant_view(g)


def break_glass(cmd: BreakGlass, uow, *, directory, book, resource_owners) -> dict:
    """Emergency access to one record: time-limited, flagged in the log, the owner's liaison told at once."""
    subject = uow.subject
    if subject.agency is None or not subject.has("officer", "supervisor"):
        raise Forbidden("agency officers may break the glass")
    _check_request(cmd.purpose, cmd.justification, minimum=20)
    with uow:
        provider = _provider(cmd.resource, cmd.provider, directory, uow.session, resource_owners)
        g = _grant(uow, "break_glass", cmd.resource, provider, cmd.purpose, cmd.justification, "open",
                   uow.clock.now() + timedelta(hours=BREAK_GLASS_HOURS))
        uow.record(BreakGlassOpened(agency=provider, grant_id=g.id, resource=g.resource, requester=g.requester,
                                    requester_agency=g.requester_agency, justification=g.justification))
        uow.audit("access:break_glass", cmd.resource, purpose=cmd.purpose, owner=provider, outcome="break-glass",
                  detail={"grant": g.id, "expires_at": g.expires_at.isoformat()})
        uow.commit()
    book.invalidate()
    return grant_view(g)


def _check_request(purpose: str, justification: str, minimum: int = 10) -> None:
    problems = []
    if purpose not in PURPOSES:
        problems.append(Problem("/purpose", f"use one of: {', '.join(PURPOSES)}"))
    if len(justification.strip()) < minimum:
        problems.append(Problem("/justification", f"explain why, in at least {minimum} characters"))
    if problems:
        raise InvalidDocument("the request is incomplete", problems)


def _grant(uow, kind, resource, provider, purpose, justification, status, expires: datetime | None) -> AccessGrant:
    g = AccessGrant(id=new_id("GRT"), kind=kind, requester=uow.subject.user_id, requester_agency=uow.subject.agency,
                    provider=provider, resource=resource, purpose=purpose, justification=justification,
                    status=status, requested_at=uow.clock.now(), decided_by=None, decided_at=None,
                    expires_at=expires, decision_reason=None)
    uow.session.add(g)
    return g


def grant_view(g: AccessGrant) -> dict:
    """An access request or break-glass grant as the API shows it."""
    return {"id": g.id, "kind": g.kind, "resource": g.resource, "provider": g.provider, "requester": g.requester,
            "requester_agency": g.requester_agency, "purpose": g.purpose, "justification": g.justification,
            "status": g.status, "expires_at": g.expires_at.isoformat() if g.expires_at else None,
            "decided_by": g.decided_by, "decision_reason": g.decision_reason}
