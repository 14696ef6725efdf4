"""Agreement lifecycle: propose, sign, activate, withdraw (suspend), resume, revoke.

The mandate: only a party of the current version proposes the next; a version takes effect when every
party of the current version and of the new one has signed; a party that withdraws its signature
suspends the agreement for all, until that party signs again. Access requests and break-glass live in
grants.py, the config's `agreements:` section in configured.py (both re-exported for the wiring)."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import delete, select

from concord.agreements.configured import store_config_section, validate_config_section  # noqa: F401
from concord.agreements.grants import (break_glass, decide_access_request,  # noqa: F401
                                       grant_view, request_access)
from concord.agreements.messages import AgreementChanged, ChangeAgreementStatus, DraftAgreement, SignAgreement
from concord.agreements.models import AgreementSignature, SharingAgreement
from concord.agreements.schemas import AgreementIn
from concord.agreements.versions import (IN_FORCE, PENDING, TOOK_EFFECT, check_agencies, current_version,
                                         new_version, signers, versions)
from concord.errors import Conflict, Forbidden, InvalidDocument, NotFound, Problem, problems_from


def _changed(uow, a: SharingAgreement, verb: str, **detail) -> None:
    a.changed_at = uow.clock.now()
    uow.record(AgreementChanged(agency=a.provider, agreement_id=a.id, key=a.key, version=a.version, status=a.status))
    uow.audit(f"agreement:{verb}", f"agreement/{a.key}/v{a.version}", owner=a.provider,
              detail={"status": a.status, **detail})


def _require(subject, a: SharingAgreement, agencies, what: str, session) -> None:
    """Refuse anyone but a liaison of `agencies`; who cannot see the agreement is told it does not exist."""
    if subject.agency not in agencies or not subject.has("liaison"):
        if not (subject.has("auditor") or subject.agency in involved(session, a)):
            raise NotFound(f"agreement {a.id} not found")
        raise Forbidden(f"only the liaison officer of {' or '.join(sorted(agencies))} can {what}")


def involved(session, a: SharingAgreement) -> set:
    """The agencies that see a version: its parties and, while it is pending, every agency that must sign it."""
    return set(a.parties()) | (signers(session, a) if a.status in PENDING else set())


def draft_agreement(cmd: DraftAgreement, uow, *, directory, book) -> dict:
    """A liaison drafts a new agreement (as a party of it) or proposes a new version (as a party of the current)."""
    try:
        doc = AgreementIn.model_validate(cmd.document)
    except ValidationError as e:
        raise InvalidDocument("the agreement has faults; nothing was stored", problems_from(e)) from None
    subject = uow.subject
    with uow:
        s = uow.session
        problems = check_agencies(doc, set(directory.current(s).agencies))
        if problems:
            raise InvalidDocument("the agreement names unknown agencies", problems)
        if not subject.has("liaison"):
            raise Forbidden("only an agency's liaison officer drafts agreements")
        rows = versions(s, doc.key, lock=True)
        current = current_version(rows)
        if cmd.amend:
            if current is None or subject.agency not in current.parties():  # non-parties: as if there were none
                raise NotFound(f"no agreement '{doc.key}' to amend")
        else:
            if subject.agency not in (doc.provider, *doc.recipients):
                raise Forbidden(f"only the liaison officer of a party ({doc.provider} or "
                                f"{', '.join(doc.recipients)}) drafts this agreement")
            if current is not None:  # a key is unique: choosing one cannot help but learn it is taken
                raise Conflict(f"agreement key '{doc.key}' is taken; choose another key, "
                               "or amend it if you are a party")
        a = new_version(uow, doc, (rows[0].version if rows else 0) + 1, subject.user_id)
        _changed(uow, a, "amended" if cmd.amend else "drafted", signers=sorted(signers(s, a)))
        uow.commit()
        return view(a, [], s)


def sign_agreement(cmd: SignAgreement, uow, *, book) -> dict:
    """A liaison of an agency that must sign does so; with every signature the version takes effect."""
    subject = uow.subject
    with uow:
        s = uow.session
        a = s.get(SharingAgreement, cmd.agreement_id, with_for_update=True)
        if a is None:
            raise NotFound(f"agreement {cmd.agreement_id} not found")
        versions(s, a.key, lock=True)  # serialise with other changes of the same agreement
        _require(subject, a, signers(s, a) if a.status in PENDING else a.parties(), "sign it", s)
        if a.status not in PENDING:
            raise Conflict(f"agreement {a.key} v{a.version} is {a.status}; only proposed versions are signed"
                           + (" (a suspended one is resumed through its status)" if a.status == "suspended" else ""))
        newer = [v.version for v in versions(s, a.key) if v.status in TOOK_EFFECT and v.version > a.version]
        if newer:
            raise Conflict(f"v{max(newer)} of {a.key} took effect after v{a.version} was proposed; "
                           "propose a new version")
        if s.get(AgreementSignature, (a.id, subject.agency)) is not None:
            raise Conflict(f"{subject.agency} has already signed {a.key} v{a.version}")
        _sign(uow, a)
        _settle_signatures(uow, a)
        uow.commit()
        out = view(a, _signatures(s, a), s)
    book.invalidate()
    return out


def _sign(uow, a: SharingAgreement) -> None:
    uow.session.add(AgreementSignature(agreement_id=a.id, agency=uow.subject.agency, signed_by=uow.subject.user_id,
                                       signed_at=uow.clock.now()))
    uow.session.flush()


def _signatures(session, a) -> list:
    return list(session.scalars(select(AgreementSignature).where(AgreementSignature.agreement_id == a.id)
                                .order_by(AgreementSignature.agency)))


def _settle_signatures(uow, a: SharingAgreement) -> None:
    """Activate a proposed version once every agency that must sign has; it supersedes every older version."""
    s = uow.session
    signed = {sig.agency for sig in _signatures(s, a)}
    missing = signers(s, a) - signed
    if missing:
        a.status = "awaiting_signatures"
        _changed(uow, a, "signed", missing=sorted(missing))
        return
    for old in versions(s, a.key):
        if old.version < a.version and old.status in IN_FORCE + PENDING:
            old.status = "superseded"
            _changed(uow, old, "superseded", by_version=a.version)
    a.status = "active" if a.valid_until > uow.clock.now() else "expired"
    _changed(uow, a, "activated", signatures=sorted(signed))


def change_agreement_status(cmd: ChangeAgreementStatus, uow, *, book) -> dict:
    """Withdraw (suspend: any party, for all), sign again (resume: the party that withdrew), revoke (the provider)."""
    if cmd.status not in ("suspended", "active", "revoked"):
        raise InvalidDocument("unknown status", [Problem("/status", "use suspended, active (resume) or revoked")])
    subject = uow.subject
    with uow:
        s = uow.session
        a = s.get(SharingAgreement, cmd.agreement_id, with_for_update=True)
        if a is None:
            raise NotFound(f"agreement {cmd.agreement_id} not found")
        _require(subject, a, [a.provider] if cmd.status == "revoked" else a.parties(), f"make it {cmd.status}", s)
        if a.status not in IN_FORCE:
            raise Conflict(f"agreement {a.key} v{a.version} is {a.status}; it cannot become {cmd.status}")
        mine = s.get(AgreementSignature, (a.id, subject.agency))
        if cmd.status == "suspended":
            if mine is None:
                raise Conflict(f"{subject.agency} has already withdrawn from {a.key} v{a.version}")
            s.execute(delete(AgreementSignature).where(AgreementSignature.agreement_id == a.id,
                                                       AgreementSignature.agency == subject.agency))
            a.status, verb = "suspended", "suspended"
        elif cmd.status == "active":
            if a.status != "suspended" or mine is not None:
                withdrawn = sorted(set(a.parties()) - {x.agency for x in _signatures(s, a)})
                raise Conflict(f"agreement {a.key} v{a.version} is {a.status}" + (
                    f"; {', '.join(withdrawn)} withdrew and only they resume it by signing again" if withdrawn else ""))
            _sign(uow, a)
            complete = set(a.parties()) <= {x.agency for x in _signatures(s, a)}
            a.status = ("active" if a.valid_until > uow.clock.now() else "expired") if complete else "suspended"
            verb = "resumed" if complete else "signed"
        else:
            a.status, verb = "revoked", "revoked"
        a.status_reason = cmd.reason
        _changed(uow, a, verb, reason=cmd.reason, by_agency=subject.agency)
        uow.commit()
        out = view(a, _signatures(s, a), s)
    book.invalidate()
    return out


def view(a: SharingAgreement, signatures, session=None) -> dict:
    """An agreement version as the API shows it; with a session, the agencies whose signature it still lacks."""
    out = {"id": a.id, "key": a.key, "version": a.version, "title": a.title, "provider": a.provider,
           "recipients": a.recipients, "purposes": a.purposes, "legal_basis": a.legal_basis, "scopes": a.scopes,
           "handling": a.handling, "valid_from": a.valid_from.isoformat(), "valid_until": a.valid_until.isoformat(),
           "status": a.status, "status_reason": a.status_reason,
           "signatures": [{"agency": s.agency, "signed_by": s.signed_by, "signed_at": s.signed_at.isoformat()}
                          for s in signatures]}
    if session is not None:
        needed = signers(session, a) if a.status in PENDING else set(a.parties()) if a.status == "suspended" else set()
        out["awaiting"] = sorted(needed - {s.agency for s in signatures})
    return out
