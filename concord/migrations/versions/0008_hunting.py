"""hunting: the indicator keys of each declaration (filled at lodging), hunts and their matches

Existing declarations get the keys of their current version, so a hunt finds them too.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 16:40:00
"""
import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import concord.db

revision = '0008'
down_revision = '0007'  # 0006 before the incidents lane's branch was merged in
branch_labels = None
depends_on = None

KEY = sa.String(length=140).with_variant(sa.String(length=140, collation="C"), "postgresql")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table('declaration_keys',
                    sa.Column('key', KEY, nullable=False),
                    sa.Column('declaration_id', sa.String(length=32), nullable=False),
                    sa.PrimaryKeyConstraint('key', 'declaration_id', name=op.f('pk_declaration_keys')),
                    sqlite_with_rowid=False)
    op.create_index('ix_declaration_keys_declaration', 'declaration_keys', ['declaration_id'], unique=False)
    op.create_table('hunts',
                    sa.Column('id', sa.String(length=32), nullable=False),
                    sa.Column('agency', sa.String(length=16), nullable=False),
                    sa.Column('source', sa.String(length=80), nullable=False),
                    sa.Column('indicators', JSON, nullable=False),
                    sa.Column('action', JSON, nullable=False),
                    sa.Column('lookback_days', sa.Integer(), nullable=False),
                    sa.Column('valid_until', concord.db.UTCDateTime(), nullable=False),
                    sa.Column('started_by', sa.String(length=64), nullable=False),
                    sa.Column('started_at', concord.db.UTCDateTime(), nullable=False),
                    sa.Column('watchlist_entries', JSON, nullable=False),
                    sa.Column('rule_id', sa.String(length=40), nullable=True),
                    sa.Column('note', sa.Text(), nullable=True),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_hunts')))
    op.create_index(op.f('ix_hunts_agency'), 'hunts', ['agency'], unique=False)
    op.create_table('hunt_matches',
                    sa.Column('hunt_id', sa.String(length=32), nullable=False),
                    sa.Column('declaration_id', sa.String(length=32), nullable=False),
                    sa.Column('pending', sa.Boolean(), nullable=False),
                    sa.Column('task_id', sa.String(length=32), nullable=True),
                    sa.Column('hits', JSON, nullable=False),
                    sa.Column('matched_at', concord.db.UTCDateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('hunt_id', 'declaration_id', name=op.f('pk_hunt_matches')))
    _backfill()


def _backfill() -> None:
    """The keys of every stored declaration's current version, a thousand declarations at a time."""
    from concord.hunting.keys import keys_of

    conn = op.get_bind()
    keys = sa.table('declaration_keys', sa.column('key'), sa.column('declaration_id'))
    last = ""
    while True:
        rows = conn.execute(sa.text(
            "SELECT v.declaration_id, v.document FROM declarations d JOIN declaration_versions v "
            "ON v.declaration_id = d.id AND v.version = d.version WHERE d.id > :last ORDER BY d.id LIMIT 1000"),
            {"last": last}).all()
        if not rows:
            return
        out = []
        for declaration_id, document in rows:
            document = json.loads(document) if isinstance(document, str) else document
            out += [{"key": k, "declaration_id": declaration_id} for k in sorted(keys_of(document))]
        if out:
            conn.execute(keys.insert(), out)
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_table('hunt_matches')
    op.drop_index(op.f('ix_hunts_agency'), table_name='hunts')
    op.drop_table('hunts')
    op.drop_index('ix_declaration_keys_declaration', table_name='declaration_keys')
    op.drop_table('declaration_keys')
