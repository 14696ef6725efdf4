"""The event stream's audiences for incidents, notices and operations: each event leaves once per agency entitled
to the record, cut by the same exit rule as a read (concord.access.exits), never to anyone else.

- incident.*: the owner agency whole; an agency an agreement's `incident` scope entitles (for any of the
  agreement's purposes: a stream states none, and the agreement names them all) the scope's fields; an agency
  holding a granted access request, whole.
- notice.issued: the issuer whole; each agency it was delivered to, while its agreement is in force, the fields
  of its scope. Feedback events: the issuer and the agency concerned.
- operation.*: the agencies with a member in the operation (its own records only).

Every payload key has a class here: a key nobody classified raises `Unclassified` (a bug, never sent)."""

from __future__ import annotations

from sqlalchemy import select

from concord.access.exits import Lens, Unclassified, cut, doc, envelope
from concord.access.policy import WHOLE, Decision
from concord.access.records import NoticeAt, notice
from concord.messaging.audiences import audience_token, stream_subject

ENVELOPE = frozenset(("incident_id", "notice_id", "operation_id", "owner_agency", "lead_agency", "status",
                      "from_agency", "recipient", "task_id", "owner", "due_at", "level", "to_user", "to_agency",
                      "user_id", "role", "message_id", "author", "result"))
DOCUMENT = {"category": "/category", "severity": "/severity", "indicators": "/indicators",
            "valid_until": "/valid_until", "feedback_due_at": "/feedback_due_at",
            "recommended_action": "/recommended_action"}


def _model(payload: dict) -> dict:
    out = {}
    for k, v in payload.items():
        if k in ENVELOPE:
            out[k] = envelope(v)
        elif k in DOCUMENT:
            out[k] = doc(v, DOCUMENT[k])
        else:
            raise Unclassified(f"event field {k!r} has no class")
    return out


def audiences(session, row: dict, access) -> list[tuple[str, str, dict]]:
    """(audience, agency, payload) for each agency entitled to this incident, notice or operation event."""
    kind = row["name"].split(".", 1)[0]
    entitled = {"incident": _incident, "notice": _notice, "operation": _operation}[kind](session, row, access)
    model = _model(row["payload"])
    out = []
    for agency, decision in sorted(entitled.items()):
        subject = stream_subject(audience_token(agency), None, agency, False)
        lens = Lens(subject, decision, None, session, access=access)
        out.append((audience_token(agency), row["agency"], cut(model, lens)))
    return out


def _incident(session, row, access) -> dict:
    from concord.agreements.models import AccessGrant
    from concord.incidents.models import Incident

    i = session.get(Incident, row["payload"]["incident_id"])
    owner = row["payload"]["owner_agency"]
    entitled = {owner: Decision(True, WHOLE, "own-agency")}
    if i is None:
        return entitled
    now = access.now()
    for s in access.book.scopes():
        if (s.resource == "incident" and s.provider == owner and s.in_force(now)
                and s.covers(i.hs_chapters, i.origins, i.office_of_entry) and s.admits(i.category)):
            for agency in s.recipients - {owner}:  # the same scopes as handlers.shared_with, with their fields
                seen = entitled.get(agency)
                fields = set(s.fields) | (set(seen.view) if seen else set())
                entitled[agency] = Decision(True, WHOLE if "/" in fields else tuple(sorted(fields)), "agreement")
    for agency in session.scalars(select(AccessGrant.requester_agency).where(
            AccessGrant.resource == f"incident/{i.id}", AccessGrant.provider == owner, AccessGrant.kind == "request",
            AccessGrant.status == "granted", AccessGrant.expires_at > now)):
        entitled[agency] = Decision(True, WHOLE, "grant")
    return entitled


def _notice(session, row, access) -> dict:
    from concord.incidents.models import Notice, NoticeDelivery

    p = row["payload"]
    entitled = {p["owner_agency"]: Decision(True, WHOLE, "own-agency")}
    if row["name"] == "notice.feedback_given":
        return entitled | {p["from_agency"]: Decision(True, WHOLE, "own-feedback")}
    if row["name"] == "notice.feedback_overdue":
        return entitled | {p["recipient"]: Decision(True, WHOLE, "own-delivery")}
    n = session.get(Notice, p["notice_id"])
    if n is None:
        return entitled
    for agency in session.scalars(select(NoticeDelivery.agency).where(NoticeDelivery.notice_id == n.id)):
        decision = notice(stream_subject(audience_token(agency), None, agency, False), "read",
                          NoticeAt(n.id, n.issuer_agency, n.purpose), session, access)
        if decision.allowed:
            entitled[agency] = decision
    return entitled


def _operation(session, row, access) -> dict:
    from concord.incidents.models import OperationMember

    p = row["payload"]
    agencies = set(session.scalars(select(OperationMember.agency).where(
        OperationMember.operation_id == p["operation_id"]))) | {p["lead_agency"]}
    return {a: Decision(True, WHOLE, "operation-member") for a in agencies}
