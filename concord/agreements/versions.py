"""The versions of one agreement key: which is current, and whose signatures a proposed version needs."""

from __future__ import annotations

from sqlalchemy import select

from concord.agreements.models import SharingAgreement
from concord.agreements.schemas import AgreementIn
from concord.errors import Problem, pointer
from concord.ids import new_id

IN_FORCE = ("active", "suspended")
TOOK_EFFECT = IN_FORCE + ("superseded", "revoked", "expired")
PENDING = ("draft", "awaiting_signatures")


def versions(session, key: str, lock: bool = False) -> list[SharingAgreement]:
    """Every version of `key`, newest first; `lock` holds them until commit (PostgreSQL)."""
    q = select(SharingAgreement).where(SharingAgreement.key == key).order_by(SharingAgreement.version.desc())
    return list(session.scalars(q.with_for_update() if lock else q))


def current_version(rows: list[SharingAgreement], excluding: str | None = None) -> SharingAgreement | None:
    """The version whose parties decide on the next: the one in force, else the last that was, else the first draft."""
    rows = [a for a in rows if a.id != excluding]
    for statuses in (IN_FORCE, TOOK_EFFECT):
        found = next((a for a in rows if a.status in statuses), None)
        if found is not None:
            return found
    return rows[-1] if rows else None


def signers(session, a: SharingAgreement) -> set[str]:
    """The agencies whose signature version `a` needs: its parties and, while proposed, those of the current one."""
    needed = set(a.parties())
    if a.status in PENDING or a.status is None:
        current = current_version(versions(session, a.key), excluding=a.id)
        if current is not None and current.version < a.version:
            needed |= set(current.parties())
    return needed


def same_content(a: SharingAgreement, doc: AgreementIn) -> bool:
    """Does version `a` say exactly what `doc` says (signatures aside)?"""
    return (a.title, a.provider, a.recipients, a.purposes, a.legal_basis, a.scopes, a.handling, a.valid_from,
            a.valid_until) == (doc.title, doc.provider, doc.recipients, doc.purposes, doc.legal_basis,
                               [s.model_dump(mode="json") for s in doc.scopes], doc.handling.model_dump(),
                               doc.valid_from, doc.valid_until)


def check_agencies(doc: AgreementIn, known: set, prefix: tuple = ()) -> list[Problem]:
    """Problems for every provider or recipient that is not a known agency."""
    problems = []
    if doc.provider not in known:
        problems.append(Problem(pointer(*prefix, "provider"), f"unknown agency '{doc.provider}'"))
    for i, r in enumerate(doc.recipients):
        if r not in known:
            problems.append(Problem(pointer(*prefix, "recipients", i), f"unknown agency '{r}'"))
    return problems


def new_version(uow, doc: AgreementIn, version: int, created_by: str) -> SharingAgreement:
    """Store `doc` as a draft version of its key."""
    now = uow.clock.now()
    a = SharingAgreement(id=new_id("AGR"), key=doc.key, version=version, title=doc.title, provider=doc.provider,
                         recipients=doc.recipients, purposes=doc.purposes, legal_basis=doc.legal_basis,
                         scopes=[s.model_dump(mode="json") for s in doc.scopes], handling=doc.handling.model_dump(),
                         valid_from=doc.valid_from, valid_until=doc.valid_until, status="draft",
                         created_by=created_by, created_at=now, changed_at=now, status_reason=None)
    uow.session.add(a)
    uow.session.flush()
    return a
