"""Both scenarios on the same trade, each through its own real hub; the figures the issue asks for."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from concord.simulation.hub import Hub
from concord.simulation.params import Params
from concord.simulation.port import Port, port_facility
from concord.simulation.trade import make_consignments

START = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)  # a Monday
DRAIN_DAYS = 21  # after the last arrival, time for every box still held to be released
TRS_DAYS = 7  # the product's TRS report over the first week's arrivals (the whole run costs as much as the run)


def run_scenario(p: Params, scenario: str, consignments, folder: Path, *, random_rate: float) -> dict:
    """One scenario through a fresh hub; its figures, measured from the hub's own release times."""
    coordinated = scenario == "coordinated"
    traders = sorted({c.trader.user_id: c.trader for c in consignments}.values(), key=lambda t: t.user_id)
    # No risk profiles in either port: the demo's target goods (cigarettes, solar panels, textiles) are no more often
    # irregular here than any other, so they would only spend the budget; the watchlist is the risk selection.
    started, cpu = time.perf_counter(), time.process_time()
    if random_rate is None:  # the sequential port selects at random at the rate the coordinated one's risk step sets
        random_rate = selection_rate(p, consignments, folder)
    hub = Hub(folder / f"{scenario}.db", START, traders, random_rate=random_rate, profiles=False,
              watchlisted=[t for t in traders if t.watchlisted] if coordinated else [], seed=p.seed,
              facility=port_facility(p))
    try:
        port = Port(hub, p, scenario, consignments)
        port.run((p.days + DRAIN_DAYS) * 24)
        releases = hub.releases()
        counts = hub.counts()
        # the product's own figures over the first week's arrivals: the query's cost then stays that of a week
        trs = hub.trs(START + timedelta(days=min(p.days, TRS_DAYS)))
    finally:
        hub.close()
    waits = [w for c in consignments for w in port.records[c.index].slot_waits]
    return summarize(p, consignments, port.records, releases) | {
        "hub": counts, "trs": trs, "random_inspection_rate": round(random_rate, 4),
        "slot_wait_median_hours": _q(waits, 50), "slot_wait_p90_hours": _q(waits, 90),
        "seconds": round(time.perf_counter() - started, 1), "cpu_seconds": round(time.process_time() - cpu, 1)}


def selection_rate(p: Params, consignments, folder: Path, sample: int = 2000) -> float:
    """The share of consignments the coordinated port's risk step sends to the red lane (watchlist, rules, its own
    random controls), from the product's RiskStep on an evenly spread sample of the trade: the sequential port then
    draws the same share at random, and both ports run at once instead of one after the other."""
    from concord.declarations.schemas import parse_declaration

    traders = sorted({c.trader.user_id: c.trader for c in consignments}.values(), key=lambda t: t.user_id)
    hub = Hub(folder / "selection.db", START, traders, random_rate=p.random_in_coordinated, profiles=False,
              watchlisted=[t for t in traders if t.watchlisted], seed=p.seed)
    try:
        step = max(1, len(consignments) // sample)
        chosen = sorted(consignments, key=lambda c: c.index)[::step]
        hub.at(0)
        red = 0
        with hub.app.sessions() as s:
            snapshot = hub.app.directory.current(s)
            for c in chosen:
                doc = dict(c.document, arrival=(START + timedelta(hours=c.arrival_h)).isoformat())
                doc = parse_declaration(doc).model_dump(mode="json")
                red += hub.app.risk.assess(s, snapshot, doc, declaration_id="selection-estimate").lane == "red"
            s.rollback()
    finally:
        hub.close()
    return red / max(len(chosen), 1)


def _scenario_job(p: Params, scenario: str, folder: str, random_rate: float | None) -> dict:
    """One scenario in its own process: the trade is rebuilt from the seed (the same list, without pickling it)."""
    return run_scenario(p, scenario, make_consignments(p, START), Path(folder), random_rate=random_rate)


def summarize(p: Params, consignments, records, releases) -> dict:
    hours, before_arrival, held = [], 0, 0
    for c in consignments:
        released = releases.get(records[c.index].declaration_id)
        if released is None:
            held += 1
            continue
        released = released.replace(tzinfo=timezone.utc) if released.tzinfo is None else released
        h = (released - START).total_seconds() / 3600 - c.arrival_h
        before_arrival += h <= c.available_h - c.arrival_h + 0.001  # released the moment the box is discharged
        hours.append(max(0.0, h))
    recs = [records[c.index] for c in consignments]
    customs = [r for r in recs if r.customs_examined]
    found = sum(r.found for r in customs)
    visits = sum(r.bay_visits for r in recs)
    examined = [r for r in recs if r.inspected_by]
    return {
        "declarations": len(consignments),
        "released": len(hours),
        "not_released": held,
        "median_hours": _q(hours, 50),
        "p90_hours": _q(hours, 90),
        "mean_hours": round(statistics.fmean(hours), 2) if hours else None,
        "released_on_discharge_share": round(before_arrival / max(len(hours), 1), 4),
        "customs_inspections": len(customs),
        "customs_inspection_rate": round(len(customs) / max(len(recs), 1), 4),
        "irregular_found": found,
        "hits_per_inspection": round(found / max(len(customs), 1), 4),
        "bay_visits": visits,
        "containers_examined": len(examined),
        "agency_examinations": sum(len(r.inspected_by) for r in recs),
        # boxes that went to the bay more than once although several agencies examined them
        "containers_moved_twice": sum(1 for r in recs if r.bay_visits > 1),
        # bay visits held as the product's joint inspection (request, every agency's yes, start, findings, lab results)
        "joint_inspections_in_product": sum(r.joint_in_product for r in recs),
        "joint_inspections_refused_by_product": sum(r.joint_refused is not None for r in recs),
        "product_refusals": sorted({r.joint_refused for r in recs if r.joint_refused})[:5],
    }


def _q(values, pct: int) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * pct / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 2)


def scratch_folder() -> str | None:
    """Where the hubs' scratch databases go: memory-backed /dev/shm when there is one (tmpfs), else the temp dir."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def compare(p: Params, folder: Path | None = None, *, parallel: bool = True) -> dict:
    """Both scenarios, each in its own process on its own hub (two cores): the coordinated port with its risk
    selection, the sequential one drawing at random the share that selection takes (estimated by the product's
    risk step on the same trade, see selection_rate)."""
    consignments = make_consignments(p, START)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="concord-sim-", dir=scratch_folder()) as tmp:
        where = Path(folder) if folder else Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        if parallel:
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            # spawn, not fork: the caller (a test run, a server) may hold threads and locks a fork would copy
            with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
                coordinated = pool.submit(_scenario_job, p, "coordinated", str(where), p.random_in_coordinated)
                sequential = pool.submit(_scenario_job, p, "sequential", str(where), None)
                coord, seq = coordinated.result(), sequential.result()
        else:
            coord = run_scenario(p, "coordinated", consignments, where, random_rate=p.random_in_coordinated)
            seq = run_scenario(p, "sequential", consignments, where, random_rate=None)
    wall = time.perf_counter() - started
    irregular = sum(c.irregular for c in consignments)
    base_rate = irregular / max(len(consignments), 1)
    ratio = (coord["hits_per_inspection"] / seq["hits_per_inspection"]) if seq["hits_per_inspection"] else None
    return {
        "parameters": {"days": p.days, "per_day": p.per_day, "seed": p.seed},
        "irregular_consignments": irregular,
        "sequential": seq,
        "coordinated": coord,
        "reduction": _reduction(seq["median_hours"], coord["median_hours"]),
        "p90_reduction": _reduction(seq["p90_hours"], coord["p90_hours"]),
        "hits_per_inspection_ratio": round(ratio, 2) if ratio is not None else None,
        # what random selection finds in expectation (the irregular share itself): steadier on a small run
        "hits_per_inspection_ratio_vs_base_rate": round(coord["hits_per_inspection"] / base_rate, 2) if base_rate else None,
        "inspections": {"sequential": {k: seq[k] for k in ("customs_inspections", "agency_examinations", "bay_visits",
                                                            "containers_moved_twice")},
                        "coordinated": {k: coord[k] for k in ("customs_inspections", "agency_examinations",
                                                               "bay_visits", "containers_moved_twice")}},
        "declarations_per_second": round(2 * len(consignments) / max(wall, 0.001), 1),
        "seconds": round(wall, 1),
        "cpu_seconds": round(seq["cpu_seconds"] + coord["cpu_seconds"], 1),
    }


def _reduction(before, after) -> float | None:
    if not before or after is None:
        return None
    return round(1 - after / before, 4)
