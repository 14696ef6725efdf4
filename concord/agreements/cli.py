"""`concord agreements ...`: the same handlers and access rule as the API.

The CLI runs on the hub itself; `--as USER` names the user it acts for, whose roles and agency apply."""

from __future__ import annotations

from pathlib import Path

import typer

from concord.cliutil import AS, act_as, print_json

agreements_app = typer.Typer(help="Sharing agreements: draft, sign, suspend, resume, revoke, list.", no_args_is_help=True)


@agreements_app.command("draft")
def draft(file: Path = typer.Argument(..., exists=True, dir_okay=False), user: str = AS,
          amend: bool = typer.Option(False, help="propose a new version (as a party of the current one)")):
    """Draft an agreement from a YAML or JSON file (the fields of POST /api/v1/agreements)."""
    from concord.agreements.messages import DraftAgreement

    from concord.cliutil import load_yaml

    document = load_yaml(file)
    print_json(act_as(user, lambda app, who: app.bus.handle(DraftAgreement(document=document, amend=amend), subject=who)))


@agreements_app.command("sign")
def sign(agreement_id: str, user: str = AS):
    """Sign as the liaison of a party (of the new or the current version); with every signature it takes effect."""
    from concord.agreements.messages import SignAgreement

    print_json(act_as(user, lambda app, who: app.bus.handle(SignAgreement(agreement_id=agreement_id), subject=who)))


def _status(status: str):
    def command(agreement_id: str, reason: str = typer.Option(..., help="why"), user: str = AS):
        from concord.agreements.messages import ChangeAgreementStatus

        print_json(act_as(user, lambda app, who: app.bus.handle(
            ChangeAgreementStatus(agreement_id=agreement_id, status=status, reason=reason), subject=who)))
    command.__doc__ = {"suspended": "Withdraw your agency's signature: the agreement is suspended for all parties.",
                       "active": "Sign again after your agency withdrew; active once every party has signed.",
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
        print_json([view(a, _signatures(s, a)) for a in s.scalars(q)])
