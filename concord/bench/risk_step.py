"""Risk engine benchmark: one assessment inside the pipeline (p99) and the batch rate, beside the profiles baseline.

The engine runs as the pipeline runs it: RiskStep.assess in an open session, with analysts' rules,
a watchlist of every kind and the active learned model (a stand-in LightGBM model of the same shape
when the registry has none). The baseline, measured on the same declarations in the same run, is
the configured profiles alone: the risk step before the engine existed.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings
from concord.db import Base
from concord.declarations.schemas import parse_declaration
from concord.demo.run import make_document
from concord.ids import new_id
from concord.risk.scoring.compiled import ModelSource, registry_model
from concord.risk.handlers import bump
from concord.risk.models import RiskRule, WatchlistEntry
from concord.risk.catalogue.rules import compile_rule
from concord.risk.scoring.step import RiskStep

HS = ["240220", "610910", "851712", "080390", "950300", "854143", "300490", "030617", "440349", "220710", "847130"]
ORIGINS = ["CN", "VN", "AE", "TR", "IN", "BR", "EC", "US", "MY", "BD", "TH", "KH", "NG", "PK"]
TEMPLATES = (  # the shapes analysts write; narrow, as rules that hit everything are retired
    'items.exists(i, i.hs_code.startsWith("{hs}") && i.origin == "{o}")',
    'items.exists(i, i.value_base > {v}.0 && i.hs_code.startsWith("{hs}") && i.origin == "{o}")',
    'route.from == "{o}" && transport.mode == "sea" && size(transport.containers) > 2',
    'items.exists(i, i.hs_code.startsWith("{hs}") && i.value_base / i.net_mass_kg < {x}.0)',
    'items.exists(i, i.hs_code.startsWith("{hs}") && !("N851" in i.document_types) && i.origin == "{o}")',
    'importer.country != route.entry_country && size(items) > 2 && route.from == "{o}"',
)

SPLIT_RULE = ("items.exists(i, i.history.importer_hs6_7d.count >= 2 && i.history.importer_hs6_7d.max_value < 1000.0 "
              "&& i.value_base < 1000.0)")


def _documents(count: int, seed: int) -> list[dict]:
    rng, now = random.Random(seed), FixedClock().now()
    trader = SimpleNamespace(trader_id="NL812345670", user_id="rotterdam-freight")
    return [parse_declaration(make_document(rng, now, i, trader)).model_dump(mode="json") for i in range(count)]


def _catalogues(app, rules: int, entries: int, seed: int) -> None:
    """Store `rules` analysts' rules and `entries` watchlist entries, mostly parties, containers and vessels."""
    rng, now = random.Random(seed), app.clock.now()
    with app.sessions() as s:
        for n in range(rules):
            source = rng.choice(TEMPLATES).format(hs=rng.choice(HS), o=rng.choice(ORIGINS),
                                                  v=rng.choice((20000, 50000)), x=rng.choice((1, 2, 5)))
            compile_rule(source)
            s.add(RiskRule(id=f"BENCH-{n:03d}", version=1, name=f"bench rule {n}", expression=source,
                           rationale="bench", author="bench", agency="CUS",
                           severity=rng.choice(("low", "medium", "high")),
                           lane=rng.choice(("yellow", "red")), valid_from=now - timedelta(days=1), active=True,
                           created_at=now))
        # and the risk unit's split-consignment rule, which reads the importer's recent declarations (history)
        s.add(RiskRule(id="BENCH-SPLIT", version=1, name="split consignments", expression=SPLIT_RULE,
                       rationale="bench", author="bench", agency="CUS", severity="high", lane="red",
                       valid_from=now - timedelta(days=1), active=True, created_at=now))
        # Mostly exact identifiers; a handful of broad entries (routes, goods from an origin), as agencies keep them.
        kinds = ["party"] * 400 + ["container"] * 300 + ["vessel"] * 250 + ["hs_origin"] * 49 + ["route"]
        for n in range(entries):
            kind = rng.choice(kinds)
            value = {"party": lambda: {"identifier": f"XX{n:09d}", "name": f"Trading Company {n} Ltd"},
                     "container": lambda: {"number": f"ZZZU{n:06d}0"}, "vessel": lambda: {"imo": f"IMO{1000000 + n}"},
                     "hs_origin": lambda: {"hs_prefix": f"{rng.randrange(1, 97):02d}{rng.randrange(10000):04d}",
                                           "origin": rng.choice(ORIGINS)},
                     "route": lambda: {"from": rng.choice(ORIGINS), "to": rng.choice(("NLRTM", "NLAMS", "BEANR"))}
                     }[kind]()
            s.add(WatchlistEntry(id=new_id("WLE"), agency="POL", kind=kind, value=value, reason="bench",
                                 severity=rng.choice(("medium", "high")), expires_at=now + timedelta(days=365),
                                 created_by="bench", created_at=now))
        bump(s, "rules", now)
        bump(s, "watchlists", now)
        s.commit()


class StandInModel:
    """A LightGBM model of the learned model's shape (score_records, explain), for when the registry has none."""

    version = "stand-in"

    def __init__(self, seed: int = 1, trees: int = 100):
        import lightgbm as lgb
        import numpy as np

        rng = np.random.default_rng(seed)
        x = rng.normal(size=(5000, 12))
        y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] + rng.normal(size=5000) > 1.5).astype(int)
        self.names = [f"f{i}" for i in range(12)]
        self.booster = lgb.train({"objective": "binary", "num_leaves": 31, "verbose": -1, "num_threads": 1},
                                 lgb.Dataset(x, y, feature_name=self.names), num_boost_round=trees)

    def _rows(self, records):
        import numpy as np

        return np.array([[math.log1p(r.value), math.log1p(r.net_mass), math.log1p(r.value / max(r.net_mass, 1e-3)),
                          hash(r.origin) % 97 / 97, hash(r.hs6[:2]) % 89 / 89, hash(r.importer) % 83 / 83,
                          hash(r.departure) % 79 / 79, hash(r.mode) % 7 / 7, hash(r.hs6) % 101 / 101,
                          hash(r.office) % 5 / 5, float(r.origin == r.departure), hash(r.seller) % 71 / 71]
                         for r in records])

    def score_records(self, records):
        return self.booster.predict(self._rows(records), num_threads=1)

    def explain(self, record, top: int = 5):
        contributions = self.booster.predict(self._rows([record]), pred_contrib=True, num_threads=1)[0][:-1]
        order = sorted(range(len(self.names)), key=lambda i: -abs(contributions[i]))[:top]
        return [(self.names[i], float(contributions[i])) for i in order]


def _screening(app):
    """Party screening as the pipeline wires it, if the capability is installed."""
    try:
        from concord.screening.service import PartyScreening
    except ImportError:
        return None
    return PartyScreening.from_settings(app.settings)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(fn, docs: list[dict]) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds per call: on a shared host the wall clock also counts other processes."""
    wall, cpu = [], []
    for i, doc in enumerate(docs):
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        fn(doc, i)
        cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
        wall.append((time.perf_counter_ns() - start) / 1e6)
    return wall, cpu


def _figures(timed: tuple[list[float], list[float]]) -> dict:
    wall, cpu = timed
    return {"p50_ms": round(statistics.median(wall), 3), "p99_ms": round(_percentile(wall, .99), 3),
            "max_ms": round(max(wall), 3), "cpu_p50_ms": round(statistics.median(cpu), 3),
            "cpu_p99_ms": round(_percentile(cpu, .99), 3),
            "declarations_per_s": round(len(wall) / (sum(wall) / 1000)),
            "declarations_per_cpu_s": round(len(cpu) / (sum(cpu) / 1000))}


def run(count: int = 3000, rules: int = 50, entries: int = 10000, seed: int = 1, models: Path | None = None) -> dict:
    """Measure the engine (with and without the model) and the profiles baseline on the same declarations.

    `models` is a model registry directory (default {var_dir}/models); its active model is used if it has one."""
    docs = _documents(count, seed)
    with tempfile.TemporaryDirectory() as tmp:
        app = bootstrap(Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", var_dir=Path(tmp)),
                        clock=FixedClock())
        from importlib import resources

        Base.metadata.create_all(app.engine)  # the risk tables, until their migration is generated
        app.bus.handle(LoadConfig(text=resources.files("concord.demo").joinpath("coordination.yaml").read_text()))
        _catalogues(app, rules, entries, seed)
        with app.sessions() as s:
            active = registry_model(s, models)
        model = active or StandInModel(seed)
        with_model = RiskStep(clock=app.clock, rng=random.Random(seed), models=ModelSource(load=lambda _: model),
                              screening=_screening(app))
        without = RiskStep(clock=app.clock, rng=random.Random(seed), models=ModelSource(load=lambda _: None))
        with app.sessions() as s:
            snapshot = app.directory.current(s)
            for n, step in enumerate((with_model, without)):  # compile the catalogues, seed the windows: once
                for i, doc in enumerate(docs[:200]):
                    step.assess(s, snapshot, doc, declaration_id=f"WARM{n}-{i}/1")
            baseline = _timed(lambda d, i: snapshot.profiles.assess(d, declaration_id=f"DCL{i}/1"), docs)
            # a minute between declarations, so the history rule reads a growing past (two days by the end)
            tick = app.clock.advance
            bare = _timed(lambda d, i: (tick(seconds=60), without.assess(s, snapshot, d, declaration_id=f"BARE{i}/1")),
                          docs)
            lanes = []
            full = _timed(lambda d, i: (tick(seconds=60), lanes.append(
                with_model.assess(s, snapshot, d, declaration_id=f"DCL{i}/1").lane)), docs)
            s.rollback()
        app.close()
    return {
        "declarations": count, "rules": rules + 1, "rules_reading_history": 1, "watchlist_entries": entries,
        "model": getattr(model, "version", "?"), "model_is_stand_in": active is None,
        "engine_is": "profiles, rules, watchlists, party screening, model, lane budget",
        "engine_without_model_is": "profiles, rules, watchlists (names exact), lane budget",
        "engine": _figures(full), "engine_without_model": _figures(bare), "baseline_profiles_only": _figures(baseline),
        "lane_shares": {lane: round(lanes.count(lane) / count, 4) for lane in ("green", "blue", "yellow", "red")},
        "load_average_1m": round(os.getloadavg()[0], 2), "cores": os.cpu_count(),
        "goal": "p99 of one assessment inside the pipeline < 5 ms",
    }
