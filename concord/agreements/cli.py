"""`concord agreements ...` and `concord declarations ...`: the same handlers and access rule as the API.

The CLI runs on the hub itself; `--as USER` names the user it acts for, whose roles and agency apply."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from concord.errors import ConcordError

agreements_app = typer.Typer(help="Sharing agreements: draft, sign, suspend, resume, revoke, list.", no_args_is_help=True)
declarations_app = typer.Typer(help="Lodge declarations from a file; read them as a user would, with the purpose stated.", no_args_is_help=True)
AS = typer.Option(..., "--as", help="the user the command acts for")


def _run(user: str, command):
    from concord.access.handlers import subject_for
    from concord.access.models import User
    from concord.cliutil import fail, hub

    app = hub()
    with app.sessions() as s:
        row = s.get(User, user)
        if row is None or not row.active:
            fail(ConcordError(f"no active user '{user}'"))
        subject = subject_for(row, app.lead_agency(s))
    try:
        return command(app, subject)
    except ConcordError as e:
        fail(e)


def _print(value) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


@agreements_app.command("draft")
def draft(file: Path = typer.Argument(..., exists=True, dir_okay=False), user: str = AS,
          amend: bool = typer.Option(False, help="a new version of an existing agreement")):
    """Draft an agreement from a YAML or JSON file (the fields of POST /api/v1/agreements)."""
    from concord.agreements.messages import DraftAgreement

    from concord.cliutil import load_yaml

    document = load_yaml(file)
    _print(_run(user, lambda app, who: app.bus.handle(DraftAgreement(document=document, amend=amend), subject=who)))


@agreements_app.command("sign")
def sign(agreement_id: str, user: str = AS):
    """Sign as the liaison officer of a party; with every signature the agreement becomes active."""
    from concord.agreements.messages import SignAgreement

    _print(_run(user, lambda app, who: app.bus.handle(SignAgreement(agreement_id=agreement_id), subject=who)))


def _status(status: str):
    def command(agreement_id: str, reason: str = typer.Option(..., help="why"), user: str = AS):
        from concord.agreements.messages import ChangeAgreementStatus

        _print(_run(user, lambda app, who: app.bus.handle(
            ChangeAgreementStatus(agreement_id=agreement_id, status=status, reason=reason), subject=who)))
    command.__doc__ = {"suspended": "Suspend an agreement (any party); it takes effect on the next request.",
                       "active": "Resume a suspended agreement (the provider).",
                       "revoked": "Revoke an agreement for good (the provider)."}[status]
    return command


agreements_app.command("suspend")(_status("suspended"))
agreements_app.command("resume")(_status("active"))
agreements_app.command("revoke")(_status("revoked"))


@agreements_app.command("list")
def list_(status: str = typer.Option(None)):
    """Every agreement version with its status and signatures."""
    from sqlalchemy import select

    from concord.agreements.handlers import _signatures, view
    from concord.agreements.models import SharingAgreement
    from concord.cliutil import hub

    app = hub()
    with app.sessions() as s:
        q = select(SharingAgreement).order_by(SharingAgreement.key, SharingAgreement.version)
        if status:
            q = q.where(SharingAgreement.status == status)
        _print([view(a, _signatures(s, a)) for a in s.scalars(q)])


@declarations_app.command("lodge")
def lodge(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="NDJSON: one declaration per line"),
          user: str = AS):
    """Lodge the declarations of an NDJSON file as USER (a trader or broker), 1,000 per upload at most.

    Prints the same answer as POST /api/v1/declarations/batch: line by line, what was lodged and what failed."""
    from concord.declarations.grouping import BULK_CHUNK, lodge_batch

    result = _run(user, lambda app, who: lodge_batch(app.bus, who, file.read_bytes(), BULK_CHUNK))
    _print(result)
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
            out = queries.get_declaration(s, who, declaration_id, {}, purpose, reads)
        log_reads(app.uow(who), reads, purpose)
        return out

    _print(_run(user, command))


@declarations_app.command("export")
def export(user: str = AS, purpose: str = typer.Option(None, help="why you read them")):
    """Every declaration USER may see, one JSON object per line, each cut to USER's view."""
    from concord.access.handlers import log_reads
    from concord.declarations import queries

    def command(app, who):
        reads: list = []
        with app.sessions() as s:
            for row in queries.export_declarations(s, who, purpose=purpose, reads=reads):
                typer.echo(json.dumps(row, default=str))
        log_reads(app.uow(who), reads, purpose)

    _run(user, command)
