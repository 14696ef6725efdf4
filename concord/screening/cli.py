"""`concord screen WATCHLIST.csv QUERIES.csv`: screen every row of a file against a watchlist."""

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from concord.errors import ConcordError
from concord.screening.lists import birth_date_warning, load_csv, read_rows, record_name, require_name_column
from concord.screening.matching import DEFAULT_THRESHOLD, WatchlistIndex
from concord.screening.results import ScreeningQuery

app = typer.Typer(help="Party screening against sanctions lists and watchlists.")
lists_app = typer.Typer(help="Screening lists loaded into the hub.", no_args_is_help=True)


def screen_rows(index: WatchlistIndex, rows: list[dict], threshold: float, limit: int | None = None):
    """Yield (query row, matches) for every row, rows numbered from 0 in file order."""
    for number, row in enumerate(rows):
        yield number, index.screen(ScreeningQuery.from_record(row), threshold=threshold, limit=limit)


def result_line(number: int, matches) -> dict:
    """The --json object of one query row."""
    return {"query": number,
            "matches": [{"row": m.entry.row, "name": m.matched_name, "score": round(m.score, 4)} for m in matches]}


@app.command()
def screen(
    watchlist: Path = typer.Argument(..., exists=True, dir_okay=False,
                                     help="CSV: full_name (or first/middle/last_name), date_of_birth, nationality..."),
    queries: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV of the names to screen, same columns"),
    threshold: float = typer.Option(DEFAULT_THRESHOLD, "--threshold", "-t", min=0.0, max=1.0,
                                    help="report matches scoring at or above this"),
    json_output: bool = typer.Option(False, "--json", help="one JSON object per query row on stdout"),
    limit: int = typer.Option(0, min=0, help="at most this many matches per query (0: all above the threshold)"),
):
    """Screen every row of QUERIES against WATCHLIST; matches above the threshold, best first."""
    err = Console(stderr=True)
    try:
        listed = load_csv(watchlist)
        index = WatchlistIndex(listed.entries, threshold=threshold)
        rows = read_rows(queries)
        if not rows:  # exit 0 with nothing printed would read as "nobody matched"
            raise ConcordError(f"{queries} has no rows to screen; give a CSV with a header row and a row per name")
        require_name_column(queries, rows)  # as for the watchlist: without a name column every row is "no match"
    except ConcordError as e:
        from concord.cliutil import fail

        fail(e)
    _warn(birth_date_warning(listed))
    results = screen_rows(index, rows, threshold, limit or None)
    if json_output:
        for number, matches in results:
            sys.stdout.write(json.dumps(result_line(number, matches), ensure_ascii=False) + "\n")
        return
    hits = Table("query row", "query", "list row", "listed name", "score", title=f"Matches at or above {threshold}")
    columns = (TextColumn("screening"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    flagged = 0
    with Progress(*columns, console=err, transient=True) as progress:
        for number, matches in progress.track(results, total=len(rows)):
            flagged += bool(matches)
            for m in matches:
                hits.add_row(str(number), record_name(rows[number]), str(m.entry.row),
                             m.matched_name, f"{m.score:.3f}")
    Console().print(hits)
    err.print(f"{len(rows)} screened against {len(index)} entries; {flagged} with a match")


@lists_app.command("load-list")
def load_list(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV: id, full_name (or first/last_name), "
                                "aliases, date_of_birth, nationality, identifiers"),
    name: str = typer.Option(..., "--name", help="the list's stable name; loading it again makes a new version"),
    owner: str = typer.Option(..., "--owner", help="the agency that owns the list"),
    sharing: str = typer.Option(None, help="hit_no_hit (other agencies learn only that an entry matched; the default "
                                "for a new list) or full; a reload keeps the list's rule unless given"),
    user: str = typer.Option(None, "--as", help="the administrator loading it (default: the hub itself)"),
):
    """Load a sanctions list or watchlist CSV into the hub (a new version when the name exists)."""
    from concord.access.identity import SYSTEM
    from concord.cliutil import act_as
    from concord.screening.messages import LoadScreeningList

    result = act_as(user, lambda app, who: app.bus.handle(LoadScreeningList(
        name=name, owner_agency=owner, sharing=sharing, source=file.name, records=read_rows(file)), subject=who),
        default=SYSTEM)
    for warning in result.get("warnings", ()):
        _warn(warning)
    typer.echo(json.dumps(result))


def _warn(warning: str | None) -> None:
    """One plain line on stderr (stdout stays the results): not rich, which would wrap it and read [..] as markup."""
    if warning:
        typer.echo(f"warning: {warning}", err=True)


@lists_app.command("lists")
def show_lists():
    """The loaded lists: name, owner, sharing rule, version and size."""
    from sqlalchemy import select

    from concord.cliutil import hub as open_hub
    from concord.screening.handlers import list_view
    from concord.screening.models import ScreeningList

    hub = open_hub()
    try:
        with hub.sessions() as s:
            rows = [list_view(x) for x in s.scalars(select(ScreeningList).order_by(ScreeningList.name))]
    finally:
        hub.close()
    table = Table("name", "owner", "sharing", "version", "entries", "loaded at", "source")
    for r in rows:
        table.add_row(r["name"], r["owner_agency"], r["sharing"], str(r["version"]), str(r["entries"]),
                      r["loaded_at"], r["source"])
    Console().print(table)


if __name__ == "__main__":
    app()
