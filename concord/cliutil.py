"""What every `concord` command shares: one way to fail, files read with clear errors, the hub opened safely."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from concord.errors import ConcordError, Misconfigured

BAD_INPUT = 2  # the exit code of every refusal the user can fix (click's usage errors use it too)
FIRST_STEP = "create it with `concord config load concord/demo/coordination.yaml` (or `concord demo`)"
err = Console(stderr=True, highlight=False)
AS = typer.Option(..., "--as", help="the user the command acts for (an id from the coordination config)")


def fail(error: ConcordError | str, code: int = BAD_INPUT):
    """Print what to fix (one line, then one per distinct problem with its pointer) on stderr, and exit."""
    error = error if isinstance(error, ConcordError) else ConcordError(error)
    err.print(f"[red]error:[/red] {shown(error.message)}", soft_wrap=True)
    seen = set()
    for p in error.problems:
        if (p.pointer, p.message) not in seen:
            seen.add((p.pointer, p.message))
            err.print(f"  {shown(p.pointer or '/')}: {shown(p.message)}", soft_wrap=True)
    raise typer.Exit(code)


def shown(text: str, limit: int = 2000) -> str:
    """Text that may echo what a user typed, safe for a terminal: control characters (an ANSI escape would
    recolour or clear the screen) as \\xNN, rich's markup brackets escaped, and at most `limit` characters."""
    from rich.markup import escape

    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                   for c in str(text))
    return escape(text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit:,} more characters)")


def read_text(path: Path) -> str:
    """A file's text as UTF-8 (a byte-order mark allowed), or a ConcordError that says how to convert it."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise not_utf8(path, e) from None


def not_utf8(path, e: UnicodeDecodeError) -> ConcordError:
    """The error for a file in another encoding: where, and the command that converts it."""
    return ConcordError(f"{path} is not UTF-8 (byte 0x{e.object[e.start]:02x} at offset {e.start}); save it as "
                        f"UTF-8, e.g. `iconv -f latin1 -t utf-8 {path} > {Path(path).stem}-utf8{Path(path).suffix}`")


def load_yaml(path: Path):
    """A YAML (or JSON) file's content, within the config's bounds on aliases and depth, or a ConcordError naming
    the line and column of the fault."""
    import yaml

    from concord.agencies.yamlpaths import parse_with_lines

    text = read_text(path)
    try:
        return parse_with_lines(text)[0]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConcordError(f"{path} is not valid YAML{where}: {problem}") from None


def database_error(exc: Exception) -> ConcordError | None:
    """A database that does not answer, or a URL SQLAlchemy cannot use, as one line that says what to do."""
    from sqlalchemy import exc as sa

    from concord.config import get_settings

    try:
        where = get_settings().database_label()
    except ConcordError as e:
        return e
    if isinstance(exc, (sa.OperationalError, sa.InterfaceError)):
        cause = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
        cause = cause[0] if cause else type(exc).__name__
        if "does not exist" in cause and "database" in cause:
            hint = "create it (`createdb NAME`) or correct CONCORD_DATABASE_URL"
        else:
            hint = "check that the server runs and CONCORD_DATABASE_URL (host, port, user, database)"
        return Misconfigured(f"cannot use the database {where}: {cause}; {hint}")
    if isinstance(exc, (sa.ArgumentError, sa.NoSuchModuleError)):
        return Misconfigured(f"unsupported database URL {where} (CONCORD_DATABASE_URL): use sqlite:///PATH or "
                             f"postgresql+psycopg://USER@HOST:PORT/DATABASE")
    return None


def require_database(settings) -> None:
    """For commands that read: the database must exist and hold a coordination config; never create one."""
    from sqlalchemy import inspect, text

    from concord.db import make_engine

    label = settings.database_label()
    path = settings.sqlite_path()
    if path is not None and not path.is_file():
        raise Misconfigured(f"no database at {path}: {FIRST_STEP}; or point CONCORD_VAR_DIR or "
                            f"CONCORD_DATABASE_URL at an existing one")
    engine = make_engine(settings.resolved_database_url())
    try:
        with engine.connect() as conn:
            loaded = (inspect(conn).has_table("config_versions")
                      and conn.execute(text("SELECT count(*) FROM config_versions")).scalar())
    finally:
        engine.dispose()
    if not loaded:
        raise Misconfigured(f"the database {label} holds no coordination config: {FIRST_STEP}")


def hub(create: bool = False):
    """The wired hub for a command; unless `create`, only over a database that exists and holds a config."""
    from concord.bootstrap import bootstrap
    from concord.config import get_settings

    settings = get_settings()
    if not create:
        require_database(settings)
    return bootstrap(settings)


def explain(exc: BaseException) -> ConcordError | None:
    """An exception a user's input or setup caused, as the error to show; None for a bug of ours."""
    if isinstance(exc, ConcordError):
        return exc
    if isinstance(exc, UnicodeDecodeError):
        return ConcordError(f"a file is not UTF-8 ({exc.reason} at offset {exc.start}); save it as UTF-8")
    return database_error(exc)


def act_as(user: str | None, command, default=None):
    """`command(app, subject)` on the hub as USER (`--as`; None: the `default` subject); every ConcordError is one
    line and exit 2. The CLI runs on the hub itself: the user's roles and agency apply as over the API."""
    from concord.access.handlers import subject_for
    from concord.access.models import User

    app = hub()
    try:
        subject = default
        if user is not None:
            with app.sessions() as s:
                row = s.get(User, user)
                if row is None or not row.active:
                    raise ConcordError(f"no active user '{user}': pass --as with a user of the coordination config")
                subject = subject_for(row, app.lead_agency(s))
        return command(app, subject)
    except ConcordError as e:
        fail(e)
    finally:
        app.close()


def print_json(value) -> None:
    """One result as indented JSON on stdout."""
    import json

    typer.echo(json.dumps(finite(value), indent=2, default=str, allow_nan=False))


def finite(value):
    """The value with every NaN or infinity as None: JSON has neither (Python's json writes `NaN`, which other
    readers refuse), and an undefined metric (precision at 1 % of 32 rows, AUC of one class) is null."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
