"""The notification store's per-audience reads use its keys on PostgreSQL: a stream's replay, the console's list
and the webhooks' queueing go through (audience, seq) and the events' key, never a scan of either table
(migration 0020 left each table one B-tree)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings
from concord.notifications.models import WebhookSubscription
from concord.notifications.store import NotificationStore
from concord.notifications.webhooks import WebhookDispatcher
from support import demo_config_text
from test_pg_indexes import _captured, _plan

pytestmark = pytest.mark.postgres

TABLES = ("notification_events", "notification_audiences")

# 40,000 events, each for customs, one other agency and one of 400 traders
FILL = [
    """INSERT INTO notification_events (seq, event_id, name, stored_at, audiences, bodies)
       SELECT n, 'ev' || n, 'task.created', timestamp '2026-01-01' + n * interval '1 second',
              json_build_array(json_build_array('CUS', 0),
                               json_build_array((ARRAY['NPPO','VET','FDA','STD','POL','ENV','MAR'])[1 + n % 7], 0),
                               json_build_array('trader-' || (n % 400), 1)),
              json_build_array(json_build_object('id', 'ev' || n, 'payload', json_build_object('n', n)),
                               json_build_object('id', 'ev' || n, 'payload', json_build_object('withheld', 'CUS')))
       FROM generate_series(1, 40000) n""",
    """INSERT INTO notification_audiences (audience, seq, body)
       SELECT a, n, b FROM generate_series(1, 40000) n, LATERAL (VALUES ('CUS', 0),
              ((ARRAY['NPPO','VET','FDA','STD','POL','ENV','MAR'])[1 + n % 7], 0), ('trader-' || (n % 400), 1)) v(a, b)""",
]


def test_the_per_audience_reads_use_the_keys_on_postgresql(pg_url, tmp_path):
    app = bootstrap(Settings(database_url=pg_url, var_dir=tmp_path), clock=FixedClock())
    try:
        app.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
        now = datetime(2026, 1, 2, tzinfo=timezone.utc)
        with app.engine.begin() as conn:
            for sql in FILL:
                conn.execute(text(sql))
            conn.execute(text("ANALYZE"))
        with app.sessions() as s:
            s.add(WebhookSubscription(id="WHK1", agency="NPPO", audience="NPPO", url="https://nppo.example",
                                      secret="whsec_AA==", events=[], description="", created_by="t", created_at=now,
                                      active=True, queued_seq=39_000))
            s.commit()
        store = NotificationStore(app.sessions, app.clock, retention_h=168)
        dispatcher = WebhookDispatcher(app.sessions, FixedClock(now), app.settings)
        reads = {"a stream's replay": _captured(app, lambda: store.read(39_000, "trader-7")),
                 "the console's list": _captured(app, lambda: store.recent("trader-7")),
                 "the tail": _captured(app, lambda: store.read(39_900)),
                 "the webhooks' queueing": _captured(app, dispatcher.enqueue)}
        with app.engine.connect() as conn:
            for what, statements in reads.items():
                assert statements, what
                for sql, params in statements:
                    plan = _plan(conn, sql, params)
                    scans = [line for line in plan.splitlines() if "Seq Scan" in line
                             and any(f" on {t} " in line + " " for t in TABLES)]
                    assert not scans, f"{what}: {sql}\n{plan}"
        assert len(store.read(39_000, "trader-7")) == 2 and len(store.recent("trader-7")) == 50
    finally:
        app.close()
