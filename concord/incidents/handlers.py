"""Incidents and seizures: reported by an agency, triaged, responded to, closed with a post-incident review."""

from __future__ import annotations

import hashlib

from pydantic import ValidationError

from concord.access.policy import Ref, authorize
from concord.bounds import media_of
from concord.errors import Conflict, Forbidden, InvalidDocument, NotFound, Problem, problems_from
from concord.ids import new_id
from concord.incidents.messages import AddAttachment, ChangeIncidentStatus, IncidentRecorded, IncidentStatusChanged, \
    RecordIncident
from concord.incidents.models import NEXT_STATUS, Attachment, Incident, IncidentAttachment, IncidentEntry
from concord.incidents.schemas import IncidentIn, ReviewIn

MAX_ATTACHMENT = 8 << 20  # a report or a phone's photo; video belongs in the agency's evidence system
ATTACHMENT_TYPES = ("image/jpeg", "image/png", "application/pdf")  # what an incident may carry (bounds.media_of)


def require_officer(subject, what: str) -> None:
    if subject is None or subject.agency is None or not subject.has("officer", "supervisor"):
        raise Forbidden(f"only an agency's officers and supervisors {what}")


def incident_ref(i: Incident) -> Ref:
    """The incident as the policy decision point knows it: owner, facets for agreements' conditions, category."""
    return Ref("incident", i.id, i.owner_agency, (i.hs_chapters, i.origins, i.office_of_entry), i.category)


def owner_of(session, ident: str) -> str | None:
    """The agency that owns an incident, for access requests (bootstrap.RESOURCE_OWNERS)."""
    i = session.get(Incident, ident)
    return i.owner_agency if i is not None else None


def _facet(values) -> str:
    return "," + ",".join(sorted({v for v in values if v})) + ","


def shared_with(i: Incident, access) -> dict[str, str]:
    """Agency -> the agreement (KEY/vN) whose incident scope shares this incident with it now, for any purpose:
    the agencies its events reach besides the owner (concord.incidents.audiences)."""
    out: dict[str, str] = {}
    for s in access.book.scopes():
        if (s.resource == "incident" and s.provider == i.owner_agency and s.in_force(access.now())
                and s.covers(i.hs_chapters, i.origins, i.office_of_entry) and s.admits(i.category)):
            for agency in sorted(s.recipients - {i.owner_agency}):
                out.setdefault(agency, s.agreement)
    return out


def record_incident(cmd: RecordIncident, uow, *, access) -> dict:
    """An agency reports what it found, where and when; the incident is its own, shared only under agreements."""
    subject = uow.subject
    require_officer(subject, "report incidents")
    try:
        doc = IncidentIn.model_validate(cmd.document)
    except ValidationError as e:
        raise InvalidDocument("the incident has faults; nothing was stored", problems_from(e)) from None
    data = doc.model_dump(mode="json")
    with uow:
        now = uow.clock.now()
        i = Incident(id=new_id("INC"), owner_agency=subject.agency, reported_by=subject.user_id,
                     category=doc.category, severity=doc.severity, status="reported", title=doc.title,
                     summary=doc.summary, occurred_at=doc.occurred_at, location=data["location"], found=data["found"],
                     declarations=doc.declarations, containers=doc.containers, conveyance=doc.conveyance,
                     parties=data["parties"], indicators=data["indicators"], review=None,
                     hs_chapters=_facet(f.hs_code[:2] for f in doc.found if f.hs_code),
                     origins=_facet(f.origin for f in doc.found), office_of_entry=doc.location.office or "",
                     reported_at=now, updated_at=now)
        uow.session.add(i)
        uow.session.flush()
        _entry(uow, i, "reported", f"{doc.category} reported by {subject.agency}")
        uow.record(IncidentRecorded(agency=i.owner_agency, incident_id=i.id, owner_agency=i.owner_agency,
                                    category=i.category, severity=i.severity, indicators=i.indicators))
        # the agencies its event stream reaches under agreements, in the log: a push is a disclosure too
        uow.audit("incident:recorded", f"incident/{i.id}", owner=i.owner_agency,
                  detail={"category": i.category, "shared_with": shared_with(i, access)})
        uow.commit()
        return {"id": i.id, "status": i.status}


def _entry(uow, i: Incident, kind: str, text: str) -> None:
    uow.session.add(IncidentEntry(id=new_id("IEN"), incident_id=i.id, at=uow.clock.now(), actor=uow.subject.user_id,
                                  kind=kind, text=text))


def _owned(uow, incident_id: str, what: str, access) -> Incident:
    """The incident, for a change by its owner agency; others learn it exists only if they may read it."""
    subject = uow.subject
    i = uow.session.get(Incident, incident_id, with_for_update=True)
    if i is None:
        raise NotFound(f"incident {incident_id} not found")
    if subject.agency != i.owner_agency or not subject.has("officer", "supervisor"):
        if not authorize(subject, "read", incident_ref(i), None, session=uow.session, access=access).allowed:
            raise NotFound(f"incident {incident_id} not found")
        raise Forbidden(f"only officers of {i.owner_agency} {what}")
    return i


def change_incident_status(cmd: ChangeIncidentStatus, uow, *, access) -> dict:
    """reported -> triaged -> responding -> closed; closing needs the post-incident review."""
    with uow:
        i = _owned(uow, cmd.incident_id, "change its status", access)
        if cmd.status not in NEXT_STATUS[i.status]:
            allowed = ", ".join(NEXT_STATUS[i.status]) or "nothing: it is closed"
            raise Conflict(f"incident {i.id} is {i.status}; it can become {allowed}")
        if cmd.status == "closed":
            if cmd.review is None:
                raise InvalidDocument("closing needs the post-incident review",
                                      [Problem("/review", "give summary, what_worked and to_improve")])
            try:
                i.review = ReviewIn.model_validate(cmd.review).model_dump() | {"by": uow.subject.user_id,
                                                                              "at": uow.clock.now().isoformat()}
            except ValidationError as e:
                raise InvalidDocument("the review has faults; nothing was stored", problems_from(e, ("review",)))
        i.status, i.updated_at = cmd.status, uow.clock.now()
        _entry(uow, i, cmd.status, cmd.note or f"status {cmd.status}")
        uow.record(IncidentStatusChanged(agency=i.owner_agency, incident_id=i.id, owner_agency=i.owner_agency,
                                         status=i.status))
        uow.audit(f"incident:{i.status}", f"incident/{i.id}", owner=i.owner_agency)
        uow.commit()
        return {"id": i.id, "status": i.status}


def sniff(data: bytes, declared: str) -> str:
    """The content's media type, which must be the declared one: JPEG, PNG or PDF by their magic bytes."""
    found = media_of(data)
    if found not in ATTACHMENT_TYPES:
        raise InvalidDocument("the attachment is not a JPEG, PNG or PDF file",
                              [Problem("", "send a photo (JPEG, PNG) or a report (PDF)")])
    if declared.split(";")[0].strip().lower() != found:
        raise InvalidDocument("the attachment's content type does not match its content",
                              [Problem("", f"the content is {found}; send it with Content-Type: {found}")])
    return found


def add_attachment(cmd: AddAttachment, uow, *, access) -> dict:
    """Attach a photo or report, stored once by its SHA-256; the same file again answers the same address."""
    if len(cmd.data) > MAX_ATTACHMENT:
        raise InvalidDocument("the attachment is too large", [Problem("", f"send at most {MAX_ATTACHMENT:,} bytes")])
    name = cmd.name.strip()
    if not 1 <= len(name) <= 200 or "\x00" in name:
        raise InvalidDocument("name the attachment", [Problem("/name", "1 to 200 characters, e.g. container.jpg")])
    media_type = sniff(cmd.data, cmd.media_type)
    digest = hashlib.sha256(cmd.data).hexdigest()
    with uow:
        s = uow.session
        i = _owned(uow, cmd.incident_id, "attach files to it", access)
        if s.get(Attachment, digest) is None:
            s.add(Attachment(sha256=digest, media_type=media_type, size=len(cmd.data), data=cmd.data,
                             stored_at=uow.clock.now()))
        replayed = s.get(IncidentAttachment, (i.id, digest)) is not None
        if not replayed:
            s.add(IncidentAttachment(incident_id=i.id, sha256=digest, name=name, added_by=uow.subject.user_id,
                                     added_at=uow.clock.now()))
            _entry(uow, i, "attachment", f"{name} ({media_type}, {len(cmd.data):,} bytes)")
            i.updated_at = uow.clock.now()
            uow.audit("incident:attachment:added", f"incident/{i.id}", owner=i.owner_agency,
                      detail={"sha256": digest, "media_type": media_type, "size": len(cmd.data)})
        uow.commit()
        return {"incident_id": i.id, "sha256": digest, "media_type": media_type, "size": len(cmd.data),
                "replayed": replayed}
