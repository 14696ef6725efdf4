"""PostgreSQL with autovacuum off: the leader's housekeeping analyzes and vacuums Concord's tables, so the relay's
read of a batch's tasks uses its index instead of scanning a table that grows with every lodging. With autovacuum on,
it gives a new database's tables their first statistics, so that a plan cached while they were empty is made again."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings
from concord.declarations.handlers import known_query
from concord.housekeeping import FIRST_STATISTICS_ROWS, STATS, due, first_statistics, tidy
from support import demo_config_text

# the relay's read of a batch's tasks (concord.messaging.audiences._declarations), for 300 declarations
TASKS_OF_A_BATCH = ("SELECT declaration_id, id, agency, status FROM agency_tasks WHERE declaration_id IN "
                    "(SELECT 'DCL' || lpad(n::text, 12, '0') FROM generate_series(1, 300) n)")
FILL_TASKS = """INSERT INTO agency_tasks (id, declaration_id, declaration_version, agency, task_type, status,
       created_at, due_at, overdue_raised, reasons, fields)
       SELECT 'TSK' || lpad(n::text, 12, '0'), 'DCL' || lpad((n / 5 + 1)::text, 12, '0'), 1, 'CUS', 'document_check',
              'approved', timestamp '2026-01-01', timestamp '2026-01-02', false, '[]'::jsonb, '[]'::jsonb
       FROM generate_series(0, 99999) n"""
FILL_DECLARATIONS = """INSERT INTO declarations (id, trader_id, lrn, idempotency_key, body_sha256, type, office_of_entry,
       hs_chapters, origins, engaged, status, lane, version, lodged_at, updated_at)
       SELECT 'DCL' || lpad(n::text, 12, '0'), 'NL800000007', 'LRN-' || n, NULL, md5(n::text) || md5(n::text), 'IM',
              'NLRTM', ',08,', ',EC,', '{}'::jsonb, 'released', 'green', 1, timestamp '2026-01-01',
              timestamp '2026-01-01'
       FROM generate_series(1, 20001) n"""
FILL_EVENTS = """INSERT INTO events (id, name, declaration_id, agency, occurred_at, payload)
       SELECT 'ev_' || n, 'task.created', NULL, 'CUS', timestamp '2026-01-01', '{}'::jsonb
       FROM generate_series(1, 20000) n"""


def test_due_follows_autovacuums_thresholds():
    # (table, live, dead, modified since the last analyze, reltuples: -1 never analyzed)
    assert due([("never_analyzed", 0, 0, 51, -1), ("quiet", 0, 0, 50, -1)]) == [("never_analyzed", "ANALYZE")]
    assert due([("marked", 1000, 251, 0, 1000), ("few_dead", 1000, 250, 0, 1000)]) == [("marked", "VACUUM (ANALYZE)")]
    assert due([("doubled", 1000, 0, 1051, 1000), ("grown", 1000, 0, 1050, 1000)]) == [("doubled", "ANALYZE")]


def test_first_statistics_are_for_tables_with_rows_and_none_yet():
    n = FIRST_STATISTICS_ROWS  # (table, live, dead, modified since the last analyze, reltuples: -1 never analyzed)
    rows = [("filled", n, 0, n, -1), ("few", n - 1, 0, 9, -1), ("analyzed", 10 * n, 0, 10, 100)]
    assert first_statistics(rows) == [("filled", "ANALYZE")]


def _stats(conn) -> dict:
    conn.rollback()  # statistics are read once per transaction (stats_fetch_consistency): a fresh one each time
    return {r[0]: r[1:] for r in conn.execute(text(STATS))}


@pytest.mark.postgres
def test_housekeeping_analyzes_and_vacuums_what_autovacuum_would(pg_url, tmp_path):
    app = bootstrap(Settings(database_url=pg_url, var_dir=tmp_path), clock=FixedClock())
    app.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
    try:
        with app.engine.begin() as conn:
            for sql in (FILL_DECLARATIONS, FILL_TASKS, FILL_EVENTS):
                conn.execute(text(sql))
        with app.engine.begin() as conn:  # the relay marks every event published: 20,000 dead rows
            conn.execute(text("UPDATE events SET published_at = timestamp '2026-01-01'"))
        deadline = time.monotonic() + 10
        with app.engine.connect() as conn:  # statistics reach pg_stat_user_tables within a second or so
            while (stats := _stats(conn))["events"][1] < 20_000 and time.monotonic() < deadline:
                time.sleep(0.2)
        assert stats["events"][1] >= 20_000 and stats["agency_tasks"][2] >= 100_000, stats

        done = dict(tidy(app.engine))

        assert done["events"] == "VACUUM (ANALYZE)" and done["agency_tasks"] == "ANALYZE", done
        with app.engine.connect() as conn:
            plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + TASKS_OF_A_BATCH)))
            assert "Seq Scan on agency_tasks" not in plan, plan
            after = _stats(conn)
        assert after["events"][1] < 1_000 and after["agency_tasks"][2] < 100, after  # dead rows gone, counted
        assert "agency_tasks" not in dict(tidy(app.engine))  # nothing new: nothing to do
    finally:
        app.close()


@pytest.mark.postgres
def test_a_replay_lookup_planned_while_the_table_was_empty_uses_the_index_once_the_table_has_statistics(pg_url,
                                                                                                       tmp_path):
    """What a new deployment met in its first minute: each connection keeps the generic plan of the replay lookup that
    it made in its first seconds, when a scan of the empty `declarations` looked cheapest, until the table is
    analyzed. The housekeeping's first statistics (autovacuum on, as here) make it plan again, with the index."""
    app = bootstrap(Settings(database_url=pg_url, var_dir=tmp_path), clock=FixedClock())
    try:
        sql, _ = known_query(app.engine.dialect, [], [], [])
        lookup = "EXECUTE known('{NL800000007}', '{LRN-77}', '{NL800000007}', '{}')"
        with app.engine.begin() as conn:  # autovacuum's round could analyze the table first, at any moment
            conn.exec_driver_sql("ALTER TABLE declarations SET (autovacuum_enabled = false)")
        with app.engine.connect() as conn:
            conn.exec_driver_sql("PREPARE known(text[], text[], text[], text[]) AS "
                                 + sql.replace("%s", "$%d") % (1, 2, 3, 4))
            for _ in range(6):  # past five runs, PostgreSQL keeps a generic plan when it costs no more
                conn.exec_driver_sql(lookup).all()
            conn.execute(text(FILL_DECLARATIONS))
            conn.commit()
            deadline = time.monotonic() + 10
            while _stats(conn)["declarations"][0] < 20_000 and time.monotonic() < deadline:
                time.sleep(0.2)

            def plan() -> str:
                return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + lookup))

            assert "Seq Scan on declarations" in plan(), plan()  # the empty table's plan, kept
            assert ("declarations", "ANALYZE") in tidy(app.engine, first_statistics)
            conn.rollback()
            assert "Seq Scan" not in plan() and "Index" in plan(), plan()
            assert "declarations" not in dict(tidy(app.engine, first_statistics))  # once: autovacuum's from then on
    finally:
        app.close()


@pytest.mark.postgres
def test_the_servers_leader_gives_a_filled_table_its_first_statistics(pg_url, tmp_path):
    from fastapi.testclient import TestClient

    from concord.app import create_app

    app = bootstrap(Settings(database_url=pg_url, var_dir=tmp_path), clock=FixedClock())
    app.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
    with app.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE declarations SET (autovacuum_enabled = false)")  # so that only ours can
        conn.execute(text(FILL_DECLARATIONS))
    with TestClient(create_app(app, background=True)):  # the server's periodic jobs, its leader elected
        deadline = time.monotonic() + 20  # before HOUSEKEEPING_S (30 s): the first statistics' job, not the tidy
        with app.engine.connect() as conn:
            while (analyzed := conn.exec_driver_sql(
                    "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'declarations'").scalar()) is None:
                assert time.monotonic() < deadline, "the leader did not analyze declarations within 20 s"
                conn.rollback()
                time.sleep(0.5)
    assert analyzed is not None
