"""Two `concord serve` processes on one PostgreSQL database (issue 14, item 5): an event committed through either
reaches the subscribers of both, exactly once each, in the store's order, each cut for its audience. Two plain
processes, as several workers or hosts behind a balancer would be."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import create_engine, text

from concord.bench.alerts import prepare, serve
from support import declaration
from test_notifications_stream import BANANAS, SHRIMPS, Stream, wait_for

pytestmark = pytest.mark.postgres

USERS = ("cus-officer", "nppo-officer", "vet-officer", "pol-officer", "hollandfoods", "rotterdam-freight")
AUDIENCE = {"cus-officer": "CUS", "nppo-officer": "NPPO", "vet-officer": "VET", "pol-officer": "POL",
            "hollandfoods": "trader-NL823456781", "rotterdam-freight": "trader-NL812345670"}


def stored(url: str, dids) -> dict[str, list[tuple[str, dict]]]:
    """What the store holds about these declarations, per audience, in seq order: [(seq, message)]."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT seq, audiences, bodies FROM notification_events ORDER BY seq")).all()
    finally:
        engine.dispose()
    out: dict = {}
    for seq, audience, message in ((seq, a, bodies[b] | {"audience": a}) for seq, audiences, bodies in rows
                                   for a, b in audiences):
        if message.get("declaration_id") in dids:
            out.setdefault(audience, []).append((str(seq), message))
    return out


@pytest.mark.parametrize("relay_process", [False, True], ids=["relay-in-worker", "relay-process"])
def test_an_event_committed_through_one_server_reaches_the_subscribers_of_both_once_in_order(tmp_path, pg_url,
                                                                                           relay_process):
    """Also with the relay in a process of its own beside each server (CONCORD_RELAY_PROCESS): two relay
    processes on one database, of which one sweeps at a time."""
    tokens = prepare(tmp_path, USERS, database_url=pg_url)
    env = {"CONCORD_DATABASE_URL": pg_url, "CONCORD_STREAM_HEARTBEAT_S": "0.5",
           "CONCORD_RELAY_PROCESS": str(relay_process).lower()}
    with serve(tmp_path, **env) as (one, _), serve(tmp_path, **env) as (two, _):
        streams = {(base, user): Stream(base, tokens[user]) for base in (one, two) for user in USERS}
        try:
            assert all(s.response.status_code == 200 for s in streams.values())
            time.sleep(0.5)
            dids = []
            for base, trader, doc in ((one, "hollandfoods", declaration(lrn="WK-1", items=[BANANAS])),
                                      (two, "rotterdam-freight", declaration(
                                          lrn="WK-2", items=[SHRIMPS], declarant={
                                              "id": "NL812345670", "name": "Rotterdam Freight Brokers BV",
                                              "country": "NL", "address": "Europaweg 1, Rotterdam"}))):
                r = httpx.post(f"{base}/api/v1/declarations", json=doc,
                               headers={"Authorization": f"Bearer {tokens[trader]}"}, timeout=60)
                assert r.status_code == 201, r.text
                dids.append(r.json()["id"])
            owed = stored(pg_url, set(dids))
            # Each lodging reached the lead's, its trader's and its engaged agency's subscribers on both servers.
            for base in (one, two):
                for user, did in (("cus-officer", dids[0]), ("cus-officer", dids[1]), ("hollandfoods", dids[0]),
                                  ("rotterdam-freight", dids[1]), ("nppo-officer", dids[0]),
                                  ("vet-officer", dids[1])):
                    wait_for(lambda: streams[(base, user)].about(did), 30)
            time.sleep(1.5)  # the other server's tail polls the table every 0.5 s; anything late would be in
            owed = stored(pg_url, set(dids))
            assert {"CUS", "NPPO", "VET", "trader-NL823456781", "trader-NL812345670"} <= set(owed)
            for (base, user), stream in streams.items():
                got = [(i, m) for i, _, m in stream.events if m.get("declaration_id") in dids]
                # exactly the store's messages for its audience, once each, in seq order, on either server
                assert got == owed.get(AUDIENCE[user], []), (base, user)
                assert all(m["audience"] == AUDIENCE[user] for _, m in got)
            assert [m for (_, u), s in streams.items() if u == "pol-officer" for _, _, m in s.events] == []
            assert not streams[(one, "nppo-officer")].about(dids[1])
            assert not streams[(two, "vet-officer")].about(dids[0])
        finally:
            for s in streams.values():
                s.close()
