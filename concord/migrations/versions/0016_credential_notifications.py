"""token cache: on PostgreSQL, a change to tokens, users or agencies sends NOTIFY concord_credentials

Every worker keeps a short cache of token -> identity and drops it on this notification, so a revocation or a
role change made by any writer (the API, the CLI, an administrator in psql) refuses the next request at once.
SQLite needs nothing: the reader sees other connections' commits through PRAGMA data_version.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 23:45:00
"""
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

TABLES = {"api_tokens": "UPDATE OR DELETE OR TRUNCATE", "users": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
          "agencies": "INSERT OR UPDATE OR DELETE OR TRUNCATE"}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE OR REPLACE FUNCTION concord_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
               "BEGIN PERFORM pg_notify('concord_credentials', TG_TABLE_NAME); RETURN NULL; END $$")
    for table, events in TABLES.items():
        op.execute(f"CREATE TRIGGER credentials_changed AFTER {events} ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION concord_credentials_changed()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS credentials_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS concord_credentials_changed()")
