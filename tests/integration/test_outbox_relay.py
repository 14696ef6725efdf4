"""The outbox relay: this process's commits are published from memory, everything else by sweeping the table."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from concord.messaging import outbox
from concord.messaging.models import EventRecord
from support import declaration, demo_config_text, subjects


def _lodge(app, lrn: str) -> str:
    doc = parse_declaration(declaration(lrn=lrn)).model_dump(mode="json")
    return app.bus.handle(SubmitDeclaration(document=doc), subject=subjects(app)["hollandfoods"])["id"]


def _unpublished(app) -> int:
    with app.sessions() as s:
        return s.scalar(select(func.count()).select_from(EventRecord).where(EventRecord.published_at.is_(None)))


def _lead(seen: list[dict], declaration_id: str) -> list[dict]:
    """The messages cut for the lead agency (which sees every field), without the audience."""
    return [{k: v for k, v in m.items() if k != "audience"} for m in seen
            if m["declaration_id"] == declaration_id and m["audience"] == "CUS"]


def _stored(app, declaration_id: str) -> list[dict]:
    """The events of a declaration as a sweep reads them back from the table."""
    with app.sessions() as s:
        rows = s.scalars(select(EventRecord).where(EventRecord.declaration_id == declaration_id)
                         .order_by(EventRecord.seq)).all()
        return [{"id": r.id, "name": r.name, "declaration_id": r.declaration_id, "agency": r.agency,
                 "occurred_at": r.occurred_at.isoformat(), "payload": r.payload} for r in rows]


def test_committed_events_are_published_from_memory_as_stored(concord):
    seen = []
    concord.transport.subscribe(seen.append)
    did = _lodge(concord, "MEM-1")
    assert concord.bus.relay.flush(sweep=False) > 0  # from memory alone
    assert _unpublished(concord) == 0  # and marked in the table
    assert _lead(seen, did) == _stored(concord, did)  # the same messages a sweep sends


def test_another_processes_commits_are_swept_from_the_table(concord, tmp_path):
    """A CLI upload beside the server: its events reach the server's relay through the table."""
    concord.bus.relay.flush()  # the start-up sweep
    other = bootstrap(concord.settings, clock=FixedClock())
    try:
        did = _lodge(other, "CLI-1")
    finally:
        other.close()
    seen = []
    concord.transport.subscribe(seen.append)
    concord.bus.relay.flush(sweep=False)
    assert not [m for m in seen if m["declaration_id"] == did]  # not in this process's memory
    concord.bus.relay.flush()
    assert _lead(seen, did) == _stored(concord, did)
    assert _unpublished(concord) == 0


def test_a_failed_publish_loses_nothing(tmp_path):
    app = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", var_dir=tmp_path), clock=FixedClock())
    app.bus.handle(LoadConfig(text=demo_config_text()))
    app.bus.relay.flush()
    seen, down = [], [True]

    def deliver(message):
        if down[0]:
            raise ConnectionError("transport down")
        seen.append(message)

    app.transport.subscribe(deliver)
    did = _lodge(app, "DOWN-1")
    with pytest.raises(ConnectionError):
        app.bus.relay.flush(sweep=False)
    assert _unpublished(app) > 0
    down[0] = False
    app.bus.relay.flush(sweep=False)  # memory was emptied by the failure; the relay knows to sweep
    assert _lead(seen, did) == _stored(app, did)
    assert _unpublished(app) == 0
    app.close()


def test_memory_is_bounded_and_the_table_takes_over(concord, monkeypatch):
    """Nobody flushes in a CLI run: past the limit memory is dropped, and a sweep publishes from the table."""
    monkeypatch.setattr(outbox, "FRESH_LIMIT", 5)
    concord.bus.relay.flush()
    seen = []
    concord.transport.subscribe(seen.append)
    first, second = _lodge(concord, "BIG-1"), _lodge(concord, "BIG-2")  # about six events each
    assert len(concord.bus.relay._fresh) <= 5
    concord.bus.relay.flush(sweep=False)
    assert _unpublished(concord) == 0
    for did in (first, second):
        assert _lead(seen, did) == _stored(concord, did)


def test_memory_and_sweep_send_the_same_cut_messages(concord):
    """Both paths cut each event for each audience alike: publishing again from the table repeats them exactly."""
    concord.bus.relay.flush()
    seen = []
    concord.transport.subscribe(seen.append)
    did = _lodge(concord, "BOTH-1")
    concord.bus.relay.flush(sweep=False)
    from_memory, seen[:] = list(seen), []
    with concord.sessions() as s:
        s.execute(EventRecord.__table__.update().where(EventRecord.declaration_id == did).values(published_at=None))
        s.commit()
    concord.bus.relay.flush()
    assert {m["audience"] for m in from_memory} == {"CUS", "trader-NL823456781"}
    assert seen == from_memory and _unpublished(concord) == 0


def test_nobody_listening_in_process_means_nothing_is_cut(sqlite_concord):
    """The default server's in-process transport has no subscriber: rows are marked published, no message is built;
    a subscriber that arrives gets the next events, cut."""
    relay = sqlite_concord.bus.relay
    relay.flush()
    cut_for, calls = relay._audiences, []
    relay._audiences = lambda session, rows: calls.append(len(rows)) or cut_for(session, rows)
    _lodge(sqlite_concord, "NOBODY-1")
    relay.flush(sweep=False)
    assert calls == [] and _unpublished(sqlite_concord) == 0
    seen = []
    sqlite_concord.transport.subscribe(seen.append)
    did = _lodge(sqlite_concord, "SOMEBODY-1")
    relay.flush(sweep=False)
    assert calls and _lead(seen, did) == _stored(sqlite_concord, did)


def test_with_several_workers_only_the_leader_sweeps_and_leaves_other_workers_fresh_rows_to_them(concord):
    """A worker's own commits are its to publish for `sweep_grace`; a worker that is not the leader never sweeps."""
    concord.bus.relay.flush()  # the start-up sweep
    other = bootstrap(concord.settings, clock=concord.clock)  # another worker, on the same clock
    try:
        did = _lodge(other, "W2-1")
    finally:
        other.close()  # it died before publishing: its rows are the leader's to sweep, after the grace
    seen = []
    concord.transport.subscribe(seen.append)
    relay = concord.bus.relay
    relay.sweep_grace, leading = 5.0, [False]
    relay.may_sweep = lambda: leading[0]
    relay.flush()
    leading[0] = True
    relay.flush()
    assert not [m for m in seen if m["declaration_id"] == did] and _unpublished(concord) > 0  # still young
    concord.clock.advance(seconds=6)
    relay.flush()
    assert _lead(seen, did) == _stored(concord, did) and _unpublished(concord) == 0


def test_a_sweep_leaves_what_memory_holds_and_every_event_leaves_once(concord):
    """The periodic sweep runs while this process commits: its rows are unpublished in the table and held in
    memory. Reading them back too was the relay's slow path (on PostgreSQL it fell 17 s behind); the sweep takes
    only the rows memory does not hold, and the next flush publishes the rest from memory."""
    concord.bus.relay.flush()  # the start-up sweep
    mine = _lodge(concord, "MEM-2")  # held in memory, unpublished in the table
    other = bootstrap(concord.settings, clock=FixedClock())
    try:
        theirs = _lodge(other, "CLI-2")  # in the table only
    finally:
        other.close()
    seen = []
    concord.transport.subscribe(seen.append)
    with concord.bus.relay._lock:
        concord.bus.relay._sweep()
    assert _lead(seen, theirs) == _stored(concord, theirs) and not _lead(seen, mine)
    assert _unpublished(concord) == len(_stored(concord, mine)) > 0
    concord.bus.relay.flush(sweep=False)  # from memory
    assert _lead(seen, mine) == _stored(concord, mine) and _unpublished(concord) == 0
    ids = [m["id"] for m in seen if m["audience"] == "CUS"]
    assert len(ids) == len(set(ids))  # each event once per audience


def test_a_sweep_stops_at_the_end_it_read_and_leaves_later_commits_to_the_next(concord):
    """The relay process publishes by sweeping alone. A sweep that read on until it found nothing chased every
    commit landing while it ran: at 100 lodgings a second it published one or two per sweep, 50 sweeps a second,
    each with its three transactions and a wake-up of every worker's tail. Now it ends at the end it read."""
    relay = concord.bus.relay
    relay.flush()  # the start-up sweep
    other = bootstrap(concord.settings, clock=FixedClock())  # another worker: its rows reach this relay by the table
    try:
        first, later, seen = _lodge(other, "SWEEP-1"), [], []

        def deliver(message):  # another worker commits while this sweep publishes
            seen.append(message)
            if not later:
                later.append(_lodge(other, "SWEEP-2"))

        concord.transport.subscribe(deliver)
        relay.flush()
        assert _lead(seen, first) == _stored(concord, first) and not _lead(seen, later[0])
        assert _unpublished(concord) == len(_stored(concord, later[0])) > 0
        relay.flush()  # the next sweep
        assert _lead(seen, later[0]) == _stored(concord, later[0]) and _unpublished(concord) == 0
    finally:
        other.close()
