"""The `concord` command: the same handlers as the API."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from concord.agreements.cli import agreements_app
from concord.audit import cli as audit_cli
from concord.bench import cli as bench_cli
from concord.declarations.cli import declarations_app
from concord.risk import cli as risk_cli
from concord.risk import rules_cli as risk_rules_cli
from concord.screening import cli as screening_cli
from concord.errors import ConcordError

app = typer.Typer(help="Concord: coordinated border management hub.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="The coordination config: agencies, users, routing rules.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(tokens_app, name="tokens")
app.add_typer(bench_cli.app, name="bench")
app.add_typer(agreements_app, name="agreements")
app.add_typer(declarations_app, name="declarations")
console = Console(stderr=True)


def _concord():
    from concord.bootstrap import bootstrap

    return bootstrap()


def fail(error: ConcordError) -> None:
    """Print what to fix, one line per problem with its pointer, and exit 2."""
    console.print(f"[red]error:[/red] {error.message}")
    for p in error.problems:
        console.print(f"  {p.pointer or '/'}: {p.message}")
    raise typer.Exit(2)


@app.command()
def serve(host: str = typer.Option(None), port: int = typer.Option(None), workers: int = 1):
    """Run the HTTP API (SQLite at ./var/concord.db unless CONCORD_DATABASE_URL says otherwise)."""
    import uvicorn

    from concord.config import get_settings

    s = get_settings()
    uvicorn.run("concord.app:create_app", factory=True, host=host or s.host, port=port or s.port, workers=workers,
                log_level="warning")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head"):
    """Apply the Alembic migrations."""
    from concord.config import get_settings
    from concord.db import make_engine
    from concord.migrations import upgrade

    url = get_settings().resolved_database_url()
    upgrade(make_engine(url), revision)
    console.print(f"database at {url} is at {revision}")


@config_app.command("load")
def config_load(file: Path = typer.Argument(..., exists=True, dir_okay=False)):
    """Validate and load a coordination config; every fault is reported and nothing is half-loaded."""
    from concord.agencies.messages import LoadConfig

    c = _concord()
    try:
        result = c.bus.handle(LoadConfig(text=file.read_text(), source=str(file)))
    except ConcordError as e:
        fail(e)
    typer.echo(json.dumps(result))


@config_app.command("check")
def config_check(file: Path = typer.Argument(..., exists=True, dir_okay=False)):
    """Validate a coordination config without loading it."""
    from concord.agencies.handlers import parse_config
    from concord.bootstrap import CONFIG_SECTIONS

    try:
        cfg = parse_config(file.read_text(), str(file), sections=CONFIG_SECTIONS)
    except ConcordError as e:
        fail(e)
    typer.echo(f"{file}: valid ({len(cfg.agencies)} agencies, {len(cfg.users)} users, "
               f"{len(cfg.routing_rules)} routing rules)")


@tokens_app.command("issue")
def tokens_issue(user: str):
    """Print a new API token for USER (shown once; stored hashed)."""
    from concord.access.messages import IssueToken

    try:
        result = _concord().bus.handle(IssueToken(user_id=user))
    except ConcordError as e:
        fail(e)
    typer.echo(result["token"])
    console.print(f"token id {result['token_id']} (revoke with `concord tokens revoke {result['token_id']}`)")


@tokens_app.command("revoke")
def tokens_revoke(token_id: str):
    """Revoke a token; it is refused from the next request on."""
    from concord.access.messages import RevokeToken

    try:
        typer.echo(json.dumps(_concord().bus.handle(RevokeToken(token_id=token_id))))
    except ConcordError as e:
        fail(e)


@app.command()
def demo(json_output: bool = typer.Option(False, "--json", help="print the summary as one JSON object"),
         declarations: int = typer.Option(240, min=1), database: Path = Path("var/demo.db"), seed: int = 7):
    """A fresh database with the demo config, realistic declarations, officers' decisions and releases."""
    from concord.demo.run import print_summary, run_demo

    summary = run_demo(database, declarations, seed)
    if json_output:
        typer.echo(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
        console.print(f"\nExplore it: CONCORD_DATABASE_URL=sqlite:///{database} concord serve")


app.add_typer(audit_cli.app, name="audit")
app.add_typer(risk_cli.app, name="risk")
risk_rules_cli.mount(risk_cli.app)
app.add_typer(screening_cli.lists_app, name="screening")
app.command("screen")(screening_cli.screen)


def main() -> None:
    app()
