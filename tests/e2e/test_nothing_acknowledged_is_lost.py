"""Nothing acknowledged is lost: `kill -9` of the server (and SIGTERM) while many clients lodge, then a restart.

Every lodging a client was told about (2xx) is stored exactly once, a retry under the same Idempotency-Key gets
the same declaration back, and the audit log verifies. Each run prints its figures (pytest -s shows them).
Server starts are most of the time here (about 7 s each on a loaded machine), so each test crashes twice."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from crashing import Hub, Ledger, account, audit_verify, lodge_while, retry_everything

CLIENTS = 24


def _merged(*ledgers: Ledger) -> Ledger:
    merged = Ledger()
    for ledger in ledgers:
        merged.sent |= ledger.sent
        merged.acknowledged |= ledger.acknowledged
        merged.in_doubt |= ledger.in_doubt
        merged.errors += ledger.errors
    return merged


def _check(hub: Hub, port: int, ledger: Ledger, name: str) -> dict:
    """After the last restart: the figures of the run, and what must hold of them."""
    figures = account(hub, ledger)  # before the retries: what the crash left
    retried = retry_everything(hub, port, ledger)
    stored_after_retries = len(hub.stored())
    verified = audit_verify(hub)
    print(f"\n{name}: " + json.dumps({k: v for k, v in figures.items() if k != "errors"} | {
        "in_doubt_that_were_committed": retried["in_doubt_that_were_committed"],
        "audit_entries": verified.get("entries")}))
    assert figures["acknowledged"] > 0, "no lodging was acknowledged before the crash: the test tested nothing"
    assert figures["lost"] == [] and figures["duplicated"] == [] and retried["changed"] == []
    assert figures["errors"] == []
    assert stored_after_retries == len(ledger.sent)  # every key once, the in-doubt ones lodged by their retry
    assert account(hub, ledger)["duplicated"] == []
    return figures


def test_sigterm_then_kill_9_on_sqlite_lose_no_acknowledged_lodging(tmp_path):
    """SIGTERM (graceful: the group commit under way and the requests already read are answered), a restart,
    then kill -9 (nothing answered is lost; what was cut is in doubt and its retry settles it)."""
    hub = Hub(tmp_path)
    try:
        port = hub.serve()
        stopped = asyncio.run(lodge_while(hub, [port], CLIENTS, lambda: hub.kill(port, signal.SIGTERM)))
        committed_unanswered = {k for _, _, k in hub.stored()} & stopped.in_doubt
        assert committed_unanswered == set(), "a graceful stop committed lodgings it did not answer"
        port = hub.serve()
        killed = asyncio.run(lodge_while(hub, [port], CLIENTS, lambda: hub.kill(port), tag="b"))
        port = hub.serve()
        _check(hub, port, _merged(stopped, killed), "SIGTERM then kill -9 on sqlite")
    finally:
        hub.stop()


@pytest.mark.postgres
def test_kill_9_of_one_server_among_several_then_of_the_last_on_postgresql(tmp_path, pg_url):
    """Two servers on one database (what a worker among several is): one dies by kill -9, its clients move to
    the other, which goes on lodging; then that one dies too, in full flow. After a restart, everything either
    acknowledged is there once."""
    hub = Hub(tmp_path, pg_url)
    try:
        first, second = hub.serve_many(None, None)
        ledger = asyncio.run(lodge_while(hub, [first, second], CLIENTS, lambda: hub.kill(first), then=1.5))
        survivor = account(hub, ledger)
        print("\nkill -9 of one of two servers on postgresql (before the retries): " + json.dumps(
            {k: v for k, v in survivor.items() if k != "errors"}))
        assert survivor["lost"] == [] and survivor["duplicated"] == []
        assert len(ledger.acknowledged) > ledger.acknowledged_before_the_crash  # the survivor lodged on
        last = asyncio.run(lodge_while(hub, [second], CLIENTS, lambda: hub.kill(second), tag="b"))
        port = hub.serve()
        _check(hub, port, _merged(ledger, last), "kill -9 of one of two servers, then of the last, on postgresql")
    finally:
        hub.stop()
