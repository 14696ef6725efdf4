"""A group commit of lodgings costs PostgreSQL a fixed, small number of round trips, whatever the group's size.

Counted on the wire (libpq's trace of the messages psycopg sends): each run of messages sent before an answer is
read is one wait for the server. Before the pipelined commit a lodging alone cost 11 and a group of ten 17 (every row its own statement;
more still with the joint-inspection lookups after lodgings, which this test leaves out); then 6 (the pool's ping,
BEGIN, the replay lookup, the rows with the audit head's update, the audit entries with the COMMIT, and the end of
the pipeline); now 3 (BEGIN, the replay lookup, everything else): the pool pings only a connection that sat idle,
the database numbers the audit entries as it takes the head's lock (no answer awaited in between), and the COMMIT
is answered with the rest at the end of the pipeline."""

from __future__ import annotations

import os

import pytest
from psycopg.pq import Trace
from sqlalchemy import event

from concord.access.identity import Subject
from concord.agencies.messages import LoadConfig
from concord.bench.ingest import _bodies
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings
from concord.declarations.grouping import lodge_isolated
from concord.declarations.schemas import declaration_document
from support import demo_config_text

pytestmark = pytest.mark.postgres


def test_a_group_commit_is_three_round_trips_whatever_its_size(pg_url, tmp_path):
    app = bootstrap(Settings(database_url=pg_url, var_dir=tmp_path), clock=FixedClock())
    try:
        app.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
        path = tmp_path / "libpq.trace"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        traced = []

        @event.listens_for(app.engine, "checkout")
        def _trace(dbapi_conn, *_):  # every connection the lodgings use is traced
            if dbapi_conn.pgconn not in traced:
                dbapi_conn.pgconn.trace(fd)
                dbapi_conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)  # lines begin with F (sent) or B
                traced.append(dbapi_conn.pgconn)

        trader = Subject("rotterdam-freight", None, "NL812345670", frozenset({"trader"}))
        documents = [declaration_document(b) for b in _bodies(80, trader, seed=11)]
        for n, d in enumerate(documents):
            d["lrn"] = f"RT-{n}"

        def round_trips(group: list) -> int:
            os.truncate(path, 0)
            results = lodge_isolated(app.bus, [(trader, d, None) for d in group])
            assert all(not isinstance(r, BaseException) and not r["replayed"] for r in results), results
            for pgconn in traced:  # untrace flushes libpq's buffer
                pgconn.untrace()
                pgconn.trace(fd)
                pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
            lines = path.read_text().splitlines()
            # A wait for the server: what the client sends before it reads an answer (a run of F lines followed by
            # B lines). Counting Syncs and Queries missed a Flush that waits (the audit head's answer) and counted a
            # Sync sent with nothing left to answer as one.
            sides = [line[0] for line in lines if line[:1] in ("F", "B")]
            return sum(1 for sent, answer in zip(sides, sides[1:]) if sent == "F" and answer == "B")

        round_trips(documents[:3])  # the statements' first use (psycopg prepares them after a few)
        # The joint-inspection proposals after some lodgings are their own units of work: not counted here.
        alone = [d for d in documents[3:] if not _examined_twice(app, d)]
        assert len(alone) >= 11
        assert round_trips(alone[:1]) <= 3  # 11 before the pipelined commit, then 6
        assert round_trips(alone[1:11]) <= 3  # 17 before, then 6
        os.close(fd)
    finally:
        app.close()


def _examined_twice(app, document: dict) -> bool:
    """Whether two agencies will want to examine these goods (then a joint inspection is proposed after the commit,
    in a unit of work of its own)."""
    with app.sessions() as s:
        snapshot = app.directory.current(s)
    inspecting = {e.agency for e in snapshot.routing.route(document) if e.task_type == "inspection"}
    return len(inspecting) >= 1  # with customs' own inspection (a red lane) that would make two


def test_a_pooled_connection_the_server_dropped_while_idle_is_replaced(pg_url, monkeypatch):
    """The pool pings only connections idle for a while (db.PING_IDLE_S); one the server closed meanwhile (a restart,
    an idle timeout) is replaced at checkout, not handed to a caller."""
    from sqlalchemy import text

    from concord import db

    engine = db.make_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as conn:  # used a moment ago: no ping, the same connection
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == first
        with db.make_engine(pg_url).connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar()
        monkeypatch.setattr(db, "PING_IDLE_S", 0.0)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != first
    finally:
        engine.dispose()


def test_entries_numbered_by_the_database_at_commit_verify_as_those_numbered_here(pg_url, tmp_path):
    """The commit's audit entries are numbered and hashed by PostgreSQL (AuditLog.append_at_commit): contiguous
    seq, each body byte for byte the canonical entry, its leaf hash over it; an entry the split cannot take (the
    sentinel twice) goes the old way, in the same log."""
    from concord.audit import log as audit_log
    from concord.audit.scan import scan_range

    app = bootstrap(Settings(database_url=pg_url, var_dir=tmp_path), clock=FixedClock())
    try:
        app.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
        trader = Subject("rotterdam-freight", None, "NL812345670", frozenset({"trader"}))
        documents = [declaration_document(b) for b in _bodies(12, trader, seed=5)]
        for n, d in enumerate(documents):
            d["lrn"] = f"AC-{n}"
        used = []
        real = audit_log.AuditLog.append_at_commit

        def spy(self, *args):
            used.append(real(self, *args))
            return used[-1]

        audit_log.AuditLog.append_at_commit = spy
        try:
            assert all("id" in r for r in lodge_isolated(app.bus, [(trader, d, None) for d in documents[:6]]))
            for detail in ({"note": "Zoë ✓ \"quoted\" \\ back"}, {"seq": audit_log.SENTINEL, "n": [1, 2.5, None]}):
                with app.uow(trader) as uow:
                    uow.audit("test:noted", "declaration/none", detail=detail)
                    uow.commit()
            assert all("id" in r for r in lodge_isolated(app.bus, [(trader, d, None) for d in documents[6:]]))
        finally:
            audit_log.AuditLog.append_at_commit = real
        # the first group the old way (the head row was born with the config's entry, so not yet seen), the
        # sentinel twice the old way too
        assert used == [False, True, False, True]
        with app.engine.connect() as conn:
            size = conn.exec_driver_sql("SELECT size FROM audit_head").scalar()
            scan = scan_range(conn, 0, size)
            bodies = [r[0] for r in conn.exec_driver_sql("SELECT body FROM audit_entries ORDER BY seq")]
        assert scan.findings == [] and scan.count == size and len(bodies) == size
        assert any("Zoë ✓" in b for b in bodies)
    finally:
        app.close()
