"""The hot reads of the console, the hunts and the relay use an index on PostgreSQL: EXPLAIN, on tables big enough
that the planner prefers one, shows no sequential scan of a big table.

The task queue, a trader's and customs' declaration lists, the console's declaration list and search (customs and
an agency) are the application's own queries (captured as they run);
the relay's sweep, the auditor console's log page, the access report and the hunts' key lookup are written as those
modules write them. An index dropped, or a query changed so that none serves it, fails here."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, func, or_, select, text

from concord.access.identity import Subject
from concord.audit.models import AuditEntry
from concord.clearance.handlers import late_tasks
from concord.clearance.queries import task_queue
from concord.declarations.models import Declaration
from concord.declarations.queries import list_declarations
from concord.declarations.search import search_declarations
from concord.hunting.models import DeclarationKey
from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings
from support import demo_config_text, subjects

pytestmark = pytest.mark.postgres

BIG = ("declarations", "declaration_versions", "agency_tasks", "declaration_keys", "events", "audit_entries")
AGENCIES = ("CUS", "NPPO", "VET", "FDA", "STD", "POL", "ENV", "MAR")

# Rows enough that a sequential scan costs more than an index's (10,000 declarations, five tasks, six keys and five events each).
FILL = [
    """INSERT INTO declarations (id, trader_id, lrn, idempotency_key, body_sha256, type, office_of_entry, hs_chapters,
       origins, engaged, status, lane, version, lodged_at, updated_at)
       SELECT 'DCL' || lpad(n::text, 12, '0'), 'NL8' || lpad((n % 400)::text, 8, '0'), 'LRN-' || n, NULL,
              md5(n::text) || md5(n::text), 'IM', 'NLRTM', ',08,', ',EC,', '{}'::jsonb,
              (ARRAY['accepted','under_control','cleared','released','released','released','refused'])[1 + n % 7],
              'green', 1, timestamp '2026-01-01' + n * interval '1 minute', timestamp '2026-01-01'
       FROM generate_series(1, 10000) n""",
    """INSERT INTO declaration_versions (declaration_id, version, document, submitted_at, submitted_by, risk,
       engagements)
       SELECT 'DCL' || lpad(n::text, 12, '0'), 1,
              jsonb_build_object('lrn', 'LRN-' || n, 'transport', jsonb_build_object('containers',
                                 jsonb_build_array('MSCU' || lpad(n::text, 7, '0'))),
                                 'items', (SELECT jsonb_agg(jsonb_build_object('description', md5(n || '-' || i)))
                                           FROM generate_series(1, 30) i)),
              timestamp '2026-01-01' + n * interval '1 minute', 'broker', '{}'::jsonb, '[]'::jsonb
       FROM generate_series(1, 10000) n""",
    """INSERT INTO agency_tasks (id, declaration_id, declaration_version, agency, task_type, status, created_at,
       due_at, overdue_raised, reasons, fields)
       SELECT 'TSK' || lpad(n::text, 12, '0'), 'DCL' || lpad((n / 5 + 1)::text, 12, '0'), 1,
              (ARRAY['CUS','NPPO','VET','FDA','STD','POL','ENV','MAR'])[1 + n % 8], 'document_check',
              CASE WHEN n % 20 = 0 THEN 'open' ELSE 'approved' END, timestamp '2026-01-01',
              timestamp '2026-01-02' + n * interval '1 minute', false, '[]'::jsonb, '[]'::jsonb
       FROM generate_series(0, 49999) n""",
    """INSERT INTO declaration_keys (key, declaration_id)
       SELECT 'c:MSCU' || lpad(n::text, 7, '0'), 'DCL' || lpad((n / 10 + 1)::text, 12, '0')
       FROM generate_series(0, 59999) n""",
    """INSERT INTO events (id, name, declaration_id, agency, occurred_at, payload, published_at)
       SELECT 'ev_' || n, 'task.created', 'DCL' || lpad((n / 5 + 1)::text, 12, '0'), 'CUS', timestamp '2026-01-01',
              '{}'::jsonb, CASE WHEN n < 49990 THEN timestamp '2026-01-01' END
       FROM generate_series(0, 49999) n""",
    """INSERT INTO audit_entries (seq, at, actor, agency, action, resource, outcome, owner, body, leaf_hash)
       SELECT n + 1000, timestamp '2026-01-01' + n * interval '1 second', 'user-' || (n % 500),
              (ARRAY['CUS','NPPO','VET','FDA','STD','POL','ENV','MAR'])[1 + n % 8], 'declaration:read',
              'declaration/DCL' || lpad((n / 5 + 1)::text, 12, '0'), 'ok',
              (ARRAY['CUS','NPPO','VET','FDA','STD','POL','ENV','MAR'])[1 + (n / 8) % 8], '{}', '\\x00'
       FROM generate_series(0, 49999) n""",
]


def _plan(conn, sql: str, params=None) -> str:
    return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, params or None))


def _seq_scans(conn, sql: str, params=None) -> list[str]:
    plan = _plan(conn, sql, params)
    return [line.strip() for line in plan.splitlines()
            if "Seq Scan" in line and any(f" on {t} " in line + " " for t in BIG)]


@pytest.fixture
def filled(pg_url, tmp_path):
    app = bootstrap(Settings(database_url=pg_url, var_dir=tmp_path), clock=FixedClock())
    app.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
    with app.engine.begin() as conn:
        for sql in FILL:
            conn.execute(text(sql))
        conn.execute(text("ANALYZE"))
    yield app
    app.close()


def _captured(concord, run) -> list[tuple[str, dict]]:
    """The SELECTs `run` sends, with their parameters."""
    seen = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(concord.engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        event.remove(concord.engine, "before_cursor_execute", note)
    return seen


def test_hot_reads_use_an_index_on_postgresql(filled):
    app = filled
    people = subjects(app)
    now = datetime(2026, 1, 10, tzinfo=timezone.utc)
    trader = Subject("broker", None, "NL800000007", frozenset({"trader"}))
    queries = {}
    with app.sessions() as s:
        queries["task queue (NPPO)"] = _captured(app, lambda: task_queue(s, people["nppo-officer"], now,
                                                                        access=app.access))
        queries["a trader's declarations"] = _captured(app, lambda: list_declarations(s, trader, access=app.access))
        queries["customs' declarations by status"] = _captured(app, lambda: list_declarations(
            s, people["cus-officer"], status="under_control", access=app.access))
        # the console's declarations page (a capped count, then a page) and search (concord.console.trader), as
        # customs and as an agency. The fill shows NPPO none of its fields, so its search reads the whole window: 100
        # here, as 1,000 probes of a 10,000-row table are rightly planned as a scan.
        for who, window in (("cus-officer", 2000), ("nppo-officer", 100)):
            queries[f"console list ({who})"] = _captured(app, lambda: list_declarations(
                s, people[who], limit=25, count_cap=1000, access=app.access))
            queries[f"console search ({who})"] = _captured(app, lambda: search_declarations(
                s, people[who], "MSCU", limit=25, window=window, access=app.access))
            queries[f"console search past its window ({who})"] = _captured(app, lambda: search_declarations(
                s, people[who], "MSCU0000042", limit=25, window=50, access=app.access))
        agency_count = _captured(app, lambda: list_declarations(s, people["nppo-officer"], access=app.access))
    assert all(queries.values()), queries  # the application ran its queries
    conn_sql = {
        # concord.messaging.outbox.OutboxRelay._sweep
        "relay sweep": ("SELECT seq, id FROM events WHERE published_at IS NULL AND seq > 41 ORDER BY seq LIMIT 500",
                        None),
        # concord.hunting.matching.find: declarations carrying an indicator's keys
        "hunt key lookup": (str(select(Declaration.id).where(
            Declaration.id.in_(select(DeclarationKey.declaration_id).where(
                DeclarationKey.key.in_(["c:MSCU0000042", "c:MSCU0000043"]))),
            or_(Declaration.lodged_at >= now, Declaration.status.not_in(("released", "refused", "cancelled"))))
            .order_by(Declaration.id).limit(101).compile(app.engine, compile_kwargs={"literal_binds": True})), None),
        # concord.console.auditor.log: one actor's entries, newest first
        "auditor console by actor": (str(select(AuditEntry).where(AuditEntry.actor == "user-42")
                                         .order_by(AuditEntry.seq.desc()).limit(50)
                                         .compile(app.engine, compile_kwargs={"literal_binds": True})), None),
        # concord.agreements.api: an agency's access report (its data read by others)
        "access report": (str(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.owner == "NPPO", or_(AuditEntry.agency.is_(None), AuditEntry.agency != "NPPO"),
            AuditEntry.at >= now).compile(app.engine, compile_kwargs={"literal_binds": True})), None),
        # the timeline and a declaration's tasks
        "events of a declaration": ("SELECT * FROM events WHERE declaration_id = 'DCL000000000042' ORDER BY seq",
                                    None),
        # concord.clearance.handlers.check_deadlines, the periodic SLA check
        "late tasks": (str(late_tasks(now).compile(app.engine, compile_kwargs={"literal_binds": True})), None),
        "tasks of a declaration": ("SELECT * FROM agency_tasks WHERE declaration_id = 'DCL000000000042'", None),
        "keys of a declaration": ("SELECT key FROM declaration_keys WHERE declaration_id = 'DCL000000000042'", None),
    }
    scans = {}
    with app.engine.connect() as conn:
        for name, statements in queries.items():
            for sql, params in statements:
                if found := _seq_scans(conn, sql, params):
                    scans[name] = found
        for name, (sql, params) in conn_sql.items():
            if found := _seq_scans(conn, sql, params):
                scans[name] = found
    assert scans == {}, scans
    with app.engine.connect() as conn:  # an agency's exact total reads its ids as a UNION of indexed branches, not a
        # condition on every declaration (with 60 % of the fill's declarations its own, hashing them is right)
        count = next(_plan(conn, sql, params) for sql, params in agency_count if "count(" in sql)
        # either index that leads with the agency serves (the queue's, or the supervisor's by assignee)
        assert re.search(r"Index Scan on ix_agency_tasks_(queue|assignee)", count) and "SubPlan" not in count, count
        page = next(_plan(conn, sql, params) for sql, params in queries["console list (nppo-officer)"]
                    if "OFFSET" in sql)
        assert "ix_declarations_lodged" in page, page  # the console's page walks the newest first and stops
    with app.engine.connect() as conn:  # the check itself: a query no index serves is reported
        assert _seq_scans(conn, "SELECT count(*) FROM audit_entries WHERE position('x' in body) > 0")
    with app.engine.connect() as conn:  # and the two indexes migration 0012 added serve what they were made for
        page = queries["a trader's declarations"][-1]
        assert "ix_declarations_trader_lodged" in _plan(conn, *page)
        assert "ix_audit_entries_actor_seq" in _plan(conn, *conn_sql["auditor console by actor"])

