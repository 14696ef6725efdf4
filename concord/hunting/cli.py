"""`concord hunt run|report|list` and `concord stix export|import`: the same handlers as the API, on the hub."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

hunt_app = typer.Typer(help="Hunts: indicators matched against pending, recent and new declarations.",
                       no_args_is_help=True)
stix_app = typer.Typer(help="STIX 2.1 bundles of hunts' indicators, TLP-marked by the agreements.",
                       no_args_is_help=True)
AS_USER = typer.Option(..., "--as", help="the officer on whose behalf (a user of the coordination config)")
PURPOSE = typer.Option(None, "--purpose", help="the purpose of the read, as agreements name it")


def _echo(value) -> None:
    typer.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def _list(values: list[str]) -> list[str]:
    return [v.strip() for x in values for v in x.split(",") if v.strip()]


@hunt_app.command("run")
def run(user: str = AS_USER,
        source: str = typer.Option(..., help="what the indicators come from: incident/ID, notice/ID, your reference"),
        valid_until: datetime = typer.Option(..., help="until when new declarations meet the hunt (ISO 8601)"),
        party: list[str] = typer.Option([], help="party identifier or name; repeatable, or comma-separated"),
        container: list[str] = typer.Option([], help="container number"),
        conveyance: list[str] = typer.Option([], help="vessel IMO number, flight, vehicle"),
        hs: list[str] = typer.Option([], help="HS code prefix, 2 to 10 digits"),
        origin: list[str] = typer.Option([], help="country of origin (ISO 3166-1 alpha-2)"),
        rule: str = typer.Option(None, help="a CEL expression as risk rules take it"),
        lookback_days: int = typer.Option(30, help="report matches lodged in the last N days"),
        lane: str = typer.Option("red", help="the lane pending and new matches are raised to: red or yellow"),
        engage: str = typer.Option(None, help="the agency engaged on pending matches (default: yours)"),
        task: str = typer.Option("hold", help="its task: hold, inspection or document_check"),
        purpose: str = PURPOSE):
    """Start a hunt for your agency, then print its report as you may see it."""
    from concord.cliutil import act_as
    from concord.hunting.messages import StartHunt

    if valid_until.tzinfo is None:
        raise typer.BadParameter("give --valid-until with its UTC offset, e.g. 2027-01-31T00:00:00+00:00")
    indicators = {"parties": _list(party), "containers": _list(container), "conveyances": _list(conveyance),
                  "hs": _list(hs), "origins": _list(origin), "rule": rule}
    action = {"lane": lane, "task": task} | ({"agency": engage} if engage else {})

    def act(app, who):
        if who.agency is None:
            from concord.errors import Forbidden

            raise Forbidden("hunts are started by agency officers")
        started = app.bus.handle(StartHunt(agency=who.agency, source=source, indicators=indicators,
                                           valid_until=valid_until.isoformat(), lookback_days=lookback_days,
                                           action=action, purpose=purpose), subject=who)
        return started | {"report": _report(app, who, started["id"], purpose)}

    _echo(act_as(user, act))


def _report(app, who, hunt_id: str, purpose):
    from concord.access.handlers import log_reads
    from concord.hunting import queries

    reads: list = []
    with app.sessions() as s:
        out = queries.hunt_report(s, who, hunt_id, purpose=purpose, limit=500, reads=reads, access=app.access)
    log_reads(app.uow(who), reads, purpose)
    return out


@hunt_app.command("report")
def report(hunt_id: str, user: str = AS_USER, purpose: str = PURPOSE):
    """A hunt's matches as you may read them (first 500)."""
    from concord.cliutil import act_as

    _echo(act_as(user, lambda app, who: _report(app, who, hunt_id, purpose)))


@hunt_app.command("list")
def list_(user: str = AS_USER):
    """Your agency's hunts, newest first."""
    from concord.cliutil import act_as
    from concord.hunting import queries

    def act(app, who):
        with app.sessions() as s:
            return queries.hunts_of(s, who)

    _echo(act_as(user, act))


@stix_app.command("export")
def export(user: str = AS_USER, purpose: str = PURPOSE,
           out: Path = typer.Option(None, "--out", help="write the bundle here instead of stdout")):
    """The hunts you receive (your agency's, others' under an agreement) as one STIX 2.1 bundle."""
    from concord.access.handlers import log_reads
    from concord.cliutil import act_as
    from concord.hunting.stix_io import export_bundle

    def act(app, who):
        reads: list = []
        with app.sessions() as s:
            bundle = export_bundle(s, who, purpose, app, reads)
        log_reads(app.uow(who), reads, purpose)
        return bundle

    bundle = act_as(user, act)
    text = json.dumps(bundle, indent=2, ensure_ascii=False)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"{len(bundle.get('objects', []))} objects written to {out}", err=True)


@stix_app.command("import")
def import_(path: Path = typer.Argument(..., exists=True, dir_okay=False), user: str = AS_USER,
            hunt: bool = typer.Option(False, "--hunt", help="start a hunt of your agency for each indicator"),
            lookback_days: int = typer.Option(30, help="with --hunt: the look-back of each hunt")):
    """Read a STIX 2.1 bundle's indicators (checked by the stix2 library); with --hunt, hunt for each one."""
    from concord.cliutil import act_as, read_text
    from concord.hunting.stix_io import import_bundle

    text = read_text(path)
    _echo(act_as(user, lambda app, who: import_bundle(app, who, text, hunt=hunt, lookback_days=lookback_days)))
