"""`concord bench risk`: declarations scored per second in batch and p99 latency of one assessment.

Each figure stands beside a baseline measured in the same run: raw LightGBM Booster.predict on
a prebuilt numpy matrix of the same rows, i.e. the model alone without features or history.
"""

import os
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np

from concord.config import set_process_environment


def _one_core() -> str:
    """Pin this process to one CPU and OpenMP to one thread: the goal is stated for one core.

    OpenMP reads its thread count when LightGBM loads, so this must run before that import;
    with two OpenMP threads on a shared host, single predictions wait for the second thread.
    """
    if "lightgbm" not in sys.modules:
        set_process_environment(OMP_NUM_THREADS="1")
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "not pinned"

GOALS = {"declarations_per_s": 20_000, "p99_ms": 5.0}


STAND_IN = "synthetic, 30,000 goods items over 180 days (bench risk's stand-in for KCS)"


def _load(data: Path | None):
    from concord.risk.learning.datasets import load_kcs
    from concord.risk.learning.synthetic import synthetic_records

    if data is not None and (data / "train.csv").exists():
        return "kcs", load_kcs(data / "train.csv"), load_kcs(data / "valid.csv"), load_kcs(data / "test.csv")
    records = synthetic_records(30_000, seed=7, days=180)  # the KCS files are absent: same shape, planted risk
    a, b = int(len(records) * 0.7), int(len(records) * 0.85)
    return "synthetic", records[:a], records[a:b], records[b:]


def activate_stand_in(var_dir: Path) -> None:
    """Train the model on STAND_IN and make it the active one of the hub in `var_dir` (bench http --model)."""
    from concord.config import Settings
    from concord.risk.learning.registry import ModelRegistry

    _, train, valid, _ = _load(None)
    model = _model(None, train, valid)
    ModelRegistry(Settings(var_dir=var_dir).models_dir()).register(model.to_bytes(), model.info)


def _model(models: Path | None, train, valid):
    from concord.risk.learning.history import HistoryProfiles
    from concord.risk.learning.model import fit
    from concord.risk.learning.registry import load_model

    if models is not None:
        return load_model(models)
    return fit(train, valid, HistoryProfiles().observe(train + valid), params={"num_threads": 1})


def _best_rate(fn, n: int, repeats: int = 3) -> tuple[float, float]:
    """Items per second, best of `repeats`, by the wall clock and by this process's CPU time."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
    return n / wall, n / max(cpu, 1e-9)


def _latencies_ms(fn, items) -> np.ndarray:
    out = np.empty(len(items))
    for i, item in enumerate(items):
        started = time.perf_counter()
        fn(item)
        out[i] = (time.perf_counter() - started) * 1000
    return out


def run(models: Path | None = None, data: Path | None = Path("../shared/data/kcs"), singles: int = 2000) -> dict:
    """Measure the batch scoring rate and single-assessment latency, with the raw-predict baseline."""
    pinned = _one_core()
    source, train, valid, test = _load(data)
    model = _model(models, train, valid)
    batch = [replace(r, fraud=None, critical=None, revenue=None) for r in test]
    x = model.features(batch)  # the baseline's prebuilt matrix
    booster = model.booster

    model.score_records(batch[:10])  # warm-up: merges the history loaded above into its sorted arrays
    scored, scored_cpu = _best_rate(lambda: model.score_records(batch), len(batch))
    raw, raw_cpu = _best_rate(lambda: booster.predict(x, num_threads=1), len(batch))

    rng = np.random.default_rng(0)
    picks = rng.integers(len(batch), size=singles)
    model.score_records([batch[0]])  # warm-up: first-call allocations are not what we measure
    one = _latencies_ms(lambda i: model.score_records([batch[i]]), picks)
    explained = _latencies_ms(lambda i: model.assess([batch[i]])[2].explain(), picks[:500])  # a selected one's
    raw_one = _latencies_ms(lambda i: booster.predict(x[i:i + 1], num_threads=1), picks)
    sent = model.routed(batch)  # goods lines without a known outcome: scored by the new-line booster
    new_one = one[sent[picks]]
    result = {
        "data": source, "model": {"version": model.version, "trees": booster.num_trees(),
                                  "features": booster.num_feature()},
        "batch": {"declarations": len(batch), "declarations_per_s": round(scored),
                  "declarations_per_cpu_s": round(scored_cpu), "baseline_raw_predict_per_s": round(raw),
                  "baseline_raw_predict_per_cpu_s": round(raw_cpu), "goal": GOALS["declarations_per_s"],
                  "meets_goal": scored >= GOALS["declarations_per_s"]},
        "single": {"p50_ms": round(float(np.percentile(one, 50)), 3), "p99_ms": round(float(np.percentile(one, 99)), 3),
                   "p99_ms_with_explanation": round(float(np.percentile(explained, 99)), 3),
                   "baseline_raw_predict_p99_ms": round(float(np.percentile(raw_one, 99)), 3),
                   "new_lines": {"share_of_batch": round(float(sent.mean()), 4), "singles": int(len(new_one)),
                                 "p99_ms": round(float(np.percentile(new_one, 99)), 3) if len(new_one) else None},
                   "goal_p99_ms": GOALS["p99_ms"], "meets_goal": float(np.percentile(one, 99)) < GOALS["p99_ms"]},
        "group_commit": _groups(model, batch),
        "live_declarations": _live(model, batch, picks),
        "core": pinned, "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    return result


def _groups(model, batch, items: int = 3, declarations: int = 960) -> dict:
    """CPU per declaration (of `items` goods items) assessed one call each, as a lone lodging is, and a group
    commit's at a time in one call (`assess_many`, the server's path), groups of 8 and 32; best of three."""
    decls = [batch[i:i + items] for i in range(0, min(len(batch), items * declarations), items)]
    out = {"goods_items_per_declaration": items, "declarations": len(decls)}
    for size in (1, 8, 32):
        def assess_all(size=size):
            for k in range(0, len(decls), size):
                model.assess_many(decls[k:k + size])
        out[f"cpu_ms_per_declaration_groups_of_{size}"] = round(1000 / _best_rate(assess_all, len(decls))[1], 3)
    return out


def _live(model, batch, picks, chunk: int = 1000, passes: int = 4, exact_days: float = 7.0) -> dict:
    """The test split fed to the live model as lodged declarations (hub.DeclarationFeed's call) `passes` times, each
    pass a quarter later, `chunk` goods items at a time in time order (a second of an EU-size peak), then one
    assessment: the feed's cost per item, its longest call (a base merge; outside the model's lock, which the
    assessment waits for only while the merged arrays are swapped in), that assessment's longest time, and the
    memory the history grows by, with events older than `exact_days` folded (the server's default) and, as the
    baseline, all kept."""
    from concord.risk.learning.model import RiskModel

    order = sorted(batch, key=lambda r: r.ts)
    span = order[-1].when - order[0].when + timedelta(days=1)
    stream = [replace(r, when=r.when + k * span) for k in range(passes) for r in order]
    out = {"goods_items": len(stream), "chunk": chunk, "exact_days": exact_days}
    for name, fold in (("folded", exact_days * 86400), ("kept", None)):
        live = RiskModel.from_bytes(model.to_bytes())
        live.score_records([batch[0]])
        held, fed, waits = live.profiles.nbytes, [], []
        for i in range(0, len(stream), chunk):
            part = stream[i:i + chunk]
            started = time.perf_counter()
            live.record_declarations(part, None if fold is None else part[-1].ts - fold)
            fed.append(time.perf_counter() - started)
            started = time.perf_counter()
            live.score_records([batch[picks[(i // chunk) % len(picks)]]])
            waits.append((time.perf_counter() - started) * 1000)
        out[name] = {"feed_us_per_item": round(sum(fed) / len(stream) * 1e6, 1),
                     "longest_feed_ms": round(max(fed) * 1000, 2),
                     "assessment_max_ms": round(max(waits), 3),
                     "history_growth_bytes_per_item": round((live.profiles.nbytes - held) / len(stream)),
                     "history_mb": round(live.profiles.nbytes / 2**20, 1)}
    return out
