"""The outbox relay publishes to a real NATS JetStream, at least once, deduplicated by event id."""

import asyncio
import json
import socket
import uuid

import pytest

from concord.messaging.transports import NatsTransport, subject_for


def nats_reason() -> str | None:
    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=2).close()
        return None
    except OSError as e:
        return f"no NATS server on 127.0.0.1:4222 ({e})"


pytestmark = pytest.mark.skipif(nats_reason() is not None, reason=nats_reason() or "")


async def _read_all(stream: str, prefix: str) -> list:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()
    sub = await js.pull_subscribe(f"{prefix}.>", durable=f"t{uuid.uuid4().hex[:8]}", stream=stream)
    msgs = []
    try:
        while True:
            batch = await sub.fetch(50, timeout=1)
            msgs += batch
            for m in batch:
                await m.ack()
    except Exception:  # nats.errors.TimeoutError: the stream is drained
        pass
    await js.delete_stream(stream)
    await nc.close()  # not drain(): a pull subscription makes drain wait out its timeout
    return msgs


def test_relay_messages_reach_jetstream_once():
    stream = f"CONCORD_TEST_{uuid.uuid4().hex[:8].upper()}"
    prefix = f"concordtest{uuid.uuid4().hex[:6]}"
    transport = NatsTransport("nats://127.0.0.1:4222", stream, prefix=prefix)
    messages = [{"id": f"ev_{i}", "name": "declaration.lodged", "declaration_id": "D1", "agency": None,
                 "occurred_at": "2026-01-01T00:00:00+00:00", "audience": "CUS", "payload": {"i": i}} for i in range(5)]
    transport.publish_many(messages)
    transport.publish_many(messages[:2])  # a relay crash between publish and mark: delivered again
    transport.close()
    got = asyncio.run(_read_all(stream, prefix))
    assert sorted(m.headers["Nats-Msg-Id"] for m in got) == [f"ev_{i}:CUS" for i in range(5)]
    assert {m.subject for m in got} == {subject_for(messages[0], prefix)}


def test_lodged_declarations_reach_jetstream_through_the_outbox(tmp_path):
    from concord.agencies.messages import LoadConfig
    from concord.bootstrap import bootstrap
    from concord.config import Settings
    from concord.declarations.messages import SubmitDeclaration
    from concord.declarations.schemas import parse_declaration
    from support import declaration, demo_config_text, subjects

    stream = f"CONCORD_TEST_{uuid.uuid4().hex[:8].upper()}"
    prefix = f"concordtest{uuid.uuid4().hex[:6]}"
    app = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'n.db'}", var_dir=tmp_path, bus_transport="nats",
                             nats_stream=stream, nats_subject_prefix=prefix))
    app.bus.handle(LoadConfig(text=demo_config_text()))
    doc = parse_declaration(declaration()).model_dump(mode="json")
    did = app.bus.handle(SubmitDeclaration(document=doc), subject=subjects(app)["hollandfoods"])["id"]
    app.bus.relay.flush()
    app.close()
    got = asyncio.run(_read_all(stream, prefix))
    mine = [json.loads(m.data) for m in got if json.loads(m.data)["declaration_id"] == did
            and m.subject.endswith(".CUS")]
    assert [m["name"] for m in mine][:3] == ["declaration.lodged", "declaration.accepted", "declaration.risk_assessed"]
    assert {m.subject for m in got} >= {f"{prefix}.declaration.lodged.CUS", f"{prefix}.task.created.CUS",
                                         f"{prefix}.declaration.lodged.trader-NL823456781"}
    assert not [m for m in got if m.subject.endswith(".all")]  # no subject for everyone
    assert len({m.headers["Nats-Msg-Id"] for m in got}) == len(got)  # one message per event and audience


def test_an_existing_stream_gets_the_configured_duplicate_window():
    import nats
    from nats.js.api import StreamConfig

    stream = f"CONCORD_TEST_{uuid.uuid4().hex[:8].upper()}"
    prefix = f"concordtest{uuid.uuid4().hex[:6]}"

    async def window(create: bool = False) -> float:
        nc = await nats.connect("nats://127.0.0.1:4222")
        js = nc.jetstream()
        try:
            if create:  # as an older hub created it: the server's default window (2 min)
                await js.add_stream(StreamConfig(name=stream, subjects=[f"{prefix}.>"]))
            return (await js.stream_info(stream)).config.duplicate_window
        finally:
            await nc.close()

    assert asyncio.run(window(create=True)) == 120
    NatsTransport("nats://127.0.0.1:4222", stream, prefix=prefix, duplicate_window_s=900).close()
    try:
        assert asyncio.run(window()) == 900  # a relay's redelivery after a restart is still dropped
    finally:
        asyncio.run(_read_all(stream, prefix))  # deletes the stream
