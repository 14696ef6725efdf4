"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from concord.db import make_engine
from concord.migrations import upgrade
from concord.schema import metadata


def _diff(url: str) -> list:
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    engine.dispose()
    return diff


def test_sqlite_schema_matches_models(tmp_path):
    assert _diff(f"sqlite:///{tmp_path / 'm.db'}") == []


def test_postgresql_schema_matches_models(pg_url):
    assert _diff(pg_url) == []


def test_the_notifications_retention_index_is_a_brin_on_postgresql(pg_url):
    """0019: some fourteen notifications per lodging each added a B-tree entry that only the hourly prune read."""
    from sqlalchemy import text

    engine = make_engine(pg_url)
    upgrade(engine)
    with engine.connect() as conn:
        method = conn.execute(text("SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                                   "WHERE c.relname = 'ix_notifications_stored'")).scalar()
    engine.dispose()
    assert method == "brin"
