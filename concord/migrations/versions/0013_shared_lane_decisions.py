"""several workers: each worker's lane decisions, exchanged so that their lane budgets share one window per office

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 20:45:00
"""
from alembic import op
import sqlalchemy as sa
import concord.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lane_decisions',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('office', sa.String(length=16), nullable=False),
    sa.Column('scale', sa.String(length=64), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('floor', sa.SmallInteger(), nullable=False),
    sa.Column('final', sa.SmallInteger(), nullable=False),
    sa.Column('drawn', sa.Boolean(), nullable=False),
    sa.Column('worker', sa.String(length=64), nullable=False),
    sa.Column('decided_at', concord.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_lane_decisions'))
    )


def downgrade() -> None:
    op.drop_table('lane_decisions')
