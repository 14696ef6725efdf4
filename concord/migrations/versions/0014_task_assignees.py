"""supervisor reassignment: the officer an agency task is assigned to

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 23:45:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agency_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_agency_tasks_assignee', ['agency', 'assignee', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('agency_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_agency_tasks_assignee')
        batch_op.drop_column('assignee')
