"""indexes for the console's hot reads found by EXPLAIN on PostgreSQL (tests/integration/test_pg_indexes.py)

A trader's declarations, newest first (the trader console, GET /api/v1/declarations): the unique (trader, LRN)
index finds them but every one had to be sorted before the first page. The auditor console filtered by actor,
newest first: no index on actor, so a scan of the log backwards until a page was found.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 21:00:00
"""
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.create_index('ix_declarations_trader_lodged', ['trader_id', 'lodged_at'], unique=False)
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_actor_seq', ['actor', 'seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_actor_seq')
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_index('ix_declarations_trader_lodged')
