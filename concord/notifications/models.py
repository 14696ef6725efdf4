"""Notifications as the relay cut them (kept for replay), agencies' webhook subscriptions and their deliveries."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


class NotificationEvent(Base):
    """One event as the relay cut it for its audiences (0020): each distinct message once (`bodies`, the message
    without its `audience`; the audiences of an event often see the same cut), and which body each audience gets
    (`audiences`: [[audience, index into bodies], ...], read by the tail). `seq` is the streams' resume cursor,
    the same for every process; the event id is stored once, so a relay's redelivery after a crash adds nothing.
    What was stored before 0020 (one row per message) was copied here by that migration; 0022 dropped its table."""

    __tablename__ = "notification_events"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    stored_at: Mapped[datetime]
    # JSON, not JSONB: stored and sent as written; nothing queries inside them (JSONB's parse cost the insert)
    audiences: Mapped[list] = mapped_column(JSON)
    bodies: Mapped[list] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_notification_events_stored", "stored_at", postgresql_using="brin"),
        {"sqlite_autoincrement": True},  # a seq is never reused, even once the retention has emptied the table
    )


class NotificationAudience(Base):
    """An audience's entry for one event: what its stream's replay, its console list and its webhooks read
    (one B-tree: the key)."""

    __tablename__ = "notification_audiences"

    audience: Mapped[str] = mapped_column(String(120), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    body: Mapped[int] = mapped_column(SmallInteger)  # its message: the event's bodies[body]


class WebhookSubscription(Base):
    """An agency's own system, to which Concord posts the agency's notifications, signed with `secret`."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    agency: Mapped[str] = mapped_column(String(16))
    audience: Mapped[str] = mapped_column(String(120))  # the relay's audience token of the agency
    url: Mapped[str] = mapped_column(String(2000))
    # Standard Webhooks `whsec_<base64>`: HMAC needs the key itself, so it is stored; shown once at creation.
    secret: Mapped[str] = mapped_column(String(80))
    events: Mapped[list]  # event name prefixes it wants ("task.", "declaration.refused"); empty: all
    description: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    active: Mapped[bool]
    queued_seq: Mapped[int]  # the last notification seq queued for it: it starts at the subscription, not before

    __table_args__ = (Index("ix_webhook_subscriptions_agency", "agency"),)


class WebhookDelivery(Base):
    """One notification owed to one subscription: pending (with its next attempt), delivered, or dead (the
    dead-letter list, which replay turns pending again)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    notification_seq: Mapped[int]
    event_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    last_status: Mapped[int | None]  # the receiver's HTTP status on the last attempt
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription", "subscription_id", "status", "notification_seq"),
    )
