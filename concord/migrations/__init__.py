"""Alembic migrations, run programmatically by `concord db upgrade` and at start."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    if engine is not None:
        cfg.attributes["engine"] = engine
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to the given revision.

    To "head" over a database a newer release has already upgraded (its revision unknown to this code), nothing
    is done: a worker of the previous release that restarts during a rolling upgrade keeps serving, as it did
    before the restart. Migrations expand, and contract only what the previous release no longer uses
    (docs/operations.md; tests/integration/test_upgrade_while_serving.py), so its code still fits the schema;
    tests/integration/test_upgrade_under_load.py runs it there."""
    if revision == "head" and ahead_of_this_code(engine):
        import logging

        logging.getLogger(__name__).warning("the database's schema is newer than this code's migrations: "
                                            "serving without migrating (a rolling upgrade in progress?)")
        return
    command.upgrade(alembic_config(engine), revision)


def ahead_of_this_code(engine: Engine) -> bool:
    """Whether the database is at a revision this code does not know (a newer release migrated it)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    script = ScriptDirectory.from_config(alembic_config())
    known = {r.revision for r in script.walk_revisions()}
    return bool(current) and any(rev not in known for rev in current)
