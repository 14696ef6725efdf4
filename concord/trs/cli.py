"""`concord trs report`: the time release figures of a period, as HTML with charts and CSV files."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from pathlib import Path

import typer

from concord.cliutil import act_as, print_json

trs_app = typer.Typer(help="Time release study (WCO TRS) figures from Concord's milestones.", no_args_is_help=True)


def _day(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} takes a date or date-time in ISO 8601, e.g. 2026-11-02") from None
    if isinstance(parsed, datetime) and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed if isinstance(parsed, datetime) else datetime.combine(date.fromisoformat(value), time(), timezone.utc)


@trs_app.command("report")
def report(start: str = typer.Option(..., "--from", help="first arrival day (UTC), e.g. 2026-11-02"),
           end: str = typer.Option(..., "--to", help="day after the last arrival (UTC), e.g. 2026-11-16"),
           out: Path = typer.Option(None, "--out", help="write report.html and CSV files into this directory"),
           user: str = typer.Option(None, "--as", help="read as this user (default: the lead agency, all figures)"),
           purpose: str = typer.Option(None, help="why you read other agencies' data (agreements per purpose)")):
    """Medians, 90th percentiles and distributions per agency, lane, office, mode, HS chapter and week; who holds
    the goods; the share released on arrival; SLA breaches. Prints the figures as JSON without --out."""
    from concord.access.identity import Subject
    from concord.trs import queries
    from concord.trs import report as writer

    a, b = _day(start, "--from"), _day(end, "--to")

    def command(app, who):
        with app.sessions() as s:
            who = who or Subject("cli", app.lead_agency(s), None, frozenset({"auditor"}), lead=True)
            rep = queries.trs_report(s, who, a, b, as_of=app.clock.now(), purpose=purpose, access=app.access)
        if out is None:
            print_json(rep)
            return
        written = writer.write(rep, out, f"Time release study {a:%Y-%m-%d} to {b:%Y-%m-%d}")
        typer.echo("\n".join(str(p) for p in written))

    act_as(user, command)
