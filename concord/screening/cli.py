"""`concord screen WATCHLIST.csv QUERIES.csv`: screen every row of a file against a watchlist."""

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from concord.errors import ConcordError
from concord.screening.lists import load_csv, read_rows, record_name
from concord.screening.matching import DEFAULT_THRESHOLD, WatchlistIndex
from concord.screening.results import ScreeningQuery

app = typer.Typer(help="Party screening against sanctions lists and watchlists.")


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
    limit: int = typer.Option(0, help="at most this many matches per query (0: all above the threshold)"),
):
    """Screen every row of QUERIES against WATCHLIST; matches above the threshold, best first."""
    err = Console(stderr=True)
    try:
        index = WatchlistIndex(load_csv(watchlist).entries, threshold=threshold)
        rows = read_rows(queries)
    except ConcordError as e:
        err.print(f"[red]error:[/red] {e.message}")
        raise typer.Exit(2) from None
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


if __name__ == "__main__":
    app()
