"""Notification routes: the live stream (server-sent events) and agencies' webhooks with their dead letters."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import StringConstraints
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask

from concord.access.deps import concord_app, current_subject
from concord.bounds import MAX_SEQ, BoundedRoute
from concord.errors import InvalidDocument, Misconfigured, Problem
from concord.notifications import queries
from concord.notifications.messages import CreateWebhook, RemoveWebhook, ReplayDeadLetters
from concord.notifications.schemas import (EVENT_PREFIX, DeadLetterOut, ReplayIn, ReplayOut, WebhookCreated,
                                           WebhookIn, WebhookOut)
from concord.notifications.stream import frames

router = APIRouter(prefix="/api/v1", tags=["notifications"], route_class=BoundedRoute)

STREAM_DOC = {200: {"description": "`text/event-stream`: one event per notification (`id`: the resume cursor, "
                                   "`event`: the event name, `data`: the message as your audience may see it)",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


def _service(app):
    service = getattr(app, "notifications", None)
    if service is None:
        raise Misconfigured("notifications are off on this hub (CONCORD_NOTIFICATIONS=false)")
    return service


def _cursor(last_event_id: str | None) -> int | None:
    if last_event_id is None or last_event_id == "":
        return None
    if not last_event_id.isdigit() or int(last_event_id) > MAX_SEQ:
        raise InvalidDocument("the Last-Event-ID is not one this stream sent", [Problem(
            "/headers/Last-Event-ID", "send the `id` of the last event you received (a number), or no header")])
    return int(last_event_id)


@router.get("/stream", response_class=Response, responses=STREAM_DOC)
async def stream(events: list[Annotated[str, StringConstraints(max_length=80)]] = Query(
                     [], max_length=20, description="event name prefixes, e.g. task."),
                 last_event_id: str | None = Header(None, alias="Last-Event-ID", max_length=20,
                                                    description="resume after this event id (replayed from the "
                                                                "store, within its retention)"),
                 subject=Depends(current_subject), app=Depends(concord_app)):
    """Your notifications as they happen: your agency's (officers, supervisors, auditors) or, for a trader, its
    own; each cut as your reads would show it. Reconnect with Last-Event-ID to receive what you missed."""
    import re

    audience = queries.stream_audience(subject)
    if bad := [i for i, e in enumerate(events) if len(e) > 80 or not re.match(EVENT_PREFIX, e)]:
        raise InvalidDocument("the stream's filter has faults", [Problem(
            f"/query/events/{bad[0]}", "an event name or prefix: lower-case words and dots, e.g. 'task.'")])
    after = _cursor(last_event_id)
    service = _service(app)
    listener = service.streams.open(subject.user_id, audience, tuple(events))  # before the replay is read
    try:
        gap = None
        if after is not None:
            oldest = await asyncio.to_thread(service.store.oldest)
            if oldest is not None and after + 1 < oldest:  # some of what followed it is past the retention
                gap = b"event: gap\ndata: {\"oldest\": %d}\n\n" % oldest
    except BaseException:
        listener.close()
        raise
    return EventSourceResponse(
        # A process that does not run the service (no server start-up: a tool, a test) replays, then ends.
        frames(listener, after, lambda last: service.store.read(last, audience), gap, live=service.started),
        ping=service.heartbeat_s, sep="\n", send_timeout=30, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(listener.aclose))  # also when the stream ended before its generator started


@router.post("/webhooks", status_code=201, response_model=WebhookCreated)
def create_webhook(body: WebhookIn, response: Response, subject=Depends(current_subject), app=Depends(concord_app)):
    """Subscribe your agency's system (liaison officers, administrators). The answer shows the signing secret
    once: each delivery is signed as Standard Webhooks says (webhook-id, webhook-timestamp, webhook-signature)."""
    result = app.bus.handle(CreateWebhook(url=body.url, events=body.events, description=body.description),
                            subject=subject)
    response.headers["Location"] = f"/api/v1/webhooks/{result['id']}"
    return result


@router.get("/webhooks", response_model=list[WebhookOut])
def list_webhooks(subject=Depends(current_subject), app=Depends(concord_app)):
    """Your agency's webhooks, with what each still owes and its dead letters (never the secrets)."""
    with app.sessions() as s:
        return queries.list_webhooks(s, subject)


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
def get_webhook(webhook_id: str, subject=Depends(current_subject), app=Depends(concord_app)):
    with app.sessions() as s:
        return queries.get_webhook(s, subject, webhook_id)


@router.delete("/webhooks/{webhook_id}")
def remove_webhook(webhook_id: str, subject=Depends(current_subject), app=Depends(concord_app)):
    """Stop delivering; what it still owed is dropped."""
    return app.bus.handle(RemoveWebhook(webhook_id=webhook_id), subject=subject)


@router.get("/webhooks/{webhook_id}/dead-letters", response_model=list[DeadLetterOut])
def dead_letters(webhook_id: str, subject=Depends(current_subject), app=Depends(concord_app)):
    """Deliveries that failed every attempt, newest first (kept for the notifications' retention)."""
    with app.sessions() as s:
        return queries.dead_letters(s, subject, webhook_id)


@router.post("/webhooks/{webhook_id}/dead-letters/replay", response_model=ReplayOut)
def replay_dead_letters(webhook_id: str, body: ReplayIn | None = None, subject=Depends(current_subject),
                        app=Depends(concord_app)):
    """Send dead letters again (those named, or all), with a fresh series of attempts."""
    ids = body.delivery_ids if body is not None else []
    return app.bus.handle(ReplayDeadLetters(webhook_id=webhook_id, delivery_ids=ids), subject=subject)
