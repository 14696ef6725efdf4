"""console: local accounts (Argon2id password, optional TOTP, lockout) and browser sessions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 16:40:00
"""
from alembic import op
import sqlalchemy as sa

import concord.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'console_accounts',
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=200), nullable=False),
        sa.Column('totp_secret', sa.String(length=64), nullable=True),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('locked_until', concord.db.UTCDateTime(), nullable=True),
        sa.Column('changed_at', concord.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_console_accounts_user_id_users')),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_console_accounts')),
    )
    op.create_table(
        'console_sessions',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('csrf', sa.String(length=64), nullable=False),
        sa.Column('created_at', concord.db.UTCDateTime(), nullable=False),
        sa.Column('seen_at', concord.db.UTCDateTime(), nullable=False),
        sa.Column('ended_at', concord.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_console_sessions_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_console_sessions')),
    )
    op.create_index('ix_console_sessions_user', 'console_sessions', ['user_id'])


def downgrade() -> None:
    op.drop_index('ix_console_sessions_user', table_name='console_sessions')
    op.drop_table('console_sessions')
    op.drop_table('console_accounts')
