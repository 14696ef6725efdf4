"""contract: the notifications table of before 0020 goes

0020 copied its rows into notification_events and notification_audiences, and since then nothing writes or reads
it: the releases from 0020 on store each event once. This is the first contract step (docs/operations.md, "Upgrades:
expand, then contract"): run it once every worker serves a release of 0020 or later. A worker older than 0020 still
writes to this table and would fail its relay's publish after this migration (its lodgings would still commit).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 18:10:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import concord.db

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

contracts = ("notifications",)


def upgrade() -> None:
    op.drop_table('notifications')  # its indexes and constraints with it


def downgrade() -> None:  # the table as 0021 left it, empty: the events stay in notification_events
    op.create_table(
        'notifications',
        sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('event_id', sa.String(length=32), nullable=False),
        sa.Column('audience', sa.String(length=120), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('stored_at', concord.db.UTCDateTime(), nullable=False),
        sa.Column('message', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                  nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_notifications')),
        sa.UniqueConstraint('event_id', 'audience', name=op.f('uq_notifications_event_id_audience')))
    op.create_index('ix_notifications_audience', 'notifications', ['audience', 'seq'])
    op.create_index('ix_notifications_stored', 'notifications', ['stored_at'], postgresql_using='brin')
