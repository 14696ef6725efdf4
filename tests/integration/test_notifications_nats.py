"""With NATS (CONCORD_BUS_TRANSPORT=nats), one relay publish feeds both the per-audience JetStream subjects and the
hub's own notification store (streams, webhooks): the same messages, and an agency's subject filter selects
exactly its notifications."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.clearance.messages import DecideTask
from concord.clock import FixedClock
from concord.config import Settings
from concord.messaging.transports import subject_for
from support import declaration, demo_config_text
from test_nats_transport import _read_all, nats_reason
from test_read_leaks import BANANAS, PEST, SHRIMPS, as_, submit, task_of

pytestmark = pytest.mark.skipif(nats_reason() is not None, reason=nats_reason() or "")


def test_jetstream_subjects_and_the_hubs_store_carry_the_same_messages(tmp_path):
    stream = f"CONCORD_NOTIFY_{uuid.uuid4().hex[:8].upper()}"
    prefix = f"concordnotify{uuid.uuid4().hex[:6]}"
    app = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'n.db'}", var_dir=tmp_path, bus_transport="nats",
                             nats_stream=stream, nats_subject_prefix=prefix), clock=FixedClock())
    try:
        app.bus.handle(LoadConfig(text=demo_config_text()))
        app.transport.subscribe_batch(app.notifications.store.store)  # as the server does at start
        bananas = submit(app, declaration(lrn="NATS-1", items=[BANANAS]))
        submit(app, declaration(lrn="NATS-2", items=[SHRIMPS]))
        as_(app, "nppo-officer", DecideTask(task_id=task_of(app, bananas, "NPPO").id, decision="refuse", reason=PEST))
        app.bus.relay.flush()
    finally:
        app.transport.close()
    got = asyncio.run(_read_all(stream, prefix))
    rows = [(aud, m) for _, aud, m in app.notifications.store.messages()]
    app.engine.dispose()
    on_nats = {(m.subject, json.loads(m.data)["id"]): json.loads(m.data) for m in got}
    in_store = {(subject_for(m, prefix), m["id"]): m for _, m in rows}
    assert in_store == on_nats and any(m["audience"] == "VET" for m in in_store.values())
    for agency in ("NPPO", "VET", "CUS", "trader-NL823456781"):
        selected = {k for k in on_nats if k[0].startswith(prefix + ".") and k[0].split(".")[3] == agency
                    and len(k[0].split(".")) == 4}  # what `<prefix>.*.*.<agency>` selects
        assert selected == {k for k, m in in_store.items() if m["audience"] == agency} != set(), agency
