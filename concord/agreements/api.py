"""Agreements, access requests, break-glass and access reports through the API."""

import csv
import io
from typing import Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import or_, select

from concord.access.deps import concord_app, current_subject
from concord.agreements import handlers
from concord.agreements.messages import (BreakGlass, ChangeAgreementStatus, DecideAccessRequest, DraftAgreement,
                                         RequestAccess, SignAgreement)
from concord.agreements.models import AccessGrant, SharingAgreement
from concord.agreements.schemas import AgreementIn
from concord.bounds import AGENCY_CODE, BoundedRoute, Timestamp
from concord.errors import Forbidden, InvalidDocument, Problem

router = APIRouter(prefix="/api/v1", tags=["agreements"], route_class=BoundedRoute)
AGREEMENT_STATUSES = Literal["draft", "awaiting_signatures", "active", "suspended", "revoked", "superseded", "expired"]
GRANT_STATUSES = Literal["pending", "granted", "refused", "open"]


class StatusIn(BaseModel):
    status: str = Field(max_length=16, description="suspended, active (resume) or revoked")
    reason: str = Field(min_length=3, max_length=2000)


class AccessRequestIn(BaseModel):
    resource: str = Field(max_length=120, examples=["watchlist_entry/WLE0123"])
    purpose: str = Field(max_length=40)
    justification: str = Field(max_length=2000)
    provider: str | None = Field(None, max_length=16,
                                 description="the agency to ask: a hit's ask_agency (needed for a watchlist "
                                             "entry; a declaration's is the lead agency)")


class AccessDecisionIn(BaseModel):
    grant: bool
    reason: str = Field(min_length=3, max_length=2000)
    hours: int = Field(72, ge=1, le=24 * 366)


@router.get("/agreements")
def list_agreements(status: AGREEMENT_STATUSES | None = None, subject=Depends(current_subject), app=Depends(concord_app)):
    """Agreements the caller's agency is party to or must sign (auditors: all), newest version first."""
    with app.sessions() as s:
        q = select(SharingAgreement).order_by(SharingAgreement.key, SharingAgreement.version.desc())
        if status:
            q = q.where(SharingAgreement.status == status)
        rows = [a for a in s.scalars(q) if subject.has("auditor") or subject.agency in handlers.involved(s, a)]
        return [handlers.view(a, handlers._signatures(s, a), s) for a in rows]


@router.post("/agreements", status_code=201)
def draft(body: AgreementIn, subject=Depends(current_subject), app=Depends(concord_app)):
    return app.bus.handle(DraftAgreement(document=body.model_dump(mode="json")), subject=subject)


@router.put("/agreements/{key}")
def amend(key: str, body: AgreementIn, subject=Depends(current_subject), app=Depends(concord_app)):
    """A new version of agreement `key`; it replaces the active one once every party has signed it."""
    if body.key != key:
        raise InvalidDocument("the key is the agreement's identity", [Problem("/key", f"must be '{key}'")])
    return app.bus.handle(DraftAgreement(document=body.model_dump(mode="json"), amend=True), subject=subject)


@router.post("/agreements/{agreement_id}/signatures")
def sign(agreement_id: str, subject=Depends(current_subject), app=Depends(concord_app)):
    return app.bus.handle(SignAgreement(agreement_id=agreement_id), subject=subject)


@router.post("/agreements/{agreement_id}/status")
def change_status(agreement_id: str, body: StatusIn, subject=Depends(current_subject), app=Depends(concord_app)):
    return app.bus.handle(ChangeAgreementStatus(agreement_id=agreement_id, status=body.status, reason=body.reason),
                          subject=subject)


@router.post("/access-requests", status_code=201)
def request_access(body: AccessRequestIn, subject=Depends(current_subject), app=Depends(concord_app)):
    """Ask the owning agency for a record a hit revealed (hit / no-hit)."""
    return app.bus.handle(RequestAccess(resource=body.resource, purpose=body.purpose,
                                        justification=body.justification, provider=body.provider), subject=subject)


@router.get("/access-requests")
def list_requests(status: GRANT_STATUSES | None = Query(None), subject=Depends(current_subject), app=Depends(concord_app)):
    """Requests and break-glass grants concerning the caller's agency, as provider or requester."""
    with app.sessions() as s:
        q = select(AccessGrant).where(or_(AccessGrant.provider == subject.agency,
                                          AccessGrant.requester_agency == subject.agency))
        if status:
            q = q.where(AccessGrant.status == status)
        return [handlers.grant_view(g) for g in s.scalars(q.order_by(AccessGrant.requested_at.desc()).limit(500))]


@router.post("/access-requests/{request_id}/decision")
def decide(request_id: str, body: AccessDecisionIn, subject=Depends(current_subject), app=Depends(concord_app)):
    return app.bus.handle(DecideAccessRequest(request_id=request_id, grant=body.grant, reason=body.reason,
                                              hours=body.hours), subject=subject)


@router.post("/break-glass", status_code=201)
def break_glass(body: AccessRequestIn, subject=Depends(current_subject), app=Depends(concord_app)):
    """Open one record in an emergency: time-limited, flagged in the log, the owner's liaison notified."""
    return app.bus.handle(BreakGlass(resource=body.resource, purpose=body.purpose,
                                     justification=body.justification, provider=body.provider), subject=subject)


REPORT_COLUMNS = ("seq", "at", "actor", "agency", "action", "resource", "purpose", "agreement", "outcome", "count")


@router.get("/access-reports", responses={200: {"content": {"application/json": {}, "text/csv": {
    "schema": {"type": "string", "description": "the same entries as CSV, with a header row"}}}}})
def access_report(agency: str = Query(pattern=AGENCY_CODE, description="agency code, e.g. NPPO"),
                  since: Timestamp | None = None, until: Timestamp | None = None,
                  format: str = Query("json", pattern="^(json|csv)$"), limit: int = Query(1000, ge=1, le=100000),
                  subject=Depends(current_subject), app=Depends(concord_app)):
    """Who read or requested which of an agency's data, when, under which agreement, for which purpose.

    Denied reads are there too (outcome `denied`), as counted summaries: `count` is how many reads a row stands for."""
    import json

    from concord.audit.models import AuditEntry

    if not (subject.has("auditor") or (subject.has("liaison") and subject.agency == agency)):
        raise Forbidden(f"access reports of {agency} are for its liaison officer and auditors")
    with app.sessions() as s:
        # A trader's entries have no agency: NULL != agency is not true in SQL, so it is said outright.
        q = select(AuditEntry).where(AuditEntry.owner == agency, or_(AuditEntry.agency.is_(None),
                                                                     AuditEntry.agency != agency),
                                     or_(AuditEntry.action.like("%:read"), AuditEntry.action.like("access:%")))
        if since:
            q = q.where(AuditEntry.at >= since)
        if until:
            q = q.where(AuditEntry.at < until)
        rows = [{c: (getattr(e, c).isoformat() if c == "at" else getattr(e, c)) for c in REPORT_COLUMNS[:-1]}
                | {"count": json.loads(e.body).get("detail", {}).get("count", 1)}
                for e in s.scalars(q.order_by(AuditEntry.seq).limit(limit))]
    if format == "json":
        return {"agency": agency, "entries": rows}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="access-report-{agency}.csv"'})
