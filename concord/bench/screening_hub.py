"""Screening inside the hub: time per declaration (3 parties) through PartyScreening, beside the bare index.

`concord bench screening-hub [--json] [--synthetic 100000] [--declarations 2000]`
The baseline is the same three queries against the same WatchlistIndex, with no database, cache or decisions.
"""

import statistics
import tempfile
import time
from pathlib import Path

from concord.bench.screening import DATA, synthetic_list
from concord.screening.lists import read_rows
from concord.screening.service import PARTIES, party_query


def _hub(tmp: Path):
    from concord.access.identity import SYSTEM
    from concord.agencies.messages import LoadConfig
    from concord.bootstrap import bootstrap
    from concord.config import Settings
    from concord.db import Base
    from importlib import resources

    hub = bootstrap(Settings(database_url=f"sqlite:///{tmp / 'hub.db'}", var_dir=tmp))
    hub.bus.handle(LoadConfig(text=resources.files("concord.demo").joinpath("coordination.yaml").read_text()))
    Base.metadata.create_all(hub.engine)
    return hub, SYSTEM


def _load(hub, who, name: str, owner: str, sharing: str, records: list[dict]) -> dict:
    from concord.screening.messages import LoadScreeningList

    t = time.perf_counter()
    out = hub.bus.handle(LoadScreeningList(name=name, owner_agency=owner, sharing=sharing, records=records),
                         subject=who)
    return {"entries": out["entries"], "version": out["version"], "changed": out["changed"],
            "store_s": round(time.perf_counter() - t, 3)}


def _declarations(rows: list[dict], positives: list[dict], n: int) -> list[dict]:
    docs = []
    for i in range(n):
        parties = {role: {"id": f"X{i:06d}{j}", "name": rows[(3 * i + j) % len(rows)]["full_name"],
                          "country": rows[(3 * i + j) % len(rows)]["nationality"]} for j, role in enumerate(PARTIES)}
        if i % 20 == 0:  # one in twenty ships for a listed exporter (UN "treated" spelling): the match path
            p = positives[i % len(positives)]
            parties["exporter"] = {"id": f"P{i:06d}", "name": p["full_name"], "country": p["nationality"]}
        docs.append(parties)
    return docs


def _ms(samples: list[tuple[float, float]]) -> dict:
    """p50, p99 and mean of wall and CPU (this thread) milliseconds; CPU is the figure on a busy machine."""
    out = {}
    for i, kind in enumerate(("wall", "cpu")):
        xs = sorted(x[i] for x in samples)
        out |= {f"{kind}_p50_ms": round(1000 * statistics.median(xs), 3),
                f"{kind}_p99_ms": round(1000 * xs[int(0.99 * (len(xs) - 1))], 3),
                f"{kind}_mean_ms": round(1000 * statistics.fmean(xs), 3)}
    return out


class _Clock:
    """Wall and thread CPU time of one declaration."""

    def __enter__(self):
        self.t = (time.perf_counter(), time.thread_time())
        return self

    def __exit__(self, *exc):
        self.took = (time.perf_counter() - self.t[0], time.thread_time() - self.t[1])


def _forget() -> None:
    """Empty the name and country caches, so that a cold pass pays for normalization like the baseline."""
    from concord.screening.normalize import normalize_name
    from concord.screening.qualifiers import country_code

    normalize_name.cache_clear()
    country_code.cache_clear()


def run(data: Path = DATA, synthetic: int = 0, declarations: int = 2000) -> dict:
    """Figures for screening declarations' parties in a hub with the UN list (and a synthetic list)."""
    negatives = read_rows(data / "negatives_global.csv")
    untreated, treated = read_rows(data / "positives_un_untreated.csv"), read_rows(data / "positives_un_treated.csv")
    out: dict = {"declarations": declarations, "parties_per_declaration": 3}
    with tempfile.TemporaryDirectory() as tmp:
        hub, admin = _hub(Path(tmp))
        screening = hub.bus.deps["screening"]
        un = [r | {"id": f"UN{i}"} for i, r in enumerate(untreated)]
        out["load_un"] = _load(hub, admin, "UN consolidated", "CUS", "full", un)
        if synthetic:
            people = synthetic_list(negatives, synthetic)
            rows = [{"id": f"S{i}", "full_name": e.name, "date_of_birth": ";".join(e.birth_dates),
                     "nationality": ";".join(e.nationalities)} for i, e in enumerate(people)]
            out["load_synthetic"] = _load(hub, admin, "Synthetic", "POL", "hit_no_hit", rows)
        docs = _declarations(negatives[-20000:], treated, declarations)
        with hub.sessions() as s:
            t = time.perf_counter()
            screening.refresh(s)
            out["index_build_s"] = round(time.perf_counter() - t, 3)
            out["indexed_entries"] = len(screening.index)
            screening.ttl = 1.0
            # cold: every name new to the cache; warm: the last 1,000 declarations again (3,000 names, cached)
            for label, batch in (("cold", docs), ("warm", docs[-1000:])):
                if label == "cold":
                    _forget()
                times, raised = [], 0
                for doc in batch:
                    with _Clock() as c:
                        raised += len(screening.screen_parties(s, doc))
                    times.append(c.took)
                out[f"hub_{label}"] = _ms(times) | {"reasons": raised}
            base = []
            _forget()
            for doc in docs:
                with _Clock() as c:
                    for role in PARTIES:
                        screening.index.screen(party_query(doc[role]), threshold=screening.threshold)
                base.append(c.took)
            out["baseline_bare_index"] = _ms(base)
            t, checks = time.perf_counter(), 200
            for _ in range(checks):
                screening.invalidate()
                screening.refresh(s)
            out["version_check_ms"] = round(1000 * (time.perf_counter() - t) / checks, 3)
        one_changed = [dict(r) for r in un]
        one_changed[0]["date_of_birth"] = "1901"
        out["reload_un_one_changed"] = _load(hub, admin, "UN consolidated", "CUS", "full", one_changed)
        with hub.sessions() as s:
            t = time.perf_counter()
            screening.invalidate()
            screening.refresh(s)
            out["reload_un_one_changed"]["index_update_ms"] = round(1000 * (time.perf_counter() - t), 3)
        hub.close()
    return out
