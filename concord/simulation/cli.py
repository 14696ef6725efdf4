"""`concord simulate port`: the port simulation, its comparison and its sensitivity analysis."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="Simulations that drive the real hub", no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def port(days: int = typer.Option(28, min=1, max=366, help="days of vessel calls"),
         per_day: int = typer.Option(1000, "--per-day", min=10, max=20_000, help="declarations a day"),
         seed: int = typer.Option(7, help="the same seed gives the same trade, officers, findings and figures"),
         json_output: bool = typer.Option(False, "--json", help="print the figures as one JSON object"),
         sensitivity: bool = typer.Option(False, "--sensitivity", help="one factor at a time, on one port"),
         scenario: str = typer.Option("coordinated", help="the port the sensitivity analysis varies: coordinated or "
                                                          "sequential (customs draws 5 % at random there)"),
         keep: Path = typer.Option(None, help="keep each scenario's hub database in this folder")):
    """Sequential against coordinated clearance on the same trade, each through its own real hub."""
    from concord.simulation.params import Params

    p = Params(days=days, per_day=per_day, seed=seed)
    runs = 1 + 22 if sensitivity else 2  # the sensitivity analysis: a baseline and 22 variants of one port
    console.print(f"simulating {days} days at {per_day} declarations a day through {runs} hubs "
                  f"({runs * days * per_day} lodgements; two hubs at a time, one process each)")
    if sensitivity:
        from concord.simulation.sensitivity import sensitivity as run

        if scenario not in ("coordinated", "sequential"):
            raise typer.BadParameter("give coordinated or sequential", param_hint="--scenario")
        result = run(p, scenario, 0.05 if scenario == "sequential" else None, progress=None if json_output else lambda r: console.print(
            f"  {r['variant']}: median {r['median_hours']} h, p90 {r['p90_hours']} h"))
        if json_output:
            typer.echo(json.dumps(result, indent=2))
        else:
            _print_sensitivity(result)
        return
    from concord.simulation.run import compare

    result = compare(p, keep)
    if json_output:
        typer.echo(json.dumps(result, indent=2))
    else:
        _print_comparison(result)


def _print_comparison(r: dict) -> None:
    from rich.table import Table

    out = Console()
    t = Table(title=f"{r['sequential']['declarations']} declarations, {r['irregular_consignments']} irregular "
                    "(arrival to release, hours)")
    for col in ("", "sequential", "coordinated"):
        t.add_column(col, justify="right")
    for key in ("median_hours", "p90_hours", "mean_hours", "released_on_discharge_share", "customs_inspection_rate",
                "customs_inspections", "irregular_found", "hits_per_inspection", "bay_visits", "agency_examinations",
                "containers_moved_twice", "not_released"):
        t.add_row(key.replace("_", " "), str(r["sequential"][key]), str(r["coordinated"][key]))
    out.print(t)
    ratio = lambda x: "n/a (nothing found to compare)" if x is None else f"{x}x"  # noqa: E731
    share = lambda x: "n/a" if x is None else f"{x:.0%}"  # noqa: E731
    out.print(f"median {share(r['reduction'])} shorter, p90 {share(r['p90_reduction'])} shorter; irregularities found "
              f"per inspection: {ratio(r['hits_per_inspection_ratio'])} random selection's "
              f"({ratio(r['hits_per_inspection_ratio_vs_base_rate'])} the irregular share)")


def _print_sensitivity(r: dict) -> None:
    from rich.table import Table

    b = r["baseline"]
    t = Table(title=f"{r['scenario']} port: baseline median {b['median_hours']} h, p90 {b['p90_hours']} h")
    for col in ("variant", "median h", "change", "p90 h", "change"):
        t.add_column(col, justify="right")
    for v in r["variants"]:
        t.add_row(v["variant"], str(v["median_hours"]), f"{v['median_change']:+.0%}", str(v["p90_hours"]),
                  f"{v['p90_change']:+.0%}")
    Console().print(t)
