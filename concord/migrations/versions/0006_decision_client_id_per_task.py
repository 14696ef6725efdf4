"""task decisions: the client's decision_id is unique per task, no longer the row's primary key

A decision_id that one agency used on its task must not answer another agency's request on another task
(it returned the first task and dropped the second decision). Existing rows keep their id as client id.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 14:10:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('task_decisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_id', sa.String(length=32), nullable=True))
    op.execute("UPDATE task_decisions SET client_id = id")
    with op.batch_alter_table('task_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_task_decisions_client', ['task_id', 'client_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('task_decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_task_decisions_client')
        batch_op.drop_column('client_id')
