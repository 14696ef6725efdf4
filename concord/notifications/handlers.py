"""Agencies' webhook subscriptions: create (the secret shown once), remove, replay dead letters."""

from __future__ import annotations

import base64
import secrets

from pydantic import ValidationError
from sqlalchemy import delete, func, select, update

from concord.errors import InvalidDocument, NotFound, Problem, problems_from
from concord.ids import new_id
from concord.messaging.audiences import audience_token
from concord.notifications.addresses import check, networks
from concord.notifications.messages import CreateWebhook, RemoveWebhook, ReplayDeadLetters
from concord.notifications.models import DEAD, PENDING, NotificationEvent, WebhookDelivery, WebhookSubscription
from concord.notifications.queries import own_webhook, webhook_agency, webhook_out
from concord.notifications.schemas import WebhookIn

MAX_WEBHOOKS = 10  # per agency


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create_webhook(cmd: CreateWebhook, uow, *, app) -> dict:
    """Subscribe an agency's system to the agency's notifications from now on; the answer holds the secret."""
    agency = webhook_agency(uow.subject)
    try:  # the CLI's arguments meet the API's limits
        WebhookIn(url=cmd.url, events=cmd.events, description=cmd.description)
    except ValidationError as e:
        raise InvalidDocument("the webhook has faults; nothing was stored", problems_from(e)) from None
    if cmd.url.startswith("http://") and not app.settings.webhook_allow_http:
        raise InvalidDocument("the webhook has faults; nothing was stored", [Problem(
            "/url", "use an https:// address (this hub accepts http:// only with CONCORD_WEBHOOK_ALLOW_HTTP)")])
    # SSRF: an address inside the hub's network is refused now, as far as the name resolves today; each delivery
    # checks again (concord.notifications.addresses).
    try:
        reason, _ = check(cmd.url, networks(app.settings.webhook_allow_networks))
    except ValueError as e:  # what the schema's URL check let through and the standard library cannot split
        raise InvalidDocument("the webhook has faults; nothing was stored", [Problem(
            "/url", f"not a URL the hub can post to ({e}); send scheme://host[:port]/path")]) from None
    if reason:
        raise InvalidDocument("the webhook has faults; nothing was stored", [Problem(
            "/url", f"the hub posts only to public addresses: {reason} (an administrator can allow an internal "
                    f"network with CONCORD_WEBHOOK_ALLOW_NETWORKS)")])
    with uow:
        s, now = uow.session, uow.clock.now()
        count = s.scalar(select(func.count()).select_from(WebhookSubscription)
                         .where(WebhookSubscription.agency == agency, WebhookSubscription.active))
        if count >= MAX_WEBHOOKS:
            raise InvalidDocument("too many webhooks", [Problem("", f"an agency has at most {MAX_WEBHOOKS}; "
                                                                     "remove one first")])
        latest = s.scalar(select(func.coalesce(func.max(NotificationEvent.seq), 0)))
        hook = WebhookSubscription(id=new_id("WHK"), agency=agency, audience=audience_token(agency), url=cmd.url,
                                   secret=new_secret(), events=list(cmd.events), description=cmd.description,
                                   created_by=uow.subject.user_id, created_at=now, active=True, queued_seq=latest)
        s.add(hook)
        uow.audit("notifications:webhook:created", f"webhook/{hook.id}", owner=agency,
                  detail={"url": hook.url, "events": hook.events})
        uow.commit()
        return webhook_out(hook, {}) | {"secret": hook.secret}


def remove_webhook(cmd: RemoveWebhook, uow) -> dict:
    """Stop delivering to a webhook; what it still owed is dropped (the audit entry counts it)."""
    with uow:
        s = uow.session
        hook = own_webhook(s, uow.subject, cmd.webhook_id, lock=True)
        hook.active = False
        dropped = s.execute(delete(WebhookDelivery).where(WebhookDelivery.subscription_id == hook.id,
                                                          WebhookDelivery.status == PENDING)).rowcount
        uow.audit("notifications:webhook:removed", f"webhook/{hook.id}", owner=hook.agency,
                  detail={"pending_dropped": dropped})
        uow.commit()
        return {"id": hook.id, "removed": True}


def replay_dead_letters(cmd: ReplayDeadLetters, uow) -> dict:
    """Dead letters back to pending, due now, with a fresh count of attempts."""
    with uow:
        s = uow.session
        hook = own_webhook(s, uow.subject, cmd.webhook_id)
        where = [WebhookDelivery.subscription_id == hook.id, WebhookDelivery.status == DEAD]
        if cmd.delivery_ids:
            known = set(s.scalars(select(WebhookDelivery.id).where(*where,
                                                                  WebhookDelivery.id.in_(cmd.delivery_ids))))
            if missing := [d for d in cmd.delivery_ids if d not in known]:
                raise NotFound(f"no dead letter '{missing[0]}' of webhook '{hook.id}'")
            where.append(WebhookDelivery.id.in_(cmd.delivery_ids))
        n = s.execute(update(WebhookDelivery).where(*where).values(
            status=PENDING, attempts=0, next_attempt_at=uow.clock.now(), finished_at=None)).rowcount
        uow.audit("notifications:webhook:replayed", f"webhook/{hook.id}", owner=hook.agency, detail={"deliveries": n})
        uow.commit()
        return {"replayed": n}

