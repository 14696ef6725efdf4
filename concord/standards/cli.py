"""`concord standards ...`: the WCO Data Model table, and the standards' converters from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

standards_app = typer.Typer(help="The standards at the edge: WCO Data Model names, UN/EDIFACT, SPS certificates.",
                            no_args_is_help=True)


@standards_app.command("wcodm")
def wcodm(markdown: bool = typer.Option(False, "--markdown", help="the table as docs/standards.md shows it")):
    """Each field of the declaration with its WCO Data Model element, class, CUSDEC place and departure."""
    from concord.standards.wcodm import TABLE, markdown_table

    if markdown:
        typer.echo(markdown_table())
        return
    for e in TABLE:
        typer.echo(f"{e.pointer:34} {e.wco_id or '-':5} {e.certainty:9} {e.wco_name} ({e.wco_class})")


def lodge_edifact(file, user: str) -> None:
    """`concord declarations lodge --edifact FILE`: print the answer interchange; exit 1 if a message failed,
    2 if the interchange was rejected whole (its CONTRL is printed, the reason on stderr)."""
    from concord.cliutil import act_as
    from concord.errors import Forbidden
    from concord.standards import cusres, edifact

    def command(app, who):
        if not who.is_trader:
            raise Forbidden("only traders and brokers lodge declarations")
        try:
            return edifact.lodge_interchange(app.bus, who, file.read_bytes()), app.clock.now()
        except edifact.InterchangeRejected as e:
            typer.echo(cusres.render(e.answer, app.clock.now()))
            raise  # one line on stderr and exit 2, as every refusal

    answer, now = act_as(user, command)
    typer.echo(cusres.render(answer, now))
    if any(m.error for m in answer.messages) or answer.faults:
        raise typer.Exit(1)


@standards_app.command("sps")
def supply_sps(declaration_id: str, file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                                                 help="UN/CEFACT SPSCertificate XML"),
               user: str = typer.Option(..., "--as", help="the trader who lodged the declaration")):
    """Supply the electronic SPS certificate a declaration references (as POST .../sps-certificates)."""
    from concord.cliutil import act_as, print_json
    from concord.standards.messages import SupplySpsCertificate

    print_json(act_as(user, lambda app, who: app.bus.handle(
        SupplySpsCertificate(declaration_id=declaration_id, xml=file.read_bytes()), subject=who)))
