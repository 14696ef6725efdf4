"""PostgreSQL: what autovacuum does for Concord's tables, when the server's autovacuum is off; and, on or off, a new
database's first statistics as soon as its tables fill.

Without it PostgreSQL never gathers statistics, so the planner guesses: it read the tasks of a relay batch's
declarations (`agency_tasks WHERE declaration_id IN (...)`) with a scan of the whole table, which grew with every
lodging, until at 450 lodgings a second the relay fell behind for good (lag 131 s after ten minutes). And the outbox
leaves a dead row for every event it marks published, which only a vacuum reclaims. A server with autovacuum on
(PostgreSQL's default) does both itself, and then `housekeeping_job` is None.

First statistics (`first_statistics_job`, every FIRST_STATISTICS_S): each connection plans a prepared statement once
for all after its first five runs (the generic plan), with the table's size at that moment, and plans it again only
when the table's statistics change. On a new database that moment comes in its first seconds, while the tables are
nearly empty, and a scan of the whole table then looks cheapest; the first ANALYZE came up to HOUSEKEEPING_S later
(autovacuum: up to autovacuum_naptime, a minute). Until then the replay lookup of every group commit read all of
`declarations`, twice: 3.6 ms of the database's time a group at 300 lodgings a second (its statement log over 5 s,
40 s after the start), 27 % of all its statement time (docs/scaling.md)."""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# autovacuum's defaults (autovacuum_vacuum_threshold / _scale_factor, its cost delay), but statistics refreshed
# when a table has changed by its own size (autovacuum: by a tenth): the planner's choices here are between an index
# and a scan, which a table's first statistics settle (they scale with its size), and each ANALYZE costs the busy
# machine CPU (with autovacuum's rule, most growing tables were analyzed at each look in a soak's first minutes; its
# first minute's p99 was 918 ms against 440 ms without the job: one run each, not shown to be the cause).
VACUUM_BASE, VACUUM_SHARE = 50, 0.2
ANALYZE_BASE, ANALYZE_SHARE = 50, 1.0
HOUSEKEEPING_S = 30.0  # how often the leader looks (autovacuum: every minute per database)
COST_DELAY_MS = 2  # paced as autovacuum is, so a vacuum of a large table does not starve the requests
FIRST_STATISTICS_ROWS = 500  # a table this large is worth an index (a scan of it: about 0.3 ms)
FIRST_STATISTICS_S = 5.0  # how often the leader looks for a table without statistics

STATS = ("SELECT s.relname, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, c.reltuples "
         "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE s.schemaname = current_schema()")


def autovacuum_off(engine: Engine) -> bool:
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        return conn.exec_driver_sql("SHOW autovacuum").scalar() != "on"


def due(rows) -> list[tuple[str, str]]:
    """(table, "VACUUM (ANALYZE)" or "ANALYZE") for each table past the thresholds above. `rows`: STATS's."""
    out = []
    for name, live, dead, modified, reltuples in rows:
        size = max(reltuples, 0)  # -1: never analyzed, so any table with rows is due
        if dead > VACUUM_BASE + VACUUM_SHARE * max(size, live):
            out.append((name, "VACUUM (ANALYZE)"))
        elif modified > ANALYZE_BASE + ANALYZE_SHARE * size:
            out.append((name, "ANALYZE"))
    return out


def first_statistics(rows) -> list[tuple[str, str]]:
    """(table, "ANALYZE") for each table with FIRST_STATISTICS_ROWS rows or more and no statistics yet (reltuples
    -1: never analyzed). `rows`: STATS's."""
    return [(name, "ANALYZE") for name, live, _, _, reltuples in rows
            if reltuples < 0 and live >= FIRST_STATISTICS_ROWS]


def first_statistics_job(engine: Engine):
    """PostgreSQL: a job for the leader to run every FIRST_STATISTICS_S (`tidy` with `first_statistics`)."""
    return lambda: tidy(engine, first_statistics)


def housekeeping_job(engine: Engine):
    """A job for the leader to run every HOUSEKEEPING_S (`tidy`), or None where it is not needed: SQLite, or
    autovacuum on."""
    if not autovacuum_off(engine):
        return None
    log.warning("PostgreSQL's autovacuum is off: Concord vacuums and analyzes its own tables (turn autovacuum on "
                "and this stops)")
    return lambda: tidy(engine)


def tidy(engine: Engine, choose=due) -> list[tuple[str, str]]:
    """Vacuum and analyze the tables `choose` picks from STATS (`due`: past the thresholds above); returns what it
    did."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # VACUUM: no transaction
        done = choose(conn.exec_driver_sql(STATS).all())
        if done:
            conn.exec_driver_sql(f"SET vacuum_cost_delay = {COST_DELAY_MS}")
            try:
                for table, what in done:
                    conn.exec_driver_sql(f'{what} "{table}"')
            finally:
                conn.exec_driver_sql("RESET vacuum_cost_delay")  # the connection goes back to the pool
    return done
