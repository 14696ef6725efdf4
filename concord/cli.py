"""The `concord` command: the same handlers as the API."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from concord.agreements.cli import agreements_app
from concord.audit import cli as audit_cli
from concord.bench import cli as bench_cli
from concord.clearance.cli import tasks_app
from concord.cliutil import fail, hub, read_text
from concord.console.cli import users_app
from concord.declarations.cli import declarations_app
from concord.errors import ConcordError
from concord.hunting import cli as hunting_cli
from concord.incidents.cli import incidents_app, notices_app, operations_app
from concord.notifications.cli import webhooks_app
from concord.risk import cli as risk_cli
from concord.risk import rules_cli as risk_rules_cli
from concord.screening import cli as screening_cli
from concord.simulation.cli import app as simulate_app
from concord.standards.cli import standards_app
from concord.trs.cli import trs_app

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
app.add_typer(tasks_app, name="tasks")
console = Console(stderr=True)


def _concord(create: bool = False):
    return hub(create)


@app.command()
def serve(host: str = typer.Option(None), port: int = typer.Option(None),
          workers: int = typer.Option(1, help="worker processes (several need PostgreSQL)"),
          access_log: bool = typer.Option(None, "--access-log/--no-access-log",
                                          help="one line per request on stderr (default: CONCORD_ACCESS_LOG)"),
          server: str = typer.Option("uvicorn", help="the HTTP server: uvicorn, or granian where it is installed "
                                     "(`pip install granian`; measured against uvicorn in `concord bench http`)")):
    """Run the HTTP API on the database in force (`var/concord.db` of the checkout unless CONCORD_VAR_DIR or
    CONCORD_DATABASE_URL say otherwise); it creates and migrates the database if needed."""
    from concord.config import get_settings

    s = get_settings()
    host, port = host or s.host, s.port if port is None else port
    if not 0 < port < 65536:  # the kernel keeps the low 16 bits: 99999 would listen on 34463 and print 99999
        fail(f"--port {port}: a port is between 1 and 65535")
    if workers < 1:
        fail("--workers must be at least 1")
    if workers > 1 and s.sqlite_path() is not None:
        # SQLite takes one writer at a time, and the group commit already makes one process its fastest writer;
        # several would only queue on the file lock, with no elected leader for the jobs that run once.
        fail(f"--workers {workers} needs PostgreSQL (CONCORD_DATABASE_URL=postgresql://...): "
             "SQLite serves one worker")
    if s.sqlite_path() is None:  # a server database that does not answer: one line here, not uvicorn's traceback
        from concord.db import make_engine
        from concord.migrations import upgrade

        engine = make_engine(s.resolved_database_url())
        engine.connect().close()
        if workers > 1 or s.relay_process:  # once, here: the workers (and the relay process) starting together
            # would each run the migrations
            upgrade(engine)
        engine.dispose()
    from concord.config import set_process_environment

    separate_relay = s.relay_process and s.sqlite_path() is None
    # the workers' settings (spawned processes read them), and the relay process's
    set_process_environment(CONCORD_WORKERS=str(workers), CONCORD_RELAY_ELSEWHERE=str(separate_relay).lower())
    own_metrics_dir = None
    if (workers > 1 or separate_relay) and s.metrics_dir is None:  # a directory for this run, where each worker
        # (and the relay process) publishes its counters and memory for the scrapes
        import tempfile

        own_metrics_dir = tempfile.mkdtemp(prefix="concord-metrics-")
        set_process_environment(CONCORD_METRICS_DIR=own_metrics_dir)
    get_settings.cache_clear()  # and forked ones, which inherit this process's cached settings
    relay = None
    if separate_relay:
        from concord.messaging.relay_process import RelayChild

        relay = RelayChild()
    try:
        _serve(s, host, port, workers, access_log, server)
    finally:
        if relay is not None:
            relay.stop()
        if own_metrics_dir is not None:
            import shutil

            shutil.rmtree(own_metrics_dir, ignore_errors=True)


@app.command()
def relay():
    """Publish the hub's events: the outbox relay alone, as `concord serve` starts it beside its workers on
    PostgreSQL (unless CONCORD_RELAY_PROCESS=false). Runs until Ctrl-C or SIGTERM."""
    from concord.config import get_settings

    if get_settings().sqlite_path() is not None:
        fail("concord relay needs PostgreSQL (CONCORD_DATABASE_URL=postgresql://...): on SQLite the server's "
             "event loop publishes")
    from concord.messaging.relay_process import run

    run()


def _serve(s, host: str, port: int, workers: int, access_log, server: str) -> None:
    import socket

    import uvicorn

    from concord.workers import free_port

    access_log = s.access_log if access_log is None else access_log
    shown = f"[{host}]" if ":" in host else host
    try:  # before the banner: a host that does not resolve, or a port in use, is one line and nothing else
        free_port(host, port)
    except OSError as e:
        fail(f"cannot listen on {shown}:{port}: {e.strerror or e} (is another server there? choose a port with "
             "--port, an address of this machine with --host)")
    console.print(f"Concord on http://{shown}:{port} (API docs: http://{shown}:{port}/docs), "
                  f"database {s.database_label()}; access log {'on' if access_log else 'off (--access-log)'}; "
                  f"Ctrl-C stops it", soft_wrap=True)
    if server == "granian":
        try:
            from granian import Granian
        except ImportError:
            fail("--server granian: granian is not installed (`pip install granian`)")
        Granian("concord.app:create_app", factory=True, address=host, port=port, interface="asgi", workers=workers,
                log_access=access_log, log_level="info" if access_log else "warning").serve()
        return
    if server != "uvicorn":
        fail(f"--server {server}: choose uvicorn or granian")
    level = "info" if access_log else "warning"
    logs = {}
    if s.log_format == "json":  # CONCORD_LOG_FORMAT=json: every line one JSON object, with the request id
        from concord.observability.logs import uvicorn_log_config

        logs = {"log_config": uvicorn_log_config(level)}
    if workers == 1 or not hasattr(socket, "SO_REUSEPORT"):  # Windows: uvicorn's one shared socket
        uvicorn.run("concord.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level=level, access_log=access_log, **logs)
        return
    from concord.workers import SpreadWorkers  # a listening socket per worker: connections spread evenly

    config = uvicorn.Config("concord.app:create_app", factory=True, host=host, port=port, workers=workers,
                            log_level=level, access_log=access_log, **logs)
    try:
        supervisor = SpreadWorkers(config)
    except OSError as e:  # taken between the probe above and here
        fail(f"cannot listen on {shown}:{port}: {e.strerror} (is another server there? choose a port with --port)")
    try:
        supervisor.run()
    except KeyboardInterrupt:
        pass


@db_app.command("upgrade")
def db_upgrade(revision: str = "head"):
    """Apply the Alembic migrations."""
    from concord.config import get_settings
    from concord.db import make_engine
    from concord.migrations import upgrade

    settings = get_settings()
    upgrade(make_engine(settings.resolved_database_url()), revision)
    console.print(f"database {settings.database_label()} is at {revision}")


@config_app.command("load")
def config_load(file: Path = typer.Argument(..., exists=True, dir_okay=False)):
    """Validate and load a coordination config; every fault is reported and nothing is half-loaded."""
    from concord.agencies.messages import LoadConfig

    text = read_text(file)
    c = _concord(create=True)
    try:
        result = c.bus.handle(LoadConfig(text=text, source=str(file)))
    except ConcordError as e:
        fail(e)
    typer.echo(json.dumps(result))
    console.print(f"loaded into {c.settings.database_label()}", soft_wrap=True)


@config_app.command("check")
def config_check(file: Path = typer.Argument(..., exists=True, dir_okay=False)):
    """Validate a coordination config without loading it."""
    from concord.agencies.handlers import parse_config
    from concord.bootstrap import CONFIG_SECTIONS

    try:
        cfg = parse_config(read_text(file), str(file), sections=CONFIG_SECTIONS)
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
         declarations: int = typer.Option(240, min=1),
         database: Path = typer.Option(None, help="SQLite file to write (default: the database every command uses)"),
         seed: int = typer.Option(7, help="the same seed gives the same declarations, decisions and figures")):
    """Replace the database with a fresh one: the demo config, realistic declarations, officers' decisions, releases."""
    from concord.config import get_settings
    from concord.demo.run import run_demo
    from concord.demo.summary import print_summary

    settings = get_settings()
    default = settings.sqlite_path()
    if database is None and default is None:
        fail("the demo writes SQLite, and CONCORD_DATABASE_URL names a server database: pass --database FILE")
    database = (database or default).absolute()
    console.print(f"writing the demo into {database} (a database there is replaced)", soft_wrap=True)
    summary = run_demo(database, declarations, seed)
    if json_output:
        typer.echo(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
        hint = "" if database == default else f"CONCORD_DATABASE_URL=sqlite:///{database} "
        console.print(f"\nExplore it: {hint}concord serve", soft_wrap=True)


app.add_typer(audit_cli.app, name="audit")
app.add_typer(risk_cli.app, name="risk")
risk_rules_cli.mount(risk_cli.app)
app.add_typer(screening_cli.lists_app, name="screening")
app.command("screen")(screening_cli.screen)
app.add_typer(incidents_app, name="incidents")
app.add_typer(operations_app, name="operations")
app.add_typer(notices_app, name="notices")
app.add_typer(hunting_cli.hunt_app, name="hunt")
app.add_typer(hunting_cli.stix_app, name="stix")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(standards_app, name="standards")
app.add_typer(users_app, name="users")
app.add_typer(trs_app, name="trs")
app.add_typer(simulate_app, name="simulate")

def main() -> None:
    """The `concord` command: a fault the user can fix is one line and exit 2, never a traceback."""
    from concord.cliutil import explain

    try:
        app()
    except Exception as e:  # typer has handled usage errors and exits; what is left is ours or the setup's
        error = explain(e)
        if error is None:
            raise
        try:
            fail(error)
        except typer.Exit as done:
            raise SystemExit(done.exit_code) from None
