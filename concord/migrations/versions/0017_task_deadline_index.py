"""an index for the periodic SLA check: open tasks past their due time, lateness not yet raised

Without it the check read every task ever created; in a ten-minute soak at 740 lodgings a second it took half a
second by the end and held up the lodgings behind it (concord.clearance.handlers.late_tasks).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 01:25:00
"""
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agency_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_agency_tasks_due', ['status', 'due_at', 'overdue_raised'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('agency_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_agency_tasks_due')
