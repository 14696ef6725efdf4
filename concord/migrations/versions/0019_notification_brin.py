"""notifications: on PostgreSQL the retention's index on stored_at is a BRIN (block ranges), not a B-tree

A lodging stores about fourteen notifications (an event per entitled audience), and each row added an entry to this
B-tree too, read by nothing but the hourly prune. Rows are appended in stored_at order, so a BRIN index (a few
pages for the whole table, updated only when a block range's bounds move) finds the expired ones as well.
SQLite keeps its B-tree (it has no BRIN).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 04:20:00
"""
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_notifications_stored")
    op.execute("CREATE INDEX ix_notifications_stored ON notifications USING brin (stored_at)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_notifications_stored")
    op.execute("CREATE INDEX ix_notifications_stored ON notifications (stored_at)")
