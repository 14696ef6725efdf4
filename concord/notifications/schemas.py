"""Request and response bodies of the notification routes."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from concord.bodies import StrictBody
from concord.bounds import NO_NUL

EVENT_PREFIX = r"^[a-z_]+(\.[a-z_]*)?$"  # "task.", "declaration.refused", "incident"


class WebhookIn(StrictBody):
    url: str = Field(max_length=2000, pattern=r"^https?://[^\s\x00]+$",
                     description="where to POST the notifications: https:// (http:// only where the hub allows it)")
    events: list[Annotated[str, Field(max_length=80, pattern=EVENT_PREFIX)]] = Field(default_factory=list, max_length=50,
                              description="event name prefixes to deliver, e.g. ['task.', 'declaration.refused']; "
                                          "empty: every notification of your agency")
    description: str = Field("", max_length=200, pattern=NO_NUL)


class WebhookOut(BaseModel):
    id: str
    agency: str
    url: str
    events: list[str]
    description: str
    created_by: str
    created_at: datetime
    pending: int = Field(description="deliveries waiting for their next attempt")
    dead: int = Field(description="deliveries on the dead-letter list")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret (Standard Webhooks `whsec_…`): shown this once only")


class DeadLetterOut(BaseModel):
    id: str
    event_id: str
    name: str | None = Field(description="the event's name; null once the notification is past its retention")
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class ReplayIn(StrictBody):
    delivery_ids: list[str] = Field(default_factory=list, max_length=500,
                                    description="the dead letters to send again; empty: all of the webhook's")


class ReplayOut(BaseModel):
    replayed: int
