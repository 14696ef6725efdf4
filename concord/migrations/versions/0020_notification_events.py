"""notifications: one row per event with its distinct bodies, and a thin (audience, seq) key per audience

A lodging stored about 14.5 notification rows (one per event and entitled audience), each with its message as JSONB
and three B-trees (the key, the unique (event id, audience), (audience, seq)). Its 5.6 events have only 8.9 distinct
messages among them once the audience is set aside, so an event is now stored once, each distinct message once
(JSON, as written), with a two-column key per audience for the per-audience reads: on PostgreSQL the store's
backend CPU per lodging fell from 0.22-0.25 ms to 0.12 ms in the same batches, and its bytes by 40 % (docs/scaling.md).

Expand only: the old table stays (and stays readable); its rows are copied here, each event numbered with the
highest seq its rows had, so a stream resuming from an old id misses nothing (an event whose audience's row was
numbered lower than another audience's of the same event is sent again: the same event id, which consumers dedupe
by), and webhooks' deliveries and cursors are moved to the new numbers. Workers of the previous release that still run
write to the old table, which the new ones no longer read: upgrade the workers together.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 11:40:00
"""
import sqlalchemy as sa
from alembic import op

import concord.db

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

CHUNK = 20_000  # old rows read per round


def upgrade() -> None:
    op.create_table('notification_events',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('stored_at', concord.db.UTCDateTime(), nullable=False),
    sa.Column('audiences', sa.JSON(), nullable=False),
    sa.Column('bodies', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_notification_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_notification_events_event_id')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_notification_events_stored', 'notification_events', ['stored_at'], unique=False,
                    postgresql_using='brin')
    op.create_table('notification_audiences',
    sa.Column('audience', sa.String(length=120), nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('body', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('audience', 'seq', name=op.f('pk_notification_audiences')),
    )
    _copy(op.get_bind())


def _copy(conn) -> None:
    """The old rows, in seq order: an event's rows were stored by one insert, so they are adjacent (but for an
    audience added by a later redelivery, merged into its event below)."""
    old = sa.table('notifications', sa.column('seq'), sa.column('event_id'), sa.column('audience'),
                   sa.column('name'), sa.column('stored_at', concord.db.UTCDateTime()),
                   sa.column('message', sa.JSON()))
    # the old seqs the webhooks point at: moved to their event's new seq
    pointed = {s for (s,) in conn.execute(sa.text("SELECT notification_seq FROM webhook_deliveries UNION "
                                                  "SELECT queued_seq FROM webhook_subscriptions"))}
    after, pending = 0, {}
    while True:
        rows = conn.execute(sa.select(old).where(old.c.seq > after).order_by(old.c.seq).limit(CHUNK)).all()
        for seq, event_id, audience, name, stored_at, message in rows:
            e = pending.setdefault(event_id, {"seqs": [], "name": name, "stored_at": stored_at, "bodies": [],
                                              "audiences": []})
            _add(e, audience, {k: v for k, v in message.items() if k != "audience"})
            e["seqs"].append(seq)
        last = len(rows) < CHUNK
        held = None if last else rows[-1][1]  # the chunk's last event may go on in the next chunk
        _write(conn, {k: v for k, v in pending.items() if k != held}, pointed)
        pending = {k: v for k, v in pending.items() if k == held}
        if last:
            break
        after = rows[-1][0]
    # New events are numbered after every old row: the highest old seq is an event's. SQLite's AUTOINCREMENT
    # follows the highest seq inserted by itself; PostgreSQL's sequence does not.
    if conn.dialect.name == "postgresql" and (top := conn.execute(sa.text("SELECT max(seq) FROM notifications"))
                                                .scalar()):
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('notification_events', 'seq'), :top)"),
                     {"top": top})


def _add(e: dict, audience: str, body: dict) -> None:
    if body not in e["bodies"]:
        e["bodies"].append(body)
    e["audiences"].append([audience, e["bodies"].index(body)])


def _write(conn, done: dict, pointed: set) -> None:
    events = sa.table('notification_events', sa.column('seq'), sa.column('event_id'), sa.column('name'),
                      sa.column('stored_at', concord.db.UTCDateTime()), sa.column('audiences', sa.JSON()),
                      sa.column('bodies', sa.JSON()))
    keys = sa.table('notification_audiences', sa.column('audience'), sa.column('seq'), sa.column('body'))
    if not done:
        return
    stored = {r[1]: r for r in conn.execute(sa.select(events.c.seq, events.c.event_id, events.c.audiences,
                                                      events.c.bodies).where(events.c.event_id.in_(list(done))))}
    new, added = [], []
    for event_id, e in done.items():
        seq = max(e["seqs"])
        if event_id in stored:  # an audience a later redelivery added: into the event copied, renumbered after it
            was, _, audiences, bodies = stored[event_id]
            merged = {"bodies": list(bodies), "audiences": list(audiences)}
            for audience, b in e["audiences"]:
                _add(merged, audience, e["bodies"][b])
            conn.execute(events.update().where(events.c.seq == was).values(
                seq=seq, audiences=merged["audiences"], bodies=merged["bodies"]))
            conn.execute(keys.update().where(keys.c.seq == was).values(seq=seq))
            _point(conn, {was}, seq)
            added += [{"audience": a, "seq": seq, "body": b} for a, b in merged["audiences"][len(audiences):]]
        else:
            new.append({"seq": seq, "event_id": event_id, "name": e["name"], "stored_at": e["stored_at"],
                        "audiences": e["audiences"], "bodies": e["bodies"]})
            added += [{"audience": a, "seq": seq, "body": b} for a, b in e["audiences"]]
        _point(conn, pointed.intersection(e["seqs"]) - {seq}, seq)
    if new:
        conn.execute(events.insert(), new)
    if added:
        conn.execute(keys.insert(), added)


def _point(conn, old: set, seq: int) -> None:
    """Webhook deliveries and cursors that pointed at these old seqs point at the event's seq."""
    for was in old:
        conn.execute(sa.text("UPDATE webhook_deliveries SET notification_seq = :new WHERE notification_seq = :old"),
                     {"new": seq, "old": was})
        conn.execute(sa.text("UPDATE webhook_subscriptions SET queued_seq = :new WHERE queued_seq = :old"),
                     {"new": seq, "old": was})


def downgrade() -> None:
    op.drop_index('ix_notification_events_stored', table_name='notification_events', postgresql_using='brin')
    op.drop_table('notification_audiences')
    op.drop_table('notification_events')
