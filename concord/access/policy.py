"""The policy decision point: one function decides who may see what, for every exit path.

Bases, in order: the owner (trader); the lead agency's roles; an agency's engagement on a declaration
(the fields its routing rules list); an active sharing agreement for the stated purpose (its scope's
fields); a granted access request or an open break-glass (the whole record, until it expires)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, false, func, literal, or_, select, true, union
from sqlalchemy.orm import Session, aliased

from concord.access.context import AccessContext
from concord.access.identity import Subject
from concord.errors import NotFound

WHOLE = ("/",)
READERS = ("officer", "supervisor", "auditor")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    view: tuple[str, ...] = ()  # JSON pointers the subject may see; ("/",) is the whole record
    basis: str | None = None  # the role, engagement, agreement or grant that allowed it
    agreement: str | None = None  # the agreement that allowed a cross-agency read, for the audit entry
    provider: str | None = None  # whose data it is

    def require(self, what: str) -> Decision:
        if not self.allowed:
            raise NotFound(f"{what} not found")  # never confirm that a hidden record exists
        return self


DENY = Decision(False)
HUB_METRICS = "hub:metrics"  # the operators' figures at /metrics: hub-wide counts (docs/operations.md)


@dataclass(frozen=True)
class DeclarationAt:
    """A declaration as one of its versions stood: that version's facets and engagements, so that an old version
    is shown only where the subject could have seen that version."""

    id: str
    trader_id: str
    hs_chapters: str
    origins: str
    office_of_entry: str
    engaged: dict


@dataclass(frozen=True)
class Ref:
    """A resource known by type, id and owning agency (watchlist entries, inspection results, ...)."""

    type: str
    id: str
    provider: str
    facets: tuple[str, str, str] = (",", ",", "")  # hs chapters, origins, office of the declaration concerned
    category: str | None = None  # an incident's category, for scopes that share some categories only


def authorize(subject: Subject, action: str, resource, purpose: str | None = None, *, session: Session,
              access: AccessContext) -> Decision:
    """Decide whether subject may do action on resource for purpose, with the view it may see and why."""
    from concord.audit.models import AuditEntry
    from concord.declarations.models import Declaration

    if isinstance(resource, (Declaration, DeclarationAt)):
        return _declaration(subject, action, resource, purpose, session, access)
    if isinstance(resource, AuditEntry):
        return _audit_entry(subject, action, resource)
    if resource == HUB_METRICS:  # the lead agency's administrators run the hub; an agency's own are not operators
        allowed = action == "read" and subject.lead and subject.has("administrator")
        return Decision(True, WHOLE, "role:administrator") if allowed else DENY
    if isinstance(resource, Ref):
        return _ref(subject, action, resource, purpose, session, access)
    from concord.access import records

    if isinstance(resource, records.NoticeAt):
        return records.notice(subject, action, resource, session, access)
    if isinstance(resource, records.OperationAt):
        return records.operation(subject, action, resource, session)
    return DENY


def _combine(parts: list[tuple[tuple[str, ...], str, str | None]], provider: str | None) -> Decision:
    if not parts:
        return DENY
    fields = WHOLE if any(view == WHOLE for view, _, _ in parts) else tuple(sorted({f for v, _, _ in parts for f in v}))
    agreements = [a for _, _, a in parts if a]
    return Decision(True, fields, "+".join(b for _, b, _ in parts), ",".join(agreements) or None, provider)


def _declaration(subject: Subject, action: str, d, purpose, session: Session, access: AccessContext) -> Decision:
    if subject.is_trader:
        if d.trader_id == subject.trader_id and action in ("read", "amend", "cancel", "supply_documents"):
            return Decision(True, WHOLE, "owner")
        return DENY
    if action != "read":  # amend, cancel, supply documents: the trader's acts, never the lead agency's
        return DENY
    if subject.lead and subject.has("officer", "supervisor", "auditor", "administrator"):
        return Decision(True, WHOLE, "role:lead-agency")
    if not subject.has(*READERS):
        return DENY
    lead = access.lead_of(session)
    parts = []
    if engagement := d.engaged.get(subject.agency):  # kept on the row: no query on the hot path
        parts.append((tuple(engagement["fields"]), "engagement:" + ",".join(engagement["rules"]), None))
    for scope in access.book.matching(subject.agency, "declaration", purpose, access.now(), provider=lead):
        if scope.covers(d.hs_chapters, d.origins, d.office_of_entry):
            parts.append((scope.fields, f"agreement:{scope.agreement}", scope.agreement))
    parts += _grants(subject, f"declaration/{d.id}", lead, session, access)
    return _combine(parts, lead)


def _audit_entry(subject: Subject, action: str, entry) -> Decision:
    """Auditors and administrators read every entry; officers their agency's or those about its data;
    traders what they did themselves."""
    if action != "read":
        return DENY
    if subject.is_trader:
        return Decision(True, WHOLE, "own-action") if entry.actor == subject.user_id else DENY
    if subject.has("auditor", "administrator"):
        return Decision(True, WHOLE, "role:auditor", provider=entry.agency)
    if subject.agency is not None and subject.agency in (entry.agency, entry.owner):
        return Decision(True, WHOLE, "own-agency", provider=entry.agency)
    return DENY


def _ref(subject: Subject, action: str, ref: Ref, purpose, session: Session, access: AccessContext) -> Decision:
    if subject.agency == ref.provider:
        return Decision(True, WHOLE, "own-agency", provider=ref.provider)
    if action != "read" or subject.is_trader or not subject.has(*READERS):
        return DENY
    parts = [(s.fields, f"agreement:{s.agreement}", s.agreement)
             for s in access.book.matching(subject.agency, ref.type, purpose, access.now(), provider=ref.provider)
             if s.covers(*ref.facets) and s.admits(ref.category)]
    parts += _grants(subject, f"{ref.type}/{ref.id}", ref.provider, session, access)
    return _combine(parts, ref.provider)


def _grants(subject: Subject, resource: str, provider: str, session: Session, access: AccessContext) -> list:
    from concord.agreements.models import AccessGrant

    if not access.book.may_hold_grants(subject.agency):
        return []
    rows = session.scalars(select(AccessGrant).where(
        AccessGrant.resource == resource, AccessGrant.requester_agency == subject.agency,
        AccessGrant.provider == provider,  # a grant counts only from the record's owner: requests name the provider
        AccessGrant.status.in_(("granted", "open")), AccessGrant.expires_at > access.now())).all()
    return [(WHOLE, f"{'break-glass' if g.kind == 'break_glass' else 'grant'}:{g.id}", None) for g in rows
            if g.kind != "break_glass" or g.requester == subject.user_id]


def declaration_scope(subject: Subject, purpose: str | None = None, *, session: Session, access: AccessContext,
                      as_set: bool = False):
    """The WHERE clause of the declarations a subject may list; applied in the query, before paging.

    Two forms of one rule. By default, conditions checked row by row through indexes (the agency's task, its grant,
    the agreement's facets): a page walks the declarations newest first and stops when it is full. `as_set`: the
    ids as a UNION of branches each read through an index, for a count, which must visit every visible row."""
    from concord.agreements.models import AccessGrant
    from concord.clearance.models import AgencyTask
    from concord.declarations.models import Declaration as D

    if subject.is_trader:
        return D.trader_id == subject.trader_id
    if subject.lead and subject.has("officer", "supervisor", "auditor", "administrator"):
        return true()
    if not subject.has(*READERS):
        return false()
    now, lead = access.now(), access.lead_of(session)
    E = aliased(D) if as_set else D  # the branches' own declarations, not correlated to the outer query's
    agreed = [_condition(s, E) for s in access.book.matching(subject.agency, "declaration", purpose, now, provider=lead)]
    prefix = "declaration/"
    grant = (AccessGrant.requester_agency == subject.agency, AccessGrant.provider == lead,
             AccessGrant.status.in_(("granted", "open")), AccessGrant.expires_at > now,
             or_(AccessGrant.kind != "break_glass", AccessGrant.requester == subject.user_id))
    if not as_set:
        engaged = exists(select(AgencyTask.id).where(
            AgencyTask.declaration_id == D.id, AgencyTask.agency == subject.agency,
            AgencyTask.declaration_version == D.version))
        granted = exists(select(AccessGrant.id).where(AccessGrant.resource == literal(prefix) + D.id, *grant))
        return or_(engaged, granted, *agreed)
    engaged = select(AgencyTask.declaration_id).join(E, and_(
        E.id == AgencyTask.declaration_id, E.version == AgencyTask.declaration_version)).where(
        AgencyTask.agency == subject.agency)
    granted = select(func.substr(AccessGrant.resource, len(prefix) + 1)).where(
        AccessGrant.resource.startswith(prefix, autoescape=True), *grant)
    return D.id.in_(union(engaged, granted, *[select(E.id).where(c) for c in agreed]))


def _condition(scope, D):
    clauses = []
    if scope.hs_chapters:
        clauses.append(or_(*[D.hs_chapters.contains(f",{c},") for c in sorted(scope.hs_chapters)]))
    if scope.origins:
        clauses.append(or_(*[D.origins.contains(f",{o},") for o in sorted(scope.origins)]))
    if scope.offices:
        clauses.append(D.office_of_entry.in_(sorted(scope.offices)))
    return and_(true(), *clauses)
