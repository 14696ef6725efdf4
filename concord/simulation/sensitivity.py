"""One factor at a time: which agency's speed and which capacity move the release times most."""

from __future__ import annotations

import tempfile
from pathlib import Path

from concord.simulation.params import AGENCIES, Params
from concord.simulation.run import _scenario_job, scratch_folder


def variants(p: Params) -> dict[str, Params]:
    """Each agency twice as slow, each agency's officers halved, then the port's capacities and waits."""
    out = {}
    for a in AGENCIES:
        out[f"{a} officers twice as slow"] = p.varied(review_minutes={**p.review_minutes, a: 2 * p.review_minutes[a]})
    for a in AGENCIES:
        day, night = p.staff[a]
        out[f"{a} officers halved"] = p.varied(staff={**p.staff, a: (day / 2, night / 2)})
    out["inspection bays halved"] = p.varied(bays=p.bays / 2)
    out["terminal moves twice as long"] = p.varied(terminal_move_hours=2 * p.terminal_move_hours)
    out["laboratory twice as slow"] = p.varied(lab_hours=2 * p.lab_hours)
    out["half the declarations lodged before arrival"] = p.varied(prearrival_share=p.prearrival_share / 2)
    # the sequential port's waits: lodgement after arrival and the file's hand-over between agencies
    out["lodgement after arrival twice as late"] = p.varied(
        lodgement_after_arrival_hours=2 * p.lodgement_after_arrival_hours)
    out["hand-overs twice as slow"] = p.varied(handover_hours=2 * p.handover_hours)
    return out


def sensitivity(p: Params, scenario: str = "coordinated", random_rate: float | None = None, progress=None) -> dict:
    """The scenario's median and p90 under each variant, beside its baseline, ranked by the change in p90."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    rate = p.random_in_coordinated if random_rate is None else random_rate
    rows = []
    runs = {"baseline": p} | variants(p)
    with tempfile.TemporaryDirectory(prefix="concord-sens-", dir=scratch_folder()) as tmp, \
            ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:  # two hubs at a time, one per core
        futures = {}
        for i, (name, q) in enumerate(runs.items()):
            (Path(tmp) / str(i)).mkdir()
            futures[name] = pool.submit(_scenario_job, q, scenario, str(Path(tmp) / str(i)), rate)
        base = futures.pop("baseline").result()
        for name, future in futures.items():
            r = future.result()
            rows.append({"variant": name, "median_hours": r["median_hours"], "p90_hours": r["p90_hours"],
                         "median_change": _change(base["median_hours"], r["median_hours"]),
                         "p90_change": _change(base["p90_hours"], r["p90_hours"])})
            if progress:
                progress(rows[-1])
    rows.sort(key=lambda r: (-(r["p90_change"] or 0), -(r["median_change"] or 0)))
    return {"scenario": scenario, "parameters": {"days": p.days, "per_day": p.per_day, "seed": p.seed},
            "baseline": {"median_hours": base["median_hours"], "p90_hours": base["p90_hours"]}, "variants": rows}


def _change(before, after) -> float | None:
    if before is None or after is None:
        return None
    return round(after / before - 1, 4) if before else round(after - before, 2)
