"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

import json

import pytest
from alembic.autogenerate import compare_metadata
from sqlalchemy import text
from alembic.migration import MigrationContext

from concord.db import make_engine
from concord.migrations import upgrade
from concord.schema import metadata


def _diff(url: str) -> list:
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    engine.dispose()
    return diff


def test_sqlite_schema_matches_models(tmp_path):
    assert _diff(f"sqlite:///{tmp_path / 'm.db'}") == []


def test_postgresql_schema_matches_models(pg_url):
    assert _diff(pg_url) == []


def test_the_old_notifications_table_goes_at_0022_and_comes_back_empty_on_downgrade(pg_url):
    """0019 made its retention index a BRIN; 0022 contracts the table (0020 copied it, nothing uses it since)."""
    from alembic import command

    from concord.migrations import alembic_config

    engine = make_engine(pg_url)

    def index_method():
        with engine.connect() as conn:
            return conn.execute(text("SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                                     "WHERE c.relname = 'ix_notifications_stored'")).scalar()

    upgrade(engine, "0021")
    assert index_method() == "brin"
    upgrade(engine)
    assert index_method() is None
    command.downgrade(alembic_config(engine), "0021")
    assert index_method() == "brin"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM notifications")).scalar() == 0
    engine.dispose()


def test_payload_columns_have_no_planner_statistics_on_postgresql(pg_url):
    """0021: ANALYZE compared whole JSON documents for statistics no query used; the filtered columns keep theirs."""
    import importlib

    payloads = importlib.import_module("concord.migrations.versions.0021_payload_statistics").PAYLOADS
    engine = make_engine(pg_url)
    upgrade(engine)
    with engine.connect() as conn:
        targets = {(t, c): s for t, c, s in conn.execute(text(
            "SELECT c.relname, a.attname, a.attstattarget FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE a.attnum > 0 AND NOT a.attisdropped"))}
    engine.dispose()
    assert {(t, c): targets[(t, c)] for t, cs in payloads.items() for c in cs} == \
        {(t, c): 0 for t, cs in payloads.items() for c in cs}
    assert targets[("declarations", "trader_id")] == -1 and targets[("agency_tasks", "declaration_id")] == -1


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    return f"sqlite:///{tmp_path / 'm.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.mark.parametrize("chunk", [None, 2])
def test_0020_copies_the_old_notifications_into_events_and_moves_the_webhooks(database_url, chunk):
    """Each old event once, numbered with its rows' highest seq (so a stream resuming from an old id misses
    nothing), each distinct body once; an audience a later redelivery added (rows not adjacent) joins its event;
    webhooks point at the new numbers; new events after."""
    from datetime import datetime, timezone

    from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, insert, select

    from concord.clock import FixedClock
    from concord.db import UTCDateTime, make_session_factory
    from concord.notifications.models import WebhookDelivery, WebhookSubscription
    from concord.notifications.store import NotificationStore

    engine = make_engine(database_url)
    upgrade(engine, "0019" if chunk is None else "0021")  # 0022 drops the old table
    notifications = Table("notifications", MetaData(), Column("seq", Integer, primary_key=True),  # as 0009 made it
                          Column("event_id", String(32)), Column("audience", String(120)), Column("name", String(80)),
                          Column("stored_at", UTCDateTime), Column("message", JSON))
    at = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)

    def old(seq, event, audience, payload):
        return {"seq": seq, "event_id": event, "audience": audience, "name": "task.created", "stored_at": at,
                "message": {"id": event, "name": "task.created", "declaration_id": "D1", "agency": "CUS",
                            "occurred_at": at.isoformat(), "audience": audience, "payload": payload}}

    rows = [old(1, "E1", "CUS", {"lane": "red"}), old(2, "E1", "NPPO", {"lane": "red"}),
            old(3, "E1", "trader-T", {"withheld": "CUS"}), old(4, "E2", "CUS", {"n": 2}),
            old(5, "E1", "VET", {"lane": "red"})]  # VET added to E1 by a later redelivery
    with engine.begin() as conn:
        conn.execute(insert(notifications), rows)
        conn.execute(insert(WebhookSubscription.__table__), [
            {"id": f"WHK{a}", "agency": a, "audience": a, "url": "https://x.example", "secret": "whsec_AA==",
             "events": [], "description": "", "created_by": "u", "created_at": at, "active": True, "queued_seq": q}
            for a, q in (("NPPO", 2), ("CUS", 4))])
        conn.execute(insert(WebhookDelivery.__table__), [{
            "id": "WHD1", "subscription_id": "WHKNPPO", "notification_seq": 2, "event_id": "E1", "status": "pending",
            "attempts": 0, "next_attempt_at": at, "last_status": None, "last_error": None, "created_at": at,
            "finished_at": None}])
    if chunk is None:
        upgrade(engine, "0021")
    else:  # the copy itself, two old rows at a time: events split across reads, and the one a redelivery added
        import importlib.util
        from pathlib import Path

        from concord import migrations

        path = Path(migrations.__file__).parent / "versions" / "0020_notification_events.py"
        spec = importlib.util.spec_from_file_location("m0020", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.CHUNK = chunk
        with engine.begin() as conn:
            module._copy(conn)
    sessions = make_session_factory(engine)
    store = NotificationStore(sessions, FixedClock(), retention_h=1e6)
    messages = store.messages()
    assert [(seq, aud) for seq, aud, _ in messages] == [
        (4, "CUS"), (5, "CUS"), (5, "NPPO"), (5, "trader-T"), (5, "VET")]
    assert {(m["audience"], str(m["payload"])) for *_, m in messages} == {
        (r["audience"], str(r["message"]["payload"])) for r in rows}
    assert [m for *_, m in messages] == [r["message"] for r in sorted(rows, key=lambda r: (r["event_id"] == "E1",
                                                                                          r["seq"]))]
    with sessions() as s:
        bodies = s.execute(text("SELECT bodies FROM notification_events WHERE event_id = 'E1'")).scalar()
        assert len(bodies if isinstance(bodies, list) else json.loads(bodies)) == 2  # of its 4 audiences
        assert s.scalar(select(WebhookDelivery.notification_seq)) == 5
        assert dict(s.execute(select(WebhookSubscription.id, WebhookSubscription.queued_seq)).all()) == {
            "WHKNPPO": 5, "WHKCUS": 4}
    assert [r[3] is not None for r in store.read(0, "NPPO")] == [True]
    store.store([rows[0]["message"] | {"id": "E3"}])
    assert [seq for seq, *_ in store.messages()][-1] == 6  # after every old row
    engine.dispose()
