"""Live pages: the console's event stream, authenticated by the session cookie.

It is the API's stream (GET /api/v1/stream) for the same audience (notifications.queries.stream_audience), fed by
the same listeners, so it carries only what the relay cut for that audience; and it carries less: every notification
leaves as a bare `change` event, with no data. A page that hears one fetches its live part again through its own
route, and so through the query functions and the access rule, as any read does."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import StringConstraints
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask

from concord.console.web import render, signed_in
from concord.errors import InvalidDocument, Misconfigured, Problem
from concord.notifications.queries import stream_audience
from concord.notifications.schemas import EVENT_PREFIX
from concord.notifications.stream import CLOSED, frames

router = APIRouter(prefix="/console", include_in_schema=False)
CHANGE = b"event: change\ndata: {}\n\n"
IDS = ("declaration_id", "incident_id", "operation_id", "notice_id")
REAUTHENTICATE_S = 600.0  # the stream ends after this, and the browser reconnects with the cookie, checked anew
FALLBACK_POLL_S = 20  # pages poll this slowly too: a stream refused (limit, role) or cut still ends in fresh data


def _targets(chunk: bytes) -> bytes:
    """`change-<id>` for each record the chunk's messages name, so a record's page refreshes on its own events only.
    The ids are read from the messages as cut for this audience: a record the audience may not read is not named."""
    named = {}
    for frame in chunk.split(b"\n\n"):
        for line in frame.split(b"\n"):
            if line.startswith(b"data: "):
                try:
                    message = orjson.loads(line[6:])
                except orjson.JSONDecodeError:
                    continue
                for key in IDS:
                    value = message.get(key) if isinstance(message, dict) else None
                    if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,32}", value):
                        named[value] = None
    return b"".join(b"event: change-%s\ndata: {}\n\n" % i.encode() for i in named)


async def _changes(listener, live: bool):
    async for chunk in frames(listener, None, None, None, live=live):
        if chunk.startswith(b"retry:"):
            yield chunk
            continue
        yield CHANGE + _targets(chunk)  # one per write: a commit's events refresh a page once


def _end(listener) -> None:
    """End a stream as the server's shutdown does (frames() returns on CLOSED): the browser reconnects."""
    try:
        listener.queue.put_nowait(CLOSED)
    except asyncio.QueueFull:
        listener.overflowed = True  # it ends once it has drained its queue


@router.get("/stream")
async def stream(request: Request, events: list[Annotated[str, StringConstraints(max_length=80)]] = Query(
                     [], max_length=5), signed=Depends(signed_in)):
    """`change` events for the signed-in user's audience (the agency's readers, or the trader), filtered by event
    name prefixes (task., declaration., incident.)."""
    subject = signed.subject
    audience = stream_audience(subject)  # Forbidden for a user the API would give no stream
    if bad := [i for i, e in enumerate(events) if not re.match(EVENT_PREFIX, e)]:
        raise InvalidDocument("the stream's filter has faults", [Problem(
            f"/query/events/{bad[0]}", "an event name or prefix: lower-case words and dots, e.g. 'task.'")])
    service = getattr(request.app.state.concord, "notifications", None)
    if service is None:
        raise Misconfigured("notifications are off on this hub (CONCORD_NOTIFICATIONS=false)")
    listener = service.streams.open(subject.user_id, audience, tuple(events))
    timer = asyncio.get_running_loop().call_later(REAUTHENTICATE_S, _end, listener)

    async def closed() -> None:
        timer.cancel()
        await listener.aclose()

    return EventSourceResponse(
        _changes(listener, service.started), ping=service.heartbeat_s, sep="\n", send_timeout=30,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}, background=BackgroundTask(closed))


RECENT = 50  # notifications listed on the page


def _link(message: dict) -> tuple[str, str] | None:
    """The console page of the record a notification names, if any (its id is in the message as cut)."""
    payload = message.get("payload") if isinstance(message.get("payload"), dict) else {}
    for key, path in (("declaration_id", "declarations"), ("incident_id", "incidents"),
                      ("operation_id", "operations"), ("notice_id", "notices")):
        value = message.get(key) or payload.get(key)
        if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,32}", value):
            return f"/console/{path}/{value}", value
    return None


@router.get("/notifications")
def notifications(request: Request, signed=Depends(signed_in)):
    """The latest notifications of the user's audience, newest first: what the stream carried (the relay's cut
    for that audience, stored for replay), listed; live, like the stream's other pages."""
    subject = signed.subject
    audience = stream_audience(subject)
    service = getattr(request.app.state.concord, "notifications", None)
    if service is None:
        raise Misconfigured("notifications are off on this hub (CONCORD_NOTIFICATIONS=false)")
    rows = [{"seq": seq, "name": name, "at": (message.get("occurred_at") or "")[:19].replace("T", " "),
             "link": _link(message)} for seq, name, message in service.store.recent(audience, RECENT)]
    return render(request, "notifications.html", signed, rows=rows, poll=FALLBACK_POLL_S)
