"""Risk information notices: issued by an agency, delivered to the agencies its agreements entitle, answered with
feedback (action taken, result) by a deadline. The feedback measures the notice: its hit rate."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import select

from concord.access.records import NoticeAt, notice as notice_decision
from concord.errors import Conflict, Forbidden, InvalidDocument, NotFound, Problem, problems_from
from concord.ids import new_id
from concord.incidents.handlers import require_officer
from concord.incidents.messages import (CheckNoticeFeedback, GiveNoticeFeedback, IssueNotice, NoticeFeedbackGiven,
                                        NoticeFeedbackOverdue, NoticeIssued)
from concord.incidents.models import Notice, NoticeDelivery
from concord.incidents.schemas import FeedbackIn, NoticeIn


def entitled(book, issuer: str, purpose: str, at) -> dict[str, str]:
    """Agency -> the agreement (KEY/vN) that entitles it to the issuer's notices for the purpose now."""
    out: dict[str, str] = {}
    for s in book.scopes():
        if s.resource == "notice" and s.provider == issuer and purpose in s.purposes and s.in_force(at):
            for agency in sorted(s.recipients):
                out.setdefault(agency, s.agreement)
    return out


def issue_notice(cmd: IssueNotice, uow, *, book, access) -> dict:
    """Issue a notice to every agency an agreement in force entitles (or the ones named among them)."""
    subject = uow.subject
    require_officer(subject, "issue notices")
    try:
        doc = NoticeIn.model_validate(cmd.document)
    except ValidationError as e:
        raise InvalidDocument("the notice has faults; nothing was stored", problems_from(e)) from None
    now = uow.clock.now()
    problems = [Problem(f"/{k}", "must be in the future") for k, v in
                (("valid_until", doc.valid_until), ("feedback_due_at", doc.feedback_due_at)) if v <= now]
    if problems:
        raise InvalidDocument("the notice's dates have passed", problems)
    allowed = entitled(book, subject.agency, doc.purpose, now)
    if doc.recipients is not None:
        problems = [Problem(f"/recipients/{n}", f"no agreement in force entitles {a} to {subject.agency}'s notices "
                            f"for {doc.purpose}") for n, a in enumerate(doc.recipients) if a not in allowed]
        if problems:
            raise InvalidDocument("a recipient is not entitled", problems)
        allowed = {a: allowed[a] for a in doc.recipients}
    if not allowed:
        raise Conflict(f"no agreement in force lets {subject.agency} send notices for {doc.purpose}; "
                       "draft one with a 'notice' scope first")
    data = doc.model_dump(mode="json")
    with uow:
        if doc.incident_id is not None:  # the incident it comes from: one the issuer may read, else as if missing
            from concord.access.policy import authorize
            from concord.incidents.handlers import incident_ref
            from concord.incidents.models import Incident

            i = uow.session.get(Incident, doc.incident_id)
            if i is None or not authorize(subject, "read", incident_ref(i), None, session=uow.session,
                                          access=access).allowed:
                raise NotFound(f"incident {doc.incident_id} not found")
        n = Notice(id=new_id("NTC"), issuer_agency=subject.agency, issued_by=subject.user_id, purpose=doc.purpose,
                   title=doc.title, summary=doc.summary, indicators=data["indicators"],
                   recommended_action=doc.recommended_action, valid_from=doc.valid_from or now,
                   valid_until=doc.valid_until, feedback_due_at=doc.feedback_due_at, incident_id=doc.incident_id,
                   issued_at=now)
        uow.session.add(n)
        uow.session.flush()
        for agency, agreement in allowed.items():
            uow.session.add(NoticeDelivery(notice_id=n.id, agency=agency, agreement=agreement, delivered_at=now,
                                           action_taken=None, result=None, feedback_note=None, feedback_by=None,
                                           feedback_at=None, overdue_raised=False))
        uow.record(NoticeIssued(agency=n.issuer_agency, notice_id=n.id, owner_agency=n.issuer_agency,
                                indicators=n.indicators, valid_until=doc.valid_until.isoformat(),
                                feedback_due_at=doc.feedback_due_at.isoformat(),
                                recommended_action=doc.recommended_action))
        uow.audit("notice:issued", f"notice/{n.id}", owner=n.issuer_agency, purpose=n.purpose,
                  detail={"recipients": {a: k for a, k in allowed.items()}})
        uow.commit()
        return {"id": n.id, "recipients": sorted(allowed)}


def give_notice_feedback(cmd: GiveNoticeFeedback, uow, *, access) -> dict:
    """A recipient says what it did with the notice and what came of it; once per agency."""
    subject = uow.subject
    try:
        doc = FeedbackIn.model_validate({"action_taken": cmd.action_taken, "result": cmd.result, "note": cmd.note})
    except ValidationError as e:
        raise InvalidDocument("the feedback has faults; nothing was stored", problems_from(e)) from None
    with uow:
        s = uow.session
        n = s.get(Notice, cmd.notice_id)
        decision = notice_decision(subject, "read", NoticeAt(n.id, n.issuer_agency, n.purpose), s, access) \
            if n is not None else None
        if decision is None or not decision.allowed:
            raise NotFound(f"notice {cmd.notice_id} not found")
        d = s.get(NoticeDelivery, (n.id, subject.agency), with_for_update=True)
        if d is None:  # the issuer itself
            raise Forbidden("feedback comes from the agencies the notice was sent to")
        require_officer(subject, "give feedback")
        if d.feedback_at is not None:
            raise Conflict(f"{subject.agency} gave its feedback on notice {n.id} already")
        d.action_taken, d.result, d.feedback_note = doc.action_taken, doc.result, doc.note
        d.feedback_by, d.feedback_at = subject.user_id, uow.clock.now()
        uow.record(NoticeFeedbackGiven(agency=n.issuer_agency, notice_id=n.id, owner_agency=n.issuer_agency,
                                       from_agency=subject.agency, result=doc.result))
        uow.audit("notice:feedback", f"notice/{n.id}", owner=n.issuer_agency, purpose=n.purpose,
                  detail={"result": doc.result})
        uow.commit()
        return {"notice_id": n.id, "agency": d.agency, "action_taken": d.action_taken, "result": d.result,
                "at": d.feedback_at.isoformat()}


def check_notice_feedback(cmd: CheckNoticeFeedback, uow) -> int:
    """Raise NoticeFeedbackOverdue once for each recipient that has not answered by the notice's deadline."""
    with uow:
        s = uow.session
        late = s.execute(select(NoticeDelivery, Notice).join(Notice, Notice.id == NoticeDelivery.notice_id).where(
            NoticeDelivery.feedback_at.is_(None), NoticeDelivery.overdue_raised.is_(False),
            Notice.feedback_due_at < uow.clock.now())).all()
        for d, n in late:
            d.overdue_raised = True
            uow.record(NoticeFeedbackOverdue(agency=d.agency, notice_id=n.id, owner_agency=n.issuer_agency,
                                             recipient=d.agency, feedback_due_at=n.feedback_due_at.isoformat()))
        if late:
            uow.audit("notice:feedback:overdue", "notices", detail={"count": len(late)})
        uow.commit()
        return len(late)
