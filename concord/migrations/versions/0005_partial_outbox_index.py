"""outbox: the index of unpublished events holds only unpublished rows (partial index)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 12:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

UNPUBLISHED = sa.text("published_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_unpublished')
        batch_op.create_index('ix_events_unpublished', ['seq'], unique=False, sqlite_where=UNPUBLISHED,
                              postgresql_where=UNPUBLISHED)


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_unpublished')
        batch_op.create_index('ix_events_unpublished', ['published_at', 'seq'], unique=False)
