"""`concord declarations ...`: the same handlers and access rule as the API.

The CLI runs on the hub itself; `--as USER` names the user it acts for, whose roles and agency apply."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from concord.cliutil import AS, act_as, print_json

declarations_app = typer.Typer(help="Lodge declarations from a file; read them as a user would, with the purpose stated.", no_args_is_help=True)


@declarations_app.command("lodge")
def lodge(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="NDJSON: one declaration per line"),
          user: str = AS, edifact: bool = typer.Option(False, "--edifact", help="FILE is a UN/EDIFACT CUSDEC "
                                                       "interchange: print the CUSRES (and CONTRL) answer")):
    """Lodge the declarations of an NDJSON file as USER (a trader or broker), 1,000 per upload at most.

    Prints the same answer as POST /api/v1/declarations/batch: line by line, what was lodged and what failed.
    With --edifact, the same answer as POST /api/v1/edifact: an interchange of one CUSRES per message."""
    from concord.declarations.grouping import BULK_CHUNK, lodge_batch

    if edifact:
        from concord.standards.cli import lodge_edifact

        return lodge_edifact(file, user)

    result = act_as(user, lambda app, who: lodge_batch(app.bus, who, file.read_bytes(), BULK_CHUNK))
    print_json(result)
    if result["failed"]:
        raise typer.Exit(1)


@declarations_app.command("show")
def show(declaration_id: str, user: str = AS, purpose: str = typer.Option(None, help="why you read it")):
    """A declaration as USER may see it; a cross-agency read is logged with its purpose."""
    from concord.access.handlers import log_reads
    from concord.declarations import queries

    def command(app, who):
        reads: list = []
        with app.sessions() as s:
            out = queries.get_declaration(s, who, declaration_id, {}, purpose, reads, access=app.access)
        log_reads(app.uow(who), reads, purpose)
        return out

    print_json(act_as(user, command))


@declarations_app.command("export")
def export(user: str = AS, purpose: str = typer.Option(None, help="why you read them")):
    """Every declaration USER may see, one JSON object per line, each cut to USER's view."""
    from concord.access.handlers import log_reads
    from concord.declarations import queries

    def command(app, who):
        reads: list = []
        with app.sessions() as s:
            for row in queries.export_declarations(s, who, purpose=purpose, reads=reads, access=app.access):
                typer.echo(json.dumps(row, default=str))
        log_reads(app.uow(who), reads, purpose)

    act_as(user, command)
