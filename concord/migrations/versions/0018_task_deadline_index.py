"""an index for the periodic SLA check: tasks whose lateness was not raised yet, open, past their due time

Without it the check read every task ever created; in a ten-minute soak at 740 lodgings a second it took half a
second by the end and held up the lodgings behind it (concord.clearance.handlers.late_tasks).

overdue_raised leads on purpose: an index led by status was chosen by SQLite, which has no statistics, for every
"tasks of this declaration with status 'open'" lookup, scanning all open tasks instead of one declaration's (and
returning them in another order, which changed the demo's seeded simulation).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 03:50:00
"""
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agency_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_agency_tasks_due', ['overdue_raised', 'status', 'due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('agency_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_agency_tasks_due')
