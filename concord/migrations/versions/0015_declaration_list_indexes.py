"""indexes for the console at 100,000 declarations (docs/console.md, tests/integration/test_pg_indexes.py)

Customs' list and search, newest first, had no index on the lodging time: every row was sorted before the first page.
An agency's declarations shared by an agreement scoped to offices are found by office; a search by an LRN finds it
past the newest declarations the search reads (concord/declarations/search.py).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 23:40:00
"""
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.create_index('ix_declarations_lodged', ['lodged_at', 'id'], unique=False)
        batch_op.create_index('ix_declarations_office', ['office_of_entry', 'lodged_at'], unique=False)
        batch_op.create_index('ix_declarations_lrn', ['lrn'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_index('ix_declarations_lrn')
        batch_op.drop_index('ix_declarations_office')
        batch_op.drop_index('ix_declarations_lodged')
