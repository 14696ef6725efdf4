"""`concord risk rules|watchlist|outcomes ...`: the same handlers as the API, from the console."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


app = typer.Typer(help="Risk rules, watchlists and inspection outcomes.", no_args_is_help=True)
rules_app = typer.Typer(help="Analysts' rules (CEL expressions over the declaration).", no_args_is_help=True)
watchlist_app = typer.Typer(help="Shared watchlist entries.", no_args_is_help=True)
outcomes_app = typer.Typer(help="Inspection outcomes (the labels).", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(watchlist_app, name="watchlist")
app.add_typer(outcomes_app, name="outcomes")
console = Console(stderr=True)
AS_USER = typer.Option(..., "--as", help="the user on whose behalf (an id from the coordination config)")


def mount(parent: typer.Typer) -> None:
    """Add the rules, watchlist and outcomes groups to an existing `risk` command group."""
    for name, group in (("rules", rules_app), ("watchlist", watchlist_app), ("outcomes", outcomes_app)):
        parent.add_typer(group, name=name)


def _run(command, user: str | None = None):
    """Handle a bus command as USER (None: the console itself); a ConcordError exits 2 with its problems."""
    from concord.cliutil import act_as

    return act_as(user, lambda app, who: app.bus.handle(command, subject=who))


def _print(rows: list[dict], json_output: bool, columns: list[str]) -> None:
    if json_output:
        typer.echo(json.dumps(rows, default=str))
        return
    table = Table(*columns)
    for r in rows:
        table.add_row(*(str(r.get(c, "")) for c in columns))
    Console().print(table)


@rules_app.command("try")
def rules_try(expression: str, since: datetime | None = typer.Option(None, help="only declarations lodged since"),
              json_output: bool = typer.Option(False, "--json")):
    """How many past declarations EXPRESSION would have hit, and how many of those were found irregular."""
    from concord.risk.messages import TryRule

    result = _run(TryRule(expression=expression, since=since))
    if json_output:
        typer.echo(json.dumps(result))
        return
    rate = "n/a" if result["hit_rate"] is None else f"{result['hit_rate']:.1%}"
    base = "n/a" if result["base_rate"] is None else f"{result['base_rate']:.1%}"
    typer.echo(f"{result['hits']} of {result['scanned']} declarations hit; {result['inspected']} of those inspected, "
               f"{result['irregular']} irregular (hit rate {rate}; all inspected: {base})")
    if result.get("errors"):
        # the live step does the same (no hit, no failed lodging), so the count says what the rule would miss
        first = result["first_error"]
        typer.echo(f"{result['errors']} of them the rule could not be evaluated on (the first, "
                   f"{first['declaration_id']}: {first['error']}): counted as not hit; guard the expression, e.g. "
                   f"declaration.destination_country != null && ...")


@rules_app.command("add")
def rules_add(file: Path = typer.Argument(..., exists=True, dir_okay=False), user: str = AS_USER):
    """Create the rule (or list of rules) in FILE.yaml; each is checked, and a known id makes a new version."""
    from concord.cliutil import load_yaml
    from concord.risk.messages import CreateRule

    data = load_yaml(file)
    for rule in data if isinstance(data, list) else [data]:
        typer.echo(json.dumps(_run(CreateRule(rule=rule), user)))


@rules_app.command("retire")
def rules_retire(rule_id: str, reason: str = typer.Option(...), user: str = AS_USER):
    """Stop applying a rule; its versions and statistics stay."""
    from concord.risk.messages import RetireRule

    typer.echo(json.dumps(_run(RetireRule(rule_id=rule_id, reason=reason), user)))


def _read(fn):
    from concord.cliutil import hub

    c = hub()
    try:
        with c.sessions() as s:
            return fn(s, c)
    finally:
        c.close()


@rules_app.command("list")
def rules_list(all_versions: bool = typer.Option(False, "--all"), json_output: bool = typer.Option(False, "--json")):
    """The rules in force (--all: every version)."""
    from concord.risk.queries import list_rules
    from concord.risk.schemas import RuleOut

    rows = _read(lambda s, c: [RuleOut.model_validate(r).model_dump(mode="json")
                               for r in list_rules(s, None, include_inactive=all_versions)])
    _print(rows, json_output, ["id", "version", "name", "severity", "lane", "active", "expression"])


@rules_app.command("stats")
def rules_stats(json_output: bool = typer.Option(False, "--json")):
    """Per rule version: hits, inspected, irregular; a rule that never hits can be retired."""
    from concord.risk.queries import rule_statistics

    rows = _read(lambda s, c: rule_statistics(s, None))
    _print(rows, json_output, ["id", "version", "active", "hits", "inspected", "irregular", "hit_rate", "last_hit_at"])


@watchlist_app.command("add")
def watchlist_add(kind: str, values: list[str] = typer.Argument(..., help="key=value, e.g. number=MSCU1234566"),
                  reason: str = typer.Option(...), expires: datetime = typer.Option(...),
                  severity: str = typer.Option("high"), user: str = AS_USER):
    """Share an entry: party identifier=|name=|country=, container number=, vessel imo=, route from= to=,
    hs_origin hs_prefix= origin=."""
    from concord.clock import as_utc
    from concord.risk.messages import AddWatchlistEntry

    value = dict(v.split("=", 1) for v in values if "=" in v)
    entry = {"kind": kind, "value": value, "reason": reason, "severity": severity,
             "expires_at": as_utc(expires).isoformat()}
    typer.echo(json.dumps(_run(AddWatchlistEntry(entry=entry), user)))


@watchlist_app.command("remove")
def watchlist_remove(entry_id: str, reason: str = typer.Option(...), user: str = AS_USER):
    """Withdraw one of your agency's entries."""
    from concord.risk.messages import RemoveWatchlistEntry

    typer.echo(json.dumps(_run(RemoveWatchlistEntry(entry_id=entry_id, reason=reason), user)))


@outcomes_app.command("record")
def outcomes_record(declaration_id: str, result: str = typer.Option(..., help="irregular or compliant"),
                    version: int | None = None, notes: str | None = None, user: str = AS_USER):
    """Record what an inspection found."""
    from concord.risk.messages import RecordOutcome

    outcome = {"declaration_id": declaration_id, "result": result, "version": version, "notes": notes}
    typer.echo(json.dumps(_run(RecordOutcome(outcome=outcome), user)))
