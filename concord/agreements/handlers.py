"""Agreement lifecycle (draft, sign, activate, suspend, revoke) and time-limited access grants."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import func, select

from concord.agreements.messages import (AccessDecided, AccessRequested, AgreementChanged, BreakGlass,
                                         BreakGlassOpened, ChangeAgreementStatus, DecideAccessRequest,
                                         DraftAgreement, RequestAccess, SignAgreement)
from concord.agreements.models import PURPOSES, AccessGrant, AgreementSignature, SharingAgreement
from concord.agreements.schemas import AgreementIn, ConfigAgreement
from concord.errors import Conflict, Forbidden, InvalidDocument, NotFound, Problem, pointer, problems_from
from concord.ids import new_id

BREAK_GLASS_HOURS = 4


def _provider_of(session, resource: str, lead: str, owners: dict) -> str:
    """`owners`: resource type -> function(session, id) giving the agency that owns the record (None: no such
    record), as bootstrap.RESOURCE_OWNERS wires them."""
    kind, _, ident = resource.partition("/")
    if kind == "declaration":
        from concord.declarations.models import Declaration

        found = session.get(Declaration, ident) is not None
        owner = lead if found else None
    elif kind in owners:
        owner = owners[kind](session, ident)
    else:
        raise InvalidDocument("unknown resource", [Problem("/resource", "use declaration/ID or watchlist_entry/ID")])
    if owner is None:
        raise NotFound(f"{resource} not found")
    return owner


def _liaison_of(subject, agencies, what: str) -> None:
    if not subject.has("liaison") or subject.agency not in agencies:
        raise Forbidden(f"only the liaison officer of {' or '.join(agencies)} can {what}")


def _check_agencies(doc: AgreementIn, known: set, prefix: tuple = ()) -> list[Problem]:
    problems = []
    if doc.provider not in known:
        problems.append(Problem(pointer(*prefix, "provider"), f"unknown agency '{doc.provider}'"))
    for i, r in enumerate(doc.recipients):
        if r not in known:
            problems.append(Problem(pointer(*prefix, "recipients", i), f"unknown agency '{r}'"))
    return problems


def _changed(uow, a: SharingAgreement, verb: str, **detail) -> None:
    a.changed_at = uow.clock.now()
    uow.record(AgreementChanged(agency=a.provider, agreement_id=a.id, key=a.key, version=a.version, status=a.status))
    uow.audit(f"agreement:{verb}", f"agreement/{a.key}/v{a.version}", owner=a.provider,
              detail={"status": a.status, **detail})


def _new_version(uow, doc: AgreementIn, version: int, created_by: str) -> SharingAgreement:
    now = uow.clock.now()
    a = SharingAgreement(id=new_id("AGR"), key=doc.key, version=version, title=doc.title, provider=doc.provider,
                         recipients=doc.recipients, purposes=doc.purposes, legal_basis=doc.legal_basis,
                         scopes=[s.model_dump(mode="json") for s in doc.scopes], handling=doc.handling.model_dump(),
                         valid_from=doc.valid_from, valid_until=doc.valid_until, status="draft",
                         created_by=created_by, created_at=now, changed_at=now, status_reason=None)
    uow.session.add(a)
    uow.session.flush()
    return a


def draft_agreement(cmd: DraftAgreement, uow, *, directory, book) -> dict:
    """A liaison of a party drafts an agreement (or a new version of one); it needs every party's signature."""
    try:
        doc = AgreementIn.model_validate(cmd.document)
    except ValidationError as e:
        raise InvalidDocument("the agreement has faults; nothing was stored", problems_from(e)) from None
    with uow:
        s = uow.session
        problems = _check_agencies(doc, set(directory.current(s).agencies))
        if problems:
            raise InvalidDocument("the agreement names unknown agencies", problems)
        _liaison_of(uow.subject, [doc.provider, *doc.recipients], "draft this agreement")
        last = s.scalar(select(func.max(SharingAgreement.version)).where(SharingAgreement.key == doc.key))
        if cmd.amend and last is None:
            raise NotFound(f"no agreement '{doc.key}' to amend")
        if not cmd.amend and last is not None:
            raise Conflict(f"agreement '{doc.key}' exists; amend it to make a new version")
        a = _new_version(uow, doc, (last or 0) + 1, uow.subject.user_id)
        _changed(uow, a, "amended" if cmd.amend else "drafted")
        uow.commit()
    return view(a, [])


def sign_agreement(cmd: SignAgreement, uow, *, book) -> dict:
    """A party's liaison signs; with every party's signature the version becomes active."""
    with uow:
        s = uow.session
        a = s.get(SharingAgreement, cmd.agreement_id, with_for_update=True)
        if a is None:
            raise NotFound(f"agreement {cmd.agreement_id} not found")
        _liaison_of(uow.subject, a.parties(), "sign it")
        if a.status not in ("draft", "awaiting_signatures"):
            raise Conflict(f"agreement {a.key} v{a.version} is {a.status}; only drafts are signed")
        if s.get(AgreementSignature, (a.id, uow.subject.agency)) is not None:
            raise Conflict(f"{uow.subject.agency} has already signed {a.key} v{a.version}")
        s.add(AgreementSignature(agreement_id=a.id, agency=uow.subject.agency, signed_by=uow.subject.user_id,
                                 signed_at=uow.clock.now()))
        s.flush()
        _settle_signatures(uow, a)
        uow.commit()
    book.invalidate()
    return view(a, _signatures(s, a))


def _signatures(session, a) -> list:
    return list(session.scalars(select(AgreementSignature).where(AgreementSignature.agreement_id == a.id)))


def _settle_signatures(uow, a: SharingAgreement) -> None:
    signed = {sig.agency for sig in _signatures(uow.session, a)}
    if set(a.parties()) <= signed:
        for old in uow.session.scalars(select(SharingAgreement).where(
                SharingAgreement.key == a.key, SharingAgreement.status.in_(("active", "suspended")),
                SharingAgreement.id != a.id)):
            old.status = "superseded"
            _changed(uow, old, "superseded", by_version=a.version)
        a.status = "active" if a.valid_until > uow.clock.now() else "expired"
        _changed(uow, a, "activated", signatures=sorted(signed))
    else:
        a.status = "awaiting_signatures"
        _changed(uow, a, "signed", missing=sorted(set(a.parties()) - signed))


def change_agreement_status(cmd: ChangeAgreementStatus, uow, *, book) -> dict:
    """Suspend (any party), resume or revoke (the provider); it takes effect on the next request."""
    transitions = {"suspended": ("active",), "active": ("suspended",), "revoked": ("active", "suspended")}
    if cmd.status not in transitions:
        raise InvalidDocument("unknown status", [Problem("/status", "use suspended, active (resume) or revoked")])
    with uow:
        a = uow.session.get(SharingAgreement, cmd.agreement_id, with_for_update=True)
        if a is None:
            raise NotFound(f"agreement {cmd.agreement_id} not found")
        _liaison_of(uow.subject, a.parties() if cmd.status == "suspended" else [a.provider], f"make it {cmd.status}")
        if a.status not in transitions[cmd.status]:
            raise Conflict(f"agreement {a.key} v{a.version} is {a.status}; it cannot become {cmd.status}")
        a.status, a.status_reason = cmd.status, cmd.reason
        _changed(uow, a, {"suspended": "suspended", "active": "resumed", "revoked": "revoked"}[cmd.status],
                 reason=cmd.reason)
        uow.commit()
    book.invalidate()
    return view(a, [])


def request_access(cmd: RequestAccess, uow, *, directory, resource_owners) -> dict:
    """Hit / no-hit: ask the owning agency for a record the requester learnt exists but may not see."""
    subject = uow.subject
    if subject.agency is None or not subject.has("officer", "supervisor"):
        raise Forbidden("agency officers request access to other agencies' records")
    _check_request(cmd.purpose, cmd.justification)
    with uow:
        provider = _provider_of(uow.session, cmd.resource, directory.current(uow.session).lead, resource_owners)
        if provider == subject.agency:
            raise Conflict("the record belongs to your own agency")
        g = _grant(uow, "request", cmd.resource, provider, cmd.purpose, cmd.justification, "pending", None)
        uow.record(AccessRequested(agency=provider, request_id=g.id, resource=g.resource,
                                   requester_agency=g.requester_agency, purpose=g.purpose))
        uow.audit("access:requested", cmd.resource, purpose=cmd.purpose, owner=provider, detail={"request": g.id})
        uow.commit()
        return grant_view(g)


def decide_access_request(cmd: DecideAccessRequest, uow, *, book) -> dict:
    """The provider's liaison grants (for a limited time) or refuses an access request."""
    with uow:
        g = uow.session.get(AccessGrant, cmd.request_id, with_for_update=True)
        if g is None or g.kind != "request":
            raise NotFound(f"access request {cmd.request_id} not found")
        _liaison_of(uow.subject, [g.provider], "decide on it")
        if g.status != "pending":
            raise Conflict(f"access request {g.id} is already {g.status}")
        if not 1 <= cmd.hours <= 24 * 90:
            raise InvalidDocument("bad duration", [Problem("/hours", "grant between 1 hour and 90 days")])
        now = uow.clock.now()
        g.status = "granted" if cmd.grant else "refused"
        g.decided_by, g.decided_at, g.decision_reason = uow.subject.user_id, now, cmd.reason
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
        provider = _provider_of(uow.session, cmd.resource, directory.current(uow.session).lead, resource_owners)
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


def view(a: SharingAgreement, signatures) -> dict:
    return {"id": a.id, "key": a.key, "version": a.version, "title": a.title, "provider": a.provider,
            "recipients": a.recipients, "purposes": a.purposes, "legal_basis": a.legal_basis, "scopes": a.scopes,
            "handling": a.handling, "valid_from": a.valid_from.isoformat(), "valid_until": a.valid_until.isoformat(),
            "status": a.status, "status_reason": a.status_reason,
            "signatures": [{"agency": s.agency, "signed_by": s.signed_by, "signed_at": s.signed_at.isoformat()}
                           for s in signatures]}


def grant_view(g: AccessGrant) -> dict:
    return {"id": g.id, "kind": g.kind, "resource": g.resource, "provider": g.provider, "requester": g.requester,
            "requester_agency": g.requester_agency, "purpose": g.purpose, "justification": g.justification,
            "status": g.status, "expires_at": g.expires_at.isoformat() if g.expires_at else None,
            "decided_by": g.decided_by, "decision_reason": g.decision_reason}


# --- the `agreements:` section of the coordination config -------------------------------------------------

def validate_config_section(cfg, rows: list) -> list[Problem]:
    """Agreements in the config are checked like drafted ones, with their path in the document."""
    known = {a["code"] for a in cfg.model_dump()["agencies"]} if cfg is not None else set()
    problems = []
    for i, row in enumerate(rows):
        try:
            doc = ConfigAgreement.model_validate(row)
        except ValidationError as e:
            problems += problems_from(e, ("agreements", i))
            continue
        if cfg is not None:
            problems += _check_agencies(doc, known, ("agreements", i))
        for j, agency in enumerate(doc.signed_by):
            if agency not in [doc.provider, *doc.recipients]:
                problems.append(Problem(pointer("agreements", i, "signed_by", j), f"'{agency}' is not a party"))
    return problems


def store_config_section(uow, cfg, rows: list, version: int) -> None:
    """Each config agreement becomes a new version when it differs from the one in force; signatures recorded."""
    for row in rows:
        doc = ConfigAgreement.model_validate(row)
        s = uow.session
        current = s.scalars(select(SharingAgreement).where(SharingAgreement.key == doc.key)
                            .order_by(SharingAgreement.version.desc())).first()
        if current is not None and view(current, [])["scopes"] == [x.model_dump(mode="json") for x in doc.scopes] \
                and current.purposes == doc.purposes and current.recipients == doc.recipients \
                and current.valid_until == doc.valid_until:
            continue
        a = _new_version(uow, doc, (current.version if current else 0) + 1, f"config/{version}")
        now = uow.clock.now()
        for agency in doc.signed_by:
            s.add(AgreementSignature(agreement_id=a.id, agency=agency, signed_by=f"config/{version}", signed_at=now))
        s.flush()
        _changed(uow, a, "loaded", config_version=version)
        if doc.signed_by:
            _settle_signatures(uow, a)
