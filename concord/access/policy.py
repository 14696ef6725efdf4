"""The policy decision point: one function decides who may see what, for every exit path."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, select, true
from sqlalchemy.orm import Session

from concord.access.identity import Subject
from concord.errors import NotFound

WHOLE = ("/",)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    view: tuple[str, ...] = ()  # JSON pointers the subject may see; ("/",) is the whole record
    basis: str | None = None  # the role, engagement or agreement that allowed it

    def require(self, what: str) -> Decision:
        if not self.allowed:
            raise NotFound(f"{what} not found")  # never confirm that a hidden record exists
        return self


DENY = Decision(False)


def authorize(subject: Subject, action: str, resource, purpose: str | None = None, *, session: Session) -> Decision:
    """Decide whether subject may do action on resource, with the view it may see and why."""
    from concord.declarations.models import Declaration

    if isinstance(resource, Declaration):
        return _declaration(subject, action, resource, session)
    return DENY


def _declaration(subject: Subject, action: str, d, session: Session) -> Decision:
    from concord.clearance.models import AgencyTask

    if subject.is_trader:
        if d.trader_id == subject.trader_id and action in ("read", "amend", "cancel", "supply_documents"):
            return Decision(True, WHOLE, "owner")
        return DENY
    if subject.lead and subject.has("officer", "supervisor", "auditor", "administrator"):
        return Decision(True, WHOLE, "role:lead-agency")
    if action != "read" or not subject.has("officer", "supervisor", "auditor"):
        return DENY
    tasks = session.scalars(select(AgencyTask).where(
        AgencyTask.declaration_id == d.id, AgencyTask.agency == subject.agency,
        AgencyTask.declaration_version == d.version)).all()
    if not tasks:
        return DENY
    fields = sorted({f for t in tasks for f in t.fields})
    rules = sorted({r["rule"] for t in tasks for r in t.reasons})
    return Decision(True, tuple(fields), "engagement:" + ",".join(rules))


def declaration_scope(subject: Subject):
    """The WHERE clause of the declarations a subject may list; applied in the query, before paging."""
    from concord.clearance.models import AgencyTask
    from concord.declarations.models import Declaration

    if subject.is_trader:
        return Declaration.trader_id == subject.trader_id
    if subject.lead and subject.has("officer", "supervisor", "auditor", "administrator"):
        return true()
    if not subject.has("officer", "supervisor", "auditor"):
        return Declaration.id.is_(None)
    return exists(select(AgencyTask.id).where(and_(
        AgencyTask.declaration_id == Declaration.id, AgencyTask.agency == subject.agency,
        AgencyTask.declaration_version == Declaration.version)))
