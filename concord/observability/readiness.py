"""Readiness: the database answers, its schema is at the code's head revision, the broker is connected."""

from __future__ import annotations

from sqlalchemy import literal, select


def head_revisions() -> set[str]:
    """The head revision(s) of the migrations this code was built with."""
    from alembic.script import ScriptDirectory

    from concord.migrations import alembic_config

    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def checks(app) -> dict[str, str]:
    """Each check's state: "ok", or what is wrong in one line (no data: this answer needs no token)."""
    found: dict[str, str] = {}
    try:
        from alembic.migration import MigrationContext

        with app.engine.connect() as conn:
            conn.execute(select(literal(1)))
            stored = set(MigrationContext.configure(conn).get_current_heads())
        found["database"] = "ok"
        heads = head_revisions()
        # A schema ahead of this code is ready too: expand-then-contract keeps the previous release working on
        # the next one's schema while the workers are replaced (docs/operations.md).
        found["migrations"] = "ok" if stored == heads or _newer(stored) else (
            f"the database is at {', '.join(sorted(stored)) or 'no revision'}, this code needs "
            f"{', '.join(sorted(heads))}: run `concord db upgrade`")
    except Exception as e:  # any failure to answer is the answer
        found["database"] = f"does not answer ({type(e).__name__})"
        found["migrations"] = "unknown (no database)"
    if app.settings.bus_transport == "nats":
        connection = getattr(app.transport, "_nc", None)
        found["nats"] = "ok" if connection is not None and connection.is_connected else (
            f"not connected to {app.settings.nats_url}")
    return found


def _newer(stored: set[str]) -> bool:
    """Whether the database is at revisions this code does not know: a newer release migrated it."""
    from alembic.script import ScriptDirectory

    from concord.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    for revision in stored:
        try:
            script.get_revision(revision)
        except Exception:  # alembic's "no such revision"
            continue
        return False
    return bool(stored)
