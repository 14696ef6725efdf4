"""`concord standards ...`: the WCO Data Model table, and the standards' converters from the command line."""

from __future__ import annotations

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
