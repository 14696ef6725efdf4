"""Reads: whose notifications a stream carries, and an agency's webhooks and dead letters."""

from __future__ import annotations

from sqlalchemy import func, select

from concord.access.identity import Subject
from concord.access.policy import READERS
from concord.errors import Forbidden, NotFound
from concord.messaging.audiences import audience_token, trader_audience
from concord.notifications.models import DEAD, PENDING, NotificationEvent, WebhookDelivery, WebhookSubscription

MANAGERS = ("liaison", "administrator")  # who manages an agency's webhooks: its point of contact, its administrator


def stream_audience(subject: Subject) -> str:
    """The one audience a subject's stream carries: the trader's own, or its agency's for the agency's readers.

    The relay cut each message for that audience as an officer of the agency (or the trader) reads the
    timeline (concord.messaging.audiences.stream_subject), so a user who may not read as the agency's officers
    do gets no stream of it."""
    if subject.is_trader:
        return trader_audience(subject.trader_id)
    if subject.agency is None or not (subject.has(*READERS) or (subject.lead and subject.has("administrator"))):
        raise Forbidden("the stream carries an agency's notifications to its officers, supervisors and auditors, "
                        "and a trader's to the trader")
    return audience_token(subject.agency)


def webhook_agency(subject: Subject) -> str:
    """The agency whose webhooks the subject manages; Forbidden for anyone else."""
    if subject.is_trader or subject.agency is None or not subject.has(*MANAGERS):
        raise Forbidden("an agency's webhooks are managed by its liaison officers and administrators")
    return subject.agency


def own_webhook(session, subject: Subject, webhook_id: str, *, lock: bool = False) -> WebhookSubscription:
    """The subject's agency's active webhook; another agency's answers exactly as a missing one."""
    agency = webhook_agency(subject)
    hook = session.get(WebhookSubscription, webhook_id, with_for_update=lock)
    if hook is None or hook.agency != agency or not hook.active:
        raise NotFound(f"no webhook '{webhook_id}' of your agency")
    return hook


def _counts(session, ids: list[str]) -> dict:
    D = WebhookDelivery
    out: dict = {}
    for sid, status, n in session.execute(select(D.subscription_id, D.status, func.count())
                                          .where(D.subscription_id.in_(ids), D.status.in_((PENDING, DEAD)))
                                          .group_by(D.subscription_id, D.status)):
        out[(sid, status)] = n
    return out


def webhook_out(hook: WebhookSubscription, counts: dict) -> dict:
    return {"id": hook.id, "agency": hook.agency, "url": hook.url, "events": hook.events,
            "description": hook.description, "created_by": hook.created_by, "created_at": hook.created_at,
            "pending": counts.get((hook.id, PENDING), 0), "dead": counts.get((hook.id, DEAD), 0)}


def list_webhooks(session, subject: Subject) -> list[dict]:
    """The active webhooks of the subject's agency (never their secrets)."""
    agency = webhook_agency(subject)
    hooks = session.scalars(select(WebhookSubscription).where(WebhookSubscription.agency == agency,
                                                              WebhookSubscription.active)
                            .order_by(WebhookSubscription.created_at)).all()
    counts = _counts(session, [h.id for h in hooks]) if hooks else {}
    return [webhook_out(h, counts) for h in hooks]


def get_webhook(session, subject: Subject, webhook_id: str) -> dict:
    hook = own_webhook(session, subject, webhook_id)
    return webhook_out(hook, _counts(session, [hook.id]))


def dead_letters(session, subject: Subject, webhook_id: str, limit: int = 500) -> list[dict]:
    """The webhook's dead-lettered deliveries, newest first."""
    hook = own_webhook(session, subject, webhook_id)
    D, N = WebhookDelivery, NotificationEvent
    rows = session.execute(
        select(D.id, D.event_id, N.name, D.attempts, D.last_status, D.last_error, D.created_at, D.finished_at)
        .outerjoin(N, N.seq == D.notification_seq)
        .where(D.subscription_id == hook.id, D.status == DEAD).order_by(D.notification_seq.desc()).limit(limit))
    keys = ("id", "event_id", "name", "attempts", "last_status", "last_error", "created_at", "finished_at")
    return [dict(zip(keys, r)) for r in rows]
