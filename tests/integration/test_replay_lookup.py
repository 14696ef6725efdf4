"""A lodging looks up the group's LRNs and idempotency keys (a replay answers with its first lodging) through the
unique (trader, LRN) and (trader, key) indexes, on both databases and under PostgreSQL's generic plan for the
prepared statement: never by reading every declaration the trader has lodged, which grows with a broker's history.

The plans are asked of the statement the lodging sends (`known_query`), on a broker with 5,000 declarations among
500 traders with 20 each: the statistics say a trader has few."""

from __future__ import annotations

import re

from sqlalchemy import text

FILL = """INSERT INTO declarations (id, trader_id, lrn, idempotency_key, body_sha256, type, office_of_entry,
          hs_chapters, origins, engaged, status, lane, version, lodged_at, updated_at)
          SELECT 'DCL' || n, CASE WHEN n <= 5000 THEN 'NL812345670' ELSE 'NL8' || (n % 500) END, 'LRN-' || n, CASE WHEN n % 2 = 0 THEN 'key-' || n END, 'x', 'IM',
                 'NLRTM', ',08,', ',EC,', {engaged}, 'accepted', 'green', 1, '2026-01-01', '2026-01-01'
          FROM {series}"""
GROUP = (["NL812345670"], ["LRN-7", "LRN-42", "LRN-new"], ["key-8", "key-new"])


def _reads_by_both_columns(plan: str) -> None:
    """Every read goes by an index on the LRNs or the keys (the trader then a filter, or in the index too)."""
    assert "Seq Scan" not in plan and " SCAN " not in plan, plan
    conditions = re.findall(r"(?:Index Cond: |USING (?:COVERING )?INDEX \S+ )\((.*)\)", plan)
    assert len(conditions) == 2, plan  # one indexed read for the LRNs, one for the keys
    assert all("lrn" in c or "idempotency_key" in c for c in conditions), plan


def test_the_replay_lookup_reads_the_unique_indexes_on_sqlite(sqlite_concord):
    from concord.declarations.handlers import known_query

    with sqlite_concord.engine.begin() as conn:
        conn.execute(text(FILL.format(engaged="'{}'", series="(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL "
                                                            "SELECT n + 1 FROM s WHERE n < 15000) SELECT n FROM s)")))
        # no ANALYZE: the hub never runs it on SQLite, so its planner goes by the indexes' shapes alone
        sql, params = known_query(conn.dialect, *GROUP)
        rows = conn.exec_driver_sql(sql, params).all()
        plan = "\n".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
    assert sorted(r[2] for r in rows) == ["LRN-42", "LRN-7", "LRN-8"]
    _reads_by_both_columns(plan)


def test_the_replay_lookup_reads_the_unique_indexes_under_a_generic_plan_on_postgresql(pg_url, tmp_path):
    from concord.bootstrap import bootstrap
    from concord.clock import FixedClock
    from concord.config import Settings
    from concord.declarations.handlers import known_query

    app = bootstrap(Settings(database_url=pg_url, var_dir=tmp_path), clock=FixedClock())
    try:
        with app.engine.begin() as conn:
            conn.execute(text(FILL.format(engaged="'{}'::jsonb", series="generate_series(1, 15000) n")))
            conn.execute(text("ANALYZE declarations"))
            sql, params = known_query(conn.dialect, *GROUP)
            rows = conn.exec_driver_sql(sql, params).all()
            numbered = iter(range(1, 10))
            prepared = re.sub("%s", lambda _: f"${next(numbered)}", sql)
            types = ", ".join(["text[]"] * len(params))
            conn.exec_driver_sql(f"PREPARE lookup({types}) AS {prepared}")
            conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")  # what psycopg's prepared
            # statement comes to after five executions, when the generic plan costs no more than the custom ones
            literal = ", ".join("ARRAY[" + ", ".join(f"'{v}'" for v in p) + "]::text[]" for p in params)
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN EXECUTE lookup({literal})"))
    finally:
        app.close()
    assert sorted(r[2] for r in rows) == ["LRN-42", "LRN-7", "LRN-8"]
    _reads_by_both_columns(plan)
