"""The policy decision point's rule for enforcement records: incidents, risk information notices, operations.

- An incident is its owner agency's (`policy.Ref("incident", ...)`, decided by `policy._ref`): another agency sees
  the fields an agreement's `incident` scope lists, for the stated purpose, when the scope's condition holds (HS
  chapters and origins of what was found, the office, the incident's category); a granted access request or an
  open break-glass shows it whole. Operation membership grants nothing here.
- A notice is its issuer's: an agency it was delivered to sees the fields of the `notice` scope that entitles it,
  for the notice's own purpose, while such an agreement is in force (the notice was addressed to it: the reader
  states no purpose of its own).
- An operation's own records (members, tasks, thread) are seen by the agencies with a member in it: the stream is
  per agency, so need-to-know is too. They see nothing else through it.

The `*_scope` functions are the same rules as WHERE clauses, applied in the query before paging."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, false, literal, or_, select

from concord.access.policy import DENY, READERS, WHOLE, Decision, _condition


@dataclass(frozen=True)
class NoticeAt:
    id: str
    issuer: str
    purpose: str


@dataclass(frozen=True)
class OperationAt:
    id: str
    lead_agency: str


def notice(subject, action: str, n: NoticeAt, session, access) -> Decision:
    """The issuer's whole notice; a recipient's delivery under an agreement in force: that scope's fields."""
    from concord.incidents.models import NoticeDelivery

    if subject.agency is None:
        return DENY
    if subject.agency == n.issuer:
        return Decision(True, WHOLE, "own-agency", provider=n.issuer)
    if action != "read" or not subject.has(*READERS):
        return DENY
    if session.get(NoticeDelivery, (n.id, subject.agency)) is None:
        return DENY
    scopes = access.book.matching(subject.agency, "notice", n.purpose, access.now(), provider=n.issuer)
    if not scopes:
        return DENY
    fields = WHOLE if any("/" in s.fields for s in scopes) else tuple(sorted({f for s in scopes for f in s.fields}))
    agreements = ",".join(s.agreement for s in scopes)
    return Decision(True, fields, f"agreement:{agreements}", agreements, n.issuer)


def operation(subject, action: str, op: OperationAt, session) -> Decision:
    """Member agencies see the operation's own records whole; nobody else sees that it exists."""
    from concord.incidents.models import OperationMember

    if subject.agency is None:
        return DENY
    members = set(session.scalars(select(OperationMember.agency).where(OperationMember.operation_id == op.id)))
    if subject.agency in members | {op.lead_agency} and (subject.has(*READERS) or _is_member(session, op, subject)):
        return Decision(True, WHOLE, "operation-member", provider=op.lead_agency)
    return DENY


def _is_member(session, op: OperationAt, subject) -> bool:
    from concord.incidents.models import OperationMember

    return session.get(OperationMember, (op.id, subject.user_id)) is not None


def incident_scope(subject, purpose: str | None, *, session, access):
    """The incidents a subject may list: its agency's own, those an agreement shares for the purpose, granted ones."""
    from concord.agreements.models import AccessGrant
    from concord.incidents.models import Incident as I

    if subject.agency is None:
        return false()
    own = I.owner_agency == subject.agency
    if not subject.has(*READERS):
        return own
    now = access.now()
    agreed = [and_(I.owner_agency == s.provider, _condition(s, I),
                   I.category.in_(sorted(s.categories)) if s.categories else literal(True))
              for s in access.book.matching(subject.agency, "incident", purpose, now)]
    granted = exists(select(AccessGrant.id).where(and_(
        AccessGrant.resource == literal("incident/") + I.id, AccessGrant.requester_agency == subject.agency,
        AccessGrant.provider == I.owner_agency, AccessGrant.status.in_(("granted", "open")),
        AccessGrant.expires_at > now,
        or_(AccessGrant.kind != "break_glass", AccessGrant.requester == subject.user_id))))
    return or_(own, granted, *agreed)


def notice_scope(subject, *, access):
    """The notices a subject may list: its agency's own, and those delivered to it under an agreement in force."""
    from concord.incidents.models import Notice as N
    from concord.incidents.models import NoticeDelivery

    if subject.agency is None:
        return false()
    own = N.issuer_agency == subject.agency
    if not subject.has(*READERS):
        return own
    now = access.now()
    entitled = [and_(N.issuer_agency == s.provider, N.purpose.in_(sorted(s.purposes)))
                for s in access.book.scopes() if subject.agency in s.recipients and s.resource == "notice"
                and s.in_force(now)]
    delivered = exists(select(NoticeDelivery.agency).where(NoticeDelivery.notice_id == N.id,
                                                           NoticeDelivery.agency == subject.agency))
    return or_(own, and_(delivered, or_(false(), *entitled)))


def operation_scope(subject):
    """The operations a subject may list: those with a member of its agency (or itself)."""
    from concord.incidents.models import Operation as O
    from concord.incidents.models import OperationMember as M

    if subject.agency is None:
        return false()
    mine = M.agency == subject.agency if subject.has(*READERS) else M.user_id == subject.user_id
    return or_(O.lead_agency == subject.agency if subject.has(*READERS) else false(),
               exists(select(M.user_id).where(M.operation_id == O.id, mine)))
