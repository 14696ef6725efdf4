"""The events leave through a real JetStream cluster: a node killed with `kill -9` mid-run stops neither lodging nor
delivery, and every acknowledged lodging's messages reach an agency's consumer exactly once after deduplication.
A cluster without quorum leaves the outbox rows unpublished until it has one again, then they go out once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import func, select

from concord.bench.nats_cluster import NatsCluster, nats_server_binary

# Its own nats-server processes on free loopback ports (never the server on 4222), started from the binary.
pytestmark = [pytest.mark.nats, pytest.mark.skipif(nats_server_binary() is None, reason="nats-server is not installed")]


@pytest.mark.slow
def test_lodging_and_delivery_survive_the_stream_leader_killed_mid_run():
    from concord.bench.cluster import run

    out = run(rate=100, seconds=8, kill_at=0.3)
    raw = out["_raw"]
    # The stream as the transport created it: on all three nodes, dropping a repeated Nats-Msg-Id for 15 minutes.
    assert out["stream_replicas"] == 3 and out["duplicate_window_s"] == 900, out
    # The kill did something: the stream's leader died, and the relay saw publishes fail and retried them.
    assert out["killed"] in {"n1", "n2", "n3"} and out["publish_failures_retried"] >= 1, out
    # Lodging never stopped: all of it acknowledged, some while the node was down, no pause past a bound that
    # holds on the shared machine (lodging does not wait for NATS: the outbox holds what it cannot publish).
    assert out["lodgings_acknowledged"] == 800 and out["lodgings_failed"] == 0, out
    assert out["node_down"]["lodgings"] >= 400 and out["node_down"]["longest_pause_ms"] < 3000, out
    outage_end = raw["killed_at"] + out["publish_outage_s"]
    assert sum(1 for t in raw["acked_at"] if raw["killed_at"] < t < outage_end) > 0  # lodged while nothing published
    # Nothing lost, nothing invented: every message the outbox owes for the acknowledged lodgings (each event, once
    # per audience) was delivered; repeats before deduplication are counted, and none survive it.
    assert out["unpublished_events"] == 0 and out["messages_owed"] >= 800 * 5, out
    assert raw["owed"] <= raw["delivered"] and out["lost"] == 0 and out["unexpected"] == 0, out
    counts = Counter(raw["deliveries"])
    assert sum(n - 1 for n in counts.values()) == out["duplicates_before_dedup"]
    assert set(counts) == raw["delivered"]
    # The hub's own consumer (the notification store behind streams and webhooks) dedupes too: one row each.
    assert out["hub_store"]["lost"] == 0 and out["hub_store"]["stored"] == out["messages_owed"], out


def test_a_cluster_without_quorum_leaves_the_outbox_unpublished_and_its_return_publishes_each_message_once(
        tmp_path):
    from concord.agencies.messages import LoadConfig
    from concord.bootstrap import bootstrap
    from concord.config import Settings
    from concord.declarations.messages import SubmitDeclaration
    from concord.declarations.schemas import parse_declaration
    from concord.messaging.models import EventRecord
    from support import declaration, demo_config_text, subjects

    stream = f"CONCORD_QUORUM_{uuid.uuid4().hex[:8].upper()}"
    prefix = f"concordquorum{uuid.uuid4().hex[:6]}"
    with NatsCluster(tmp_path / "nats") as cluster:
        app = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'n.db'}", var_dir=tmp_path,
                                 bus_transport="nats", nats_url=cluster.urls, nats_stream=stream,
                                 nats_subject_prefix=prefix, nats_replicas=3))
        try:
            app.bus.handle(LoadConfig(text=demo_config_text()))
            app.bus.relay.flush()
            leader = asyncio.run(_leader(cluster.urls, stream))
            other = next(n.name for n in cluster.nodes if n.name != leader)
            cluster.kill(leader)
            cluster.kill(other)  # one node of three left: no quorum, JetStream cannot store
            trader = subjects(app)["hollandfoods"]
            for lrn in ("QUORUM-1", "QUORUM-2"):  # lodging goes on: the outbox is in the hub's database
                doc = parse_declaration(declaration(lrn=lrn)).model_dump(mode="json")
                app.bus.handle(SubmitDeclaration(document=doc), subject=trader)

            def unpublished():
                with app.sessions() as s:
                    return s.scalar(select(func.count()).select_from(EventRecord)
                                    .where(EventRecord.published_at.is_(None)))

            owed = unpublished()
            with pytest.raises(Exception):
                app.bus.relay.flush()
            assert unpublished() == owed > 0  # nothing marked sent without the stream's acknowledgement
            cluster.restart(other)  # two of three: a quorum again, once they have elected a leader
            deadline = time.monotonic() + 60
            while True:  # as the relay does: retry until the stream takes them
                try:
                    app.bus.relay.flush()
                    break
                except Exception:
                    assert time.monotonic() < deadline, "the stream never came back"
                    time.sleep(0.5)
            assert unpublished() == 0
            ids = asyncio.run(_msg_ids(cluster.urls, stream, prefix))
        finally:
            app.close()
    with app.sessions() as s:
        lodged = s.scalars(select(EventRecord.id).where(EventRecord.name == "declaration.lodged")).all()
    assert len(lodged) == 2 and len(ids) == len(set(ids)) and {f"{e}:CUS" for e in lodged} <= set(ids)


async def _leader(urls: str, stream: str) -> str:
    import nats

    nc = await nats.connect(servers=urls.split(","))
    try:
        return (await nc.jetstream().stream_info(stream)).cluster.leader
    finally:
        await nc.close()


async def _msg_ids(urls: str, stream: str, prefix: str) -> list[str]:
    """Every stored message's id, read by sequence from the stream's leader (no consumer: on a cluster that had
    just regained its quorum, a new consumer's first fetch twice read nothing in 15 s on a loaded CI)."""
    import nats
    from nats.js.errors import APIError

    nc = await nats.connect(servers=urls.split(","))
    js = nc.jetstream()
    try:
        deadline, ids, seq = time.monotonic() + 60, [], 1
        while True:
            try:
                last = (await js.stream_info(stream)).state.last_seq
                while seq <= last:
                    message = await js.get_msg(stream, seq)
                    if message.subject.startswith(prefix + "."):
                        ids.append(message.headers["Nats-Msg-Id"])
                    seq += 1
                return ids
            except (nats.errors.TimeoutError, APIError):  # the leader is still being elected: ask again
                assert time.monotonic() < deadline, "the stream could not be read in 60 s"
                await asyncio.sleep(0.5)
    finally:
        await nc.close()
