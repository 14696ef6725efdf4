"""risk history in the database: what rules read of an importer's earlier declarations, shared by every worker

One row per declaration and HS6 (importer, time in microseconds, value in cents), staged with the lodging;
before this, each worker held its own history in memory, started empty and missed the other workers' lodgings.
Expand-only: an older worker neither reads nor writes it. History starts at the upgrade: declarations lodged
before it are not copied (their values need the rates of the day; the 30-day windows fill within a month).
An index on outcomes' recording time: each worker reads the outcomes recorded since its last look.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 04:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'risk_history',
        sa.Column('importer', sa.String(length=40), nullable=False),
        sa.Column('at', sa.BigInteger(), nullable=False),
        sa.Column('declaration_id', sa.String(length=32), nullable=False),
        sa.Column('hs6', sa.String(length=6), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('importer', 'at', 'declaration_id', 'hs6', name=op.f('pk_risk_history')),
        sqlite_with_rowid=False,
    )
    op.create_index('ix_risk_history_declaration', 'risk_history', ['declaration_id'], unique=False)
    op.create_index('ix_risk_inspection_outcomes_recorded', 'risk_inspection_outcomes', ['recorded_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_risk_inspection_outcomes_recorded', table_name='risk_inspection_outcomes')
    op.drop_index('ix_risk_history_declaration', table_name='risk_history')
    op.drop_table('risk_history')
