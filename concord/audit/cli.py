"""`concord audit`: verify the log, witness a kept checkpoint, issue checkpoints, print proofs."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Tamper-evident audit log: verify, witness, checkpoints and proofs.", no_args_is_help=True)
prove_app = typer.Typer(help="Inclusion and consistency proofs from the stored tree.", no_args_is_help=True)
app.add_typer(prove_app, name="prove")
console = Console()

JSON = typer.Option(False, "--json", help="Print JSON.")
KEY = typer.Option(None, "--key", help="The hub's verifier key (name+keyid+base64); default: from its key file.")


def _hub():
    from concord.cliutil import require_database
    from concord.config import get_settings
    from concord.db import make_engine, make_session_factory

    settings = get_settings()
    require_database(settings)  # a read: never create an empty database and verify that
    engine = make_engine(settings.resolved_database_url())
    return settings, engine, make_session_factory(engine)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _vkey(settings, key: str | None) -> str:
    from concord.audit.checkpoints import hub_vkey

    return key or hub_vkey(settings)


@app.command()
def verify(json_output: bool = JSON, key: str | None = KEY):
    """Recompute the tree from every stored entry and check it against every checkpoint; exit 1 on any fault."""
    from concord.audit.verify import verify_log

    settings, engine, _ = _hub()
    with engine.connect() as conn:
        report = verify_log(conn, _vkey(settings, key))
    if json_output:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    elif report.ok:
        console.print(f"[green]ok[/green]: {report.entries} entries, {report.checkpoints} checkpoints match "
                      f"(signed up to {report.verified_size}), {report.seconds} s")
    else:
        where = "" if report.exact else " (a checkpoint failed: the first bad entry is at or after this one)"
        console.print(f"[red]FAILED[/red]: first bad entry {report.first_bad_seq}{where}")
        table = Table("seq", "problem")
        for f in report.findings:
            table.add_row(str(f.seq), f.problem)
        console.print(table)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def witness(checkpoint_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A checkpoint kept earlier."),
            key: str | None = KEY, url: str | None = typer.Option(None, help="Check a hub over HTTP: .../api/v1/audit"),
            token: str | None = typer.Option(None, help="Bearer token for --url."), json_output: bool = JSON):
    """Check that today's log extends a checkpoint kept earlier; exit 1 if history was rewritten."""
    from concord.audit.witness import witness_local, witness_remote

    kept = checkpoint_file.read_text()
    if url:
        if not key:
            raise typer.BadParameter("--url needs --key: the verifier key you kept, not one the hub hands you")
        report = witness_remote(url, kept, key, token)
    else:
        settings, _, sessions = _hub()
        with sessions() as session:
            report = witness_local(session, kept, _vkey(settings, key))
    if json_output:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        colour = "green" if report.ok else "red"
        console.print(f"[{colour}]{'ok' if report.ok else 'FAILED'}[/{colour}]: kept {report.kept_size}, "
                      f"current {report.current_size}: {report.reason}")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def checkpoint(json_output: bool = JSON):
    """Sign a checkpoint for the current log size now, and print the latest checkpoint."""
    from concord.audit.checkpoints import Checkpointer, latest_checkpoint, signer_from_settings
    from concord.clock import Clock

    settings, _, sessions = _hub()
    signer = signer_from_settings(settings)
    Checkpointer(sessions, signer, Clock()).issue()
    with sessions() as session:
        row = latest_checkpoint(session)
    if row is None:
        raise typer.BadParameter("the log is empty: nothing to sign yet")
    if json_output:
        typer.echo(json.dumps({"size": row.size, "root": _b64(row.root), "note": row.note, "vkey": signer.vkey}))
    else:
        typer.echo(row.note, nl=False)


@app.command()
def key():
    """Print the hub's verifier key, for other agencies to keep."""
    settings, _, _ = _hub()
    typer.echo(_vkey(settings, None))


@app.command()
def bench(json_output: bool = JSON, entries: int = typer.Option(1_000_000, help="Log size for verify and proofs."),
          appends: int = typer.Option(50_000, help="Entries appended through group commit.")):
    """Appends/s with group commit beside raw batched inserts, a full verify, inclusion proofs/s (SQLite)."""
    from concord.audit.bench import run

    typer.echo(json.dumps(run(appends=appends, entries=entries), indent=None if json_output else 2))


@prove_app.command("inclusion")
def prove_inclusion(seq: int, size: int | None = typer.Option(None, help="Tree size; default: latest checkpoint."),
                    json_output: bool = JSON):
    """Inclusion proof of entry SEQ in the tree of SIZE entries (checked here before printing)."""
    from concord.audit.proofs import inclusion

    _, _, sessions = _hub()
    with sessions() as session:
        result = inclusion(session, seq, size)
    _print_proof(result, json_output)


@prove_app.command("consistency")
def prove_consistency(old: int, new: int, json_output: bool = JSON):
    """Consistency proof that the tree of NEW entries extends the tree of OLD entries (checked here)."""
    from concord.audit.proofs import consistency

    _, _, sessions = _hub()
    with sessions() as session:
        result = consistency(session, old, new)
    _print_proof(result, json_output)


def _print_proof(result: dict, json_output: bool) -> None:
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(show_header=False)
    for k, v in result.items():
        table.add_row(k, "\n".join(v) if isinstance(v, list) else str(v))
    console.print(table)
