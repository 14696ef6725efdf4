"""`concord trs report`: the figures as an HTML page with charts (PNG, embedded) and CSV files beside it."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

from concord.trs.figures import DIMENSIONS


def _chart(draw) -> str:
    """A matplotlib figure as an embedded PNG (Agg: no display needed on a server)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    draw(ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _bars(labels, values, title, xlabel):
    def draw(ax):
        ax.barh(list(labels)[::-1], list(values)[::-1], color="#3b6ea5")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
    return draw


def _week_lines(by_week: dict):
    def draw(ax):
        weeks = list(by_week)
        ax.plot(weeks, [by_week[w]["median"] for w in weeks], marker="o", label="median")
        ax.plot(weeks, [by_week[w]["p90"] for w in weeks], marker="o", label="90th percentile")
        ax.set_title("arrival to release per week (hours)")
        ax.legend()
        ax.tick_params(axis="x", rotation=45)
    return draw


def rows_of_groups(rep: dict) -> list[dict]:
    rows = []
    for dim in DIMENSIONS:
        for group, s in rep["by"].get(dim, {}).items():
            rows.append({"dimension": dim, "group": group, "n": s["n"], "median_hours": s["median"],
                         "p90_hours": s["p90"], "mean_hours": s["mean"], "max_hours": s["max"], **s["distribution"]})
    return rows


def rows_of_holders(rep: dict) -> list[dict]:
    return [{"phase": phase, **r} for phase, rows in rep["holders"].items() for r in rows]


def rows_of_agencies(rep: dict) -> list[dict]:
    return [{"agency": a, "tasks": r["tasks"], "open": r["open"], "sla_breaches": r["sla_breaches"],
             "sla_breach_share": r["sla_breach_share"], "median_decision_hours": r["decision_hours"]["median"],
             "p90_decision_hours": r["decision_hours"]["p90"]} for a, r in rep.get("agencies", {}).items()]


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        if not rows:
            f.write("")
            return
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r.values())
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write(rep: dict, out: Path, title: str) -> list[Path]:
    """Write report.html and the CSV files into `out`; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"groups.csv": rows_of_groups(rep), "holders.csv": rows_of_holders(rep),
             "agencies.csv": rows_of_agencies(rep)}
    for name, rows in files.items():
        _write_csv(out / name, rows)
    a2r = rep["arrival_to_release_hours"]
    charts = []
    if a2r["n"]:
        dist = a2r["distribution"]
        charts.append(_chart(_bars(dist, dist.values(), "arrival to release: declarations per band", "declarations")))
    after = rep.get("holders_after_arrival", [])
    if after:
        charts.append(_chart(_bars([r["holder"] for r in after], [r["hours"] for r in after],
                                   "who holds the goods after arrival (total hours)", "hours")))
    if rep["by"].get("week"):
        charts.append(_chart(_week_lines(rep["by"]["week"])))
    agencies = rows_of_agencies(rep)
    if agencies:
        charts.append(_chart(_bars([r["agency"] for r in agencies], [r["sla_breaches"] for r in agencies],
                                   "SLA breaches per agency", "tasks decided after their due time")))
    on_arrival = rep["released_on_arrival"]
    headline = (f"<ul><li>{rep['declarations']} declarations, {rep['released']} released</li>"
                f"<li>arrival to release: median {a2r['median']} h, 90th percentile {a2r['p90']} h</li>"
                f"<li>released on arrival (every agency cleared before the goods arrived): {on_arrival['count']} "
                f"({'' if on_arrival['share'] is None else round(on_arrival['share'] * 100, 1)} %)</li>"
                f"<li>holds the goods longest from arrival to release: {html.escape(str(rep.get('longest_holder')))}</li></ul>")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}</style></head><body>
<h1>{html.escape(title)}</h1><p>Arrivals from {html.escape(rep['from'])} to {html.escape(rep['to'])}
(as of {html.escape(rep['as_of'])}); the WCO Time Release Study method, from Concord's milestones.</p>
{headline}{''.join(charts)}
<h2>Per agency, lane, office, mode, HS chapter and week (arrival to release, hours)</h2>{_table(files['groups.csv'])}
<h2>Who holds the goods</h2>{_table(files['holders.csv'])}
<h2>Agencies: decision times and SLA breaches</h2>{_table(agencies)}
</body></html>"""
    (out / "report.html").write_text(page, encoding="utf-8")
    return [out / "report.html", *[out / n for n in files]]
