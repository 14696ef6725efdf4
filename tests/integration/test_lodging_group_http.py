"""Concurrent lodgings over the API share a transaction, yet each gets its own answer."""

import asyncio

import httpx
import orjson

from concord.access.messages import IssueToken
from concord.app import create_app
from support import declaration


def test_concurrent_lodgings_each_get_their_own_answer(sqlite_concord):
    token = sqlite_concord.bus.handle(IssueToken(user_id="hollandfoods"))["token"]
    app = create_app(sqlite_concord, background=False)
    headers = {"Authorization": f"Bearer {token}"}
    bodies = [declaration(lrn=f"G-{i}") for i in range(12)] + [declaration(lrn="G-0")]
    bodies[5]["declarant"] = bodies[5]["declarant"] | {"id": "DE345678912"}  # not this trader's own

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await asyncio.gather(*[client.post("/api/v1/declarations", json=b, headers=headers) for b in bodies])

    answers = asyncio.run(run())
    assert [r.status_code for r in answers] == [201] * 5 + [422] + [201] * 6 + [200]
    assert answers[5].json()["error"]["problems"][0]["pointer"] == "/declarant/id"
    assert answers[-1].json()["id"] == answers[0].json()["id"]
    assert len({r.json()["id"] for r in answers if r.status_code == 201}) == 11


def test_the_fast_lane_serves_lodgings_and_the_document_still_describes_them(sqlite_concord, monkeypatch):
    from concord.app import FastLane
    from concord.declarations import api

    from concord.observability.metrics import Measured

    app = create_app(sqlite_concord, background=False)
    measured = app.build_middleware_stack()  # metrics outermost, so that they count the fast lane too
    lane = measured.app
    assert isinstance(measured, Measured)
    assert isinstance(lane, FastLane) and lane.routes[("POST", "/api/v1/declarations")] is api.submit
    operation = app.openapi()["paths"]["/api/v1/declarations"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/DeclarationIn")
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            anonymous = await client.post("/api/v1/declarations", content=b"{}", headers={"X-Request-Id": "mine-1"})
            token = sqlite_concord.bus.handle(IssueToken(user_id="hollandfoods"))["token"]
            broken = await client.post("/api/v1/declarations", content=b"{not json",
                                       headers={"Authorization": f"Bearer {token}"})
            lodged = await client.post("/api/v1/declarations", json=declaration(lrn="LANE-1"),
                                       headers={"Authorization": f"Bearer {token}"})
            monkeypatch.setattr(api, "declaration_document", lambda body: 1 / 0)  # a bug, not the caller's fault
            failed = await client.post("/api/v1/declarations", json=declaration(lrn="LANE-2"),
                                       headers={"Authorization": f"Bearer {token}"})
            return anonymous, broken, lodged, failed

    anonymous, broken, lodged, failed = asyncio.run(run())
    assert anonymous.headers["x-request-id"] == "mine-1" and broken.headers["x-request-id"].startswith("req_")
    assert lodged.status_code == 201 and lodged.headers["location"] == f"/api/v1/declarations/{lodged.json()['id']}"
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "internal"
    assert failed.json()["error"]["request_id"] == failed.headers["x-request-id"]
    assert anonymous.status_code == 401 and "Bearer" in anonymous.json()["error"]["message"]
    assert broken.status_code == 422 and "not valid JSON" in broken.json()["error"]["problems"][0]["message"]


def test_the_relay_publishes_from_the_servers_event_loop(sqlite_concord):
    """With the in-process transport the relay runs as a task on the server's loop; lodged events still arrive."""
    import time

    from fastapi.testclient import TestClient

    received = []
    sqlite_concord.transport.subscribe(received.append)
    token = sqlite_concord.bus.handle(IssueToken(user_id="hollandfoods"))["token"]
    with TestClient(create_app(sqlite_concord, background=True)) as client:
        assert sqlite_concord.bus.relay._task is not None and sqlite_concord.bus.relay._thread is None
        did = client.post("/api/v1/declarations", json=declaration(lrn="RELAY-1"),
                          headers={"Authorization": f"Bearer {token}"}).json()["id"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(m["declaration_id"] == did for m in received):
            time.sleep(0.05)
    names = [m["name"] for m in received if m["declaration_id"] == did and m["audience"] == "CUS"]
    assert names[:3] == ["declaration.lodged", "declaration.accepted", "declaration.risk_assessed"], names


def test_oversized_bodies_are_refused_before_they_are_read_whole(sqlite_concord, monkeypatch):
    """A declaration or an upload over its limit: 413 in the error tree's form, nothing stored."""
    from sqlalchemy import func, select

    from concord.declarations import api
    from concord.declarations.models import Declaration

    monkeypatch.setattr(api, "DECLARATION_MAX_BYTES", 2000)
    monkeypatch.setattr(api, "UPLOAD_MAX_BYTES", 3000)
    token = sqlite_concord.bus.handle(IssueToken(user_id="hollandfoods"))["token"]
    app = create_app(sqlite_concord, background=False)
    headers = {"Authorization": f"Bearer {token}"}
    big = declaration(lrn="BIG-1")
    big["items"] = big["items"] * 20  # valid, but over the lowered limit

    async def chunks(body: bytes):  # no Content-Length: the limit must hold while the body streams in
        for i in range(0, len(body), 500):
            yield body[i:i + 500]

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            declared = await client.post("/api/v1/declarations", json=big, headers=headers)
            streamed = await client.post("/api/v1/declarations", content=chunks(orjson.dumps(big)), headers=headers)
            upload = await client.post("/api/v1/declarations/batch", headers=headers,
                                       content=b"\n".join(orjson.dumps(declaration(lrn=f"UP-{i}")) for i in range(10)))
            fits = await client.post("/api/v1/declarations", json=declaration(lrn="SMALL-1"), headers=headers)
            return declared, streamed, upload, fits

    declared, streamed, upload, fits = asyncio.run(run())
    for answer in (declared, streamed, upload):
        assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_large", answer.text
    assert "split the file" in upload.json()["error"]["problems"][0]["message"]
    assert fits.status_code == 201
    with sqlite_concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1


def test_a_lodging_is_answered_once_committed_not_after_the_handlers_of_its_events(concord):
    """On PostgreSQL the group is lodged in a thread, which then runs its events' handlers (a joint inspection
    proposed: a unit of work of its own); the trader's answer does not wait for them, and they still run."""
    import threading

    from concord.declarations.grouping import LodgingQueue
    from concord.declarations.messages import DeclarationLodged
    from concord.declarations.models import Declaration

    started, release, handled = threading.Event(), threading.Event(), []

    def slow_consumer(event, uow):  # stands for a proposal waiting on its round trips
        started.set()
        release.wait(30)
        with uow:
            handled.append(uow.session.get(Declaration, event.declaration_id).lrn)

    concord.bus.subscribe(DeclarationLodged, slow_consumer)
    app = create_app(concord, background=False)
    concord.lodging_queue = LodgingQueue(concord.bus, 0.0, threads=1)
    token = concord.bus.handle(IssueToken(user_id="hollandfoods"))["token"]

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await asyncio.wait_for(client.post("/api/v1/declarations", json=declaration(lrn="ANSWERED-1"),
                                                      headers={"Authorization": f"Bearer {token}"}), 20)

    try:
        answer = asyncio.run(run())
        assert answer.status_code == 201, answer.text
        # Answered while the handler cannot have finished (it waits for the release below); it does run:
        assert handled == [] and started.wait(20)
    finally:
        release.set()
        concord.lodging_queue.close()  # lets the thread finish the handler
    assert handled == ["ANSWERED-1"]
