"""Screening figures on the benchmark data, each beside a brute-force rapidfuzz baseline run alongside.

Tuned on: name_pairs.csv and the UN positives (the only labelled sets); the negatives and the
synthetic 100,000-entry list were used for speed work only. The pairs F1 is also given under
5-fold cross-validation of the threshold, the honest figure for data not seen in tuning.
"""

import random
import resource
import sys
import time
import unicodedata
from pathlib import Path

from concord.screening.lists import Watchlist, ListedParty, entry_from_record, load_csv, read_rows
from concord.screening.matching import DEFAULT_THRESHOLD, WatchlistIndex
from concord.bench.name_pairs import brute_force, name_pairs
from concord.screening.results import ScreeningQuery

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "screening"


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def _rss_mb() -> float:
    """Resident memory now (Linux /proc), so that growth is measured even below an earlier peak."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return round(pages * resource.getpagesize() / 2**20, 1)
    except OSError:
        return _peak_rss_mb()


class _Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def as_dict(self, n: int | None = None) -> dict:
        """Wall and CPU seconds, and CPU milliseconds per query when n is given."""
        out = {"wall_s": round(self.wall, 2), "cpu_s": round(self.cpu, 2)}
        return out | ({"ms_per_query": round(1000 * self.cpu / n, 3)} if n else {})


def un_recall(index: WatchlistIndex, treated: list[dict], own: list[str], threshold: float) -> dict:
    """Share of treated rows that find their own untreated entry (own[row] is its id) at or above the threshold."""
    found = top1 = 0
    misses = []
    with _Timer() as t:
        for row, rec in enumerate(treated):
            ids = [m.entry.id for m in index.screen(ScreeningQuery.from_record(rec), threshold=threshold, limit=None)]
            if own[row] in ids:
                found += 1
                top1 += ids[0] == own[row]
            else:
                misses.append({"row": row, "query": rec["full_name"]})
    n = len(treated)
    return {"queries": n, "found": found, "recall": round(found / n, 4), "top1": round(top1 / n, 4),
            "misses": misses, "time": t.as_dict(n)}


def false_alarms(index: WatchlistIndex, rows: list[dict], threshold: float) -> dict:
    """Share of names on no list that raise at least one match."""
    flagged = []
    with _Timer() as t:
        for rec in rows:
            if matches := index.screen(ScreeningQuery.from_record(rec), threshold=threshold, limit=1):
                flagged.append({"query": rec["full_name"], "listed": matches[0].matched_name,
                                "score": round(matches[0].score, 3)})
    n = len(rows)
    return {"screened": n, "flagged": len(flagged), "rate": round(len(flagged) / n, 6), "time": t.as_dict(n),
            "examples": sorted(flagged, key=lambda f: -f["score"])[:5]}


def _script(name: str) -> str:
    """First word of the Unicode name of the first letter: LATIN, ARABIC, CJK, HANGUL, THAI..."""
    return next((unicodedata.name(c, "?").split()[0] for c in name if c.isalpha()), "?")


def synthetic_list(rows: list[dict], size: int, seed: int = 7) -> list[ListedParty]:
    """Persons recombined from the negatives: middle and last names and birth dates drawn from
    other rows of the same script, so the list has the negatives' name statistics."""
    rng = random.Random(seed)
    buckets: dict[str, list[dict]] = {}
    for r in rows:
        buckets.setdefault(_script(r["full_name"]), []).append(r)
    entries = []
    for i in range(size):
        base = rows[i % len(rows)]
        pool = buckets[_script(base["full_name"])]
        rec = {"first_name": base["first_name"], "middle_name": rng.choice(pool)["middle_name"],
               "last_name": rng.choice(pool)["last_name"], "date_of_birth": rng.choice(pool)["date_of_birth"],
               "nationality": base["nationality"]}
        entries.append(entry_from_record(rec, list_id="synthetic", owner_agency="bench", row=i))
    return entries


def _names(rows: list[dict]) -> list[str]:
    return [r["full_name"] for r in rows]


def _stage(name: str) -> None:
    sys.stderr.write(f"screening bench: {name}...\n")  # stderr, so that --json stays one clean object


def goals(f: dict) -> dict:
    """The figures the issue sets, each with its goal and whether this run meets it."""
    large = f["large_list"]
    checks = {
        "un_recall": (f["un_recall"]["recall"], ">= 0.99"),
        "false_alarm_rate": (f["false_alarms"]["rate"], "<= 0.001"),
        "name_pairs_f1": (f["name_pairs"]["at_threshold"]["f1"], ">= 0.85"),
        "name_pairs_f1_cross_validated": (f["name_pairs"]["cross_validated"]["f1"], ">= 0.85"),
        "negatives_vs_un_cpu_s": (f["false_alarms"]["time"]["cpu_s"], "< 60"),
        "negatives_vs_100k_list_cpu_s": (large["build"]["cpu_s"] + large["negatives"]["time"]["cpu_s"], "< 300"),
    }
    ops = {">=": float.__ge__, "<=": float.__le__, "<": float.__lt__}
    return {k: {"value": round(v, 6), "goal": g, "met": ops[g.split()[0]](float(v), float(g.split()[1]))}
            for k, (v, g) in checks.items()}


def run(data: Path = DATA, threshold: float = DEFAULT_THRESHOLD, negatives: int | None = None,
        large: int = 100_000, baseline_sample: int = 500) -> dict:
    """Every figure; negatives limits the false-alarm queries, large sizes the synthetic list."""
    started = time.perf_counter()
    un: Watchlist = load_csv(data / "positives_un_untreated.csv", owner_agency="UN")
    treated = read_rows(data / "positives_un_treated.csv")
    negs = read_rows(data / "negatives_global.csv") + read_rows(data / "negatives_us.csv")
    if negatives:
        negs = negs[:negatives // 2] + negs[-(negatives - negatives // 2):]
    with _Timer() as build:
        index = WatchlistIndex(un.entries, threshold=threshold)
    _stage(f"UN list, {len(treated)} treated rows, {len(negs)} negatives")
    figures = {"threshold": threshold, "un_list": {"entries": len(un.entries), "build": build.as_dict()}}
    own = [e.id for e in un.entries]
    figures["un_recall"] = un_recall(index, treated, own, threshold)
    figures["false_alarms"] = false_alarms(index, negs, threshold)
    _stage("brute-force baseline against the UN list")
    figures["baseline_un"] = brute_force(_names(treated), _names(negs), [e.name for e in un.entries])
    figures["name_pairs"] = name_pairs(data / "name_pairs.csv", threshold)
    _stage(f"synthetic list of {large} entries")
    entries = synthetic_list(negs, large) + list(un.entries)
    rss_before = _rss_mb()
    with _Timer() as build:
        big = WatchlistIndex(entries, threshold=threshold)
    figures["large_list"] = {
        "entries": len(big), "build": build.as_dict(), "index_rss_mb": round(_rss_mb() - rss_before, 1),
        "negatives": false_alarms(big, negs, threshold),
        "un_recall": un_recall(big, treated, own, threshold),
    }
    _stage("brute-force baseline against the large list (a sample, extrapolated)")
    figures["large_list"]["baseline"] = brute_force(None, _names(negs[:baseline_sample]),
                                                    [e.name for e in big.entries], extrapolate_to=len(negs))
    figures["peak_rss_mb"] = _peak_rss_mb()
    figures["total_s"] = round(time.perf_counter() - started, 1)
    figures["goals"] = goals(figures)
    return figures
