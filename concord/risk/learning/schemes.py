"""A benchmark of fraud schemes: realistic declarations with documented mechanisms, split by time.

KCS rewards memory: most test rows repeat a goods line whose outcome is known. Real fraud moves:
new traders, new goods, schemes the model never saw. This generator plants the mechanisms customs
services report (WCO and EU OLAF annual reports, the EU's Customs Risk Management Framework) in an
otherwise ordinary stream of trade, with a time split where some schemes begin only after training.
Train and tune here or on KCS train/valid; never on a test split.

The trade (all drawn from one seed, so every run is identical):
- goods: 16 chapters, 4 headings (HS4) each, 4 subheadings (HS6) each; each subheading has a usual
  price per kg (log-normal around its heading's), a usual consignment mass, a duty rate, and 1 to 3
  producing countries. Siblings within a heading differ in duty (one of them is duty-free or low).
- countries: 12, three of them preferential partners (duty zero under an agreement); goods ship
  from their origin, a quarter of the time through a transit hub.
- parties: 900 established importers, each with 1 to 4 regular subheadings, one regular broker
  (declarant) and a few sellers; 60 brokers; 500 sellers. New importers keep arriving (5 % of
  declarations), almost all of them honest.
- honest noise: 3 % of ordinary declarations are irregular for reasons no feature shows (clerical
  errors found at inspection). A model cannot find them; they set the floor.

The schemes (each irregular declaration belongs to exactly one; `SCHEMES` below documents each):
undervaluation, misclassification, origin laundering, split consignments, a colluding broker, a new
ring of never-seen importers, concealment in a high-volume chapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from concord.risk.learning.datasets import RiskRecord

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
DAYS = 360
TRAIN_DAYS, VALID_DAYS = 210, 270  # train: days 0-209, valid: 210-269, test: 270-359
COUNTRIES = ("CN", "US", "DE", "JP", "KR", "IN", "TR", "BR", "VN", "MY", "CL", "MA")
PARTNERS = ("VN", "CL", "MA")  # preferential partners: zero duty for goods originating there
HUBS = ("AE", "SG", "NL")  # transit hubs goods may ship through
HIGH_VOLUME_CHAPTER = "39"  # plastics: the most declared chapter, where concealment hides
THRESHOLD = 1000.0  # declarations valued under it are cleared under a simplified procedure


@dataclass(frozen=True)
class Scheme:
    name: str
    mechanism: str  # what the fraudster does, as customs services report it
    visible_as: str  # what a declaration shows of it, if anything
    starts: int  # first day it appears
    share: float  # share of the declarations from its start on


SCHEMES = (
    Scheme("undervaluation", "goods declared at 25-55 % of their value to cut ad valorem duty and VAT",
           "value per kg far below the subheading's usual price (from the same origin)", 0, 0.025),
    Scheme("misclassification", "goods declared under a low-duty sibling subheading of the same heading",
           "a price per kg and mass typical of the true sibling, not the declared one; an importer off its usual "
           "goods", 0, 0.015),
    Scheme("origin_laundering", "goods made in a high-duty country declared as originating in a preferential "
           "partner, shipped from the true origin or through a hub", "origin a partner that rarely produces these "
           "goods; departure not the origin", 0, 0.012),
    Scheme("split_consignments", "one shipment split into many declarations just under the simplified-procedure "
           "threshold, by one importer within days", "values just under the threshold; a burst of the same "
           "importer, seller and goods", VALID_DAYS, 0.006),
    Scheme("colluding_broker", "one broker systematically under-declares mass and value for a group of clients",
           "that broker's declarations: mass and value 30-50 % low, same price per kg", 0, 0.010),
    Scheme("new_ring", "a ring of newly registered importers sharing two sellers and a new broker, each "
           "declaring a few consignments before vanishing", "first-time importers, never-seen importer-broker-"
           "seller combinations, undervalued", VALID_DAYS, 0.012),
    Scheme("concealment", "high-value goods hidden in consignments of a high-volume chapter (plastics)",
           "heavier than the value explains for the goods, from a transit hub", VALID_DAYS, 0.010),
)
SCHEME_NAMES = tuple(s.name for s in SCHEMES)
NOISE = 0.03  # ordinary declarations found irregular for reasons nothing declared shows


@dataclass
class Trade:
    """The drawn world: goods with prices and duties, parties with their habits."""

    hs6: list
    price: dict  # hs6 -> usual log price per kg
    mass: dict  # hs6 -> usual log mass
    duty: dict  # hs6 -> duty rate (%)
    producers: dict  # hs6 -> producing countries
    siblings: dict  # hs6 -> the other subheadings of its heading
    importers: list  # (id, goods, broker, sellers)


def _trade(rng) -> Trade:
    hs6, price, mass, duty, producers, siblings = [], {}, {}, {}, {}, {}
    chapters = [HIGH_VOLUME_CHAPTER] + [f"{c:02d}" for c in rng.choice(np.arange(40, 97), 15, replace=False)]
    for ch in chapters:
        for h in range(4):
            heading = f"{ch}{rng.integers(10, 99):02d}"
            base = rng.normal(2.5, 1.5)
            codes = list(dict.fromkeys(f"{heading}{s:02d}" for s in rng.choice(np.arange(10, 99), 4, replace=False)))
            rates = rng.choice([0.0, 3.0, 6.5, 8.0, 12.0, 20.0], len(codes))
            rates[rng.integers(len(codes))] = rng.choice([0.0, 3.0])  # one low-duty sibling in every heading
            for code, rate in zip(codes, rates):
                hs6.append(code)
                price[code] = base + rng.normal(0, 0.9)
                mass[code] = rng.normal(6.0, 1.3)
                duty[code] = float(rate)
                producers[code] = list(rng.choice([c for c in COUNTRIES if c not in PARTNERS], rng.integers(1, 4),
                                                  replace=False))
                if rng.random() < 0.3:  # some goods are genuinely made in a partner country
                    producers[code].append(str(rng.choice(PARTNERS)))
            for code in codes:
                siblings[code] = [c for c in codes if c != code]
    weights = np.where([c.startswith(HIGH_VOLUME_CHAPTER) for c in hs6], 6.0, 1.0)
    weights /= weights.sum()
    importers = []
    for i in range(900):
        goods = list(rng.choice(hs6, rng.integers(1, 5), replace=False, p=weights))
        importers.append((f"IM{i:05d}", goods, f"BR{rng.integers(60):03d}",
                          [f"SE{s:04d}" for s in rng.integers(500, size=rng.integers(1, 4))]))
    return Trade(hs6, price, mass, duty, producers, siblings, importers)


def _declaration(rng, trade: Trade, i: int, day: int, importer, hs6: str) -> dict:
    """An honest declaration of `hs6` by an importer: usual price and mass with ordinary spread."""
    iid, _, broker, sellers = importer
    origin = str(rng.choice(trade.producers[hs6]))
    departure = str(rng.choice(HUBS)) if rng.random() < 0.25 else origin
    log_mass = trade.mass[hs6] + rng.normal(0, 0.8)
    log_price = trade.price[hs6] + rng.normal(0, 0.25) + (0.15 if origin in ("DE", "JP", "US") else 0.0)
    mass = float(np.round(np.exp(log_mass), 1)) + 0.1
    return {"declaration_id": f"SB{i:07d}", "day": day, "importer": iid, "declarant": broker,
            "seller": str(rng.choice(sellers)), "hs6": hs6, "origin": origin, "departure": departure,
            "mode": "sea" if mass > 500 else str(rng.choice(["air", "road", "sea"])),
            "net_mass": mass, "value": float(np.round(mass * np.exp(log_price), 2)),
            "tax_rate": 0.0 if origin in PARTNERS else trade.duty[hs6], "scheme": None}


def _commit(rng, trade: Trade, d: dict, scheme: str, state: dict) -> list[dict]:
    """Turn an honest declaration into one (or several) irregular ones, the way `scheme` does it."""
    h = d["hs6"]
    if scheme == "undervaluation":
        d["value"] = round(d["value"] * rng.uniform(0.25, 0.55), 2)
    elif scheme == "misclassification":
        low = min(trade.siblings[h], key=lambda c: trade.duty[c])
        if trade.duty[low] >= trade.duty[h]:  # already the cheapest: declare it as the sibling anyway
            low = trade.siblings[h][0]
        d["hs6"], d["tax_rate"] = low, 0.0 if d["origin"] in PARTNERS else trade.duty[low]
    elif scheme == "origin_laundering":
        true = d["origin"] if d["origin"] not in PARTNERS else "CN"
        d["origin"], d["departure"], d["tax_rate"] = str(rng.choice(PARTNERS)), \
            (true if rng.random() < 0.6 else str(rng.choice(HUBS))), 0.0
    elif scheme == "split_consignments":
        parts = int(rng.integers(3, 7))
        out = []
        for k in range(parts):
            part = dict(d, declaration_id=f"{d['declaration_id']}-{k}", day=min(d["day"] + int(rng.integers(0, 4)),
                                                                                DAYS - 1))
            part["value"] = round(float(rng.uniform(0.82, 0.99)) * THRESHOLD, 2)
            part["net_mass"] = round(part["value"] / np.exp(trade.price[h]) * rng.uniform(0.8, 1.2), 1) + 0.1
            part["scheme"] = scheme
            out.append(part)
        return out
    elif scheme == "colluding_broker":
        d["declarant"] = state["broker"]
        f = rng.uniform(0.5, 0.7)
        d["net_mass"], d["value"] = round(d["net_mass"] * f, 1) + 0.1, round(d["value"] * f, 2)
    elif scheme == "new_ring":
        k = int(rng.integers(0, 10 ** 6))
        d["importer"] = f"IMR{k:06d}"
        d["declarant"] = state["ring_broker"]
        d["seller"] = str(rng.choice(state["ring_sellers"]))
        d["value"] = round(d["value"] * rng.uniform(0.4, 0.7), 2)
    elif scheme == "concealment":
        d["hs6"] = str(rng.choice([c for c in trade.hs6 if c.startswith(HIGH_VOLUME_CHAPTER)]))
        d["tax_rate"] = 0.0 if d["origin"] in PARTNERS else trade.duty[d["hs6"]]
        usual = np.exp(trade.mass[d["hs6"]] + rng.normal(0, 0.8))
        d["net_mass"] = round(float(usual * rng.uniform(1.8, 3.0)), 1) + 0.1  # the hidden goods weigh
        d["value"] = round(float(usual * np.exp(trade.price[d["hs6"]] + rng.normal(0, 0.25))), 2)
        d["departure"] = str(rng.choice(HUBS))
    d["scheme"] = scheme
    return [d]


def scheme_records(n: int = 30_000, seed: int = 0) -> tuple[list[RiskRecord], dict[str, str | None]]:
    """The benchmark's declarations, time-ordered and labelled, and each declaration's scheme
    (None when honest, "noise" for an irregularity nothing declared shows)."""
    rng = np.random.default_rng(seed)
    trade = _trade(rng)
    state = {"broker": "BR007", "ring_broker": "BR900", "ring_sellers": ["SE9001", "SE9002"]}
    rows: list[dict] = []
    days = np.sort(rng.integers(DAYS, size=n))
    newcomers = 0
    for i, day in enumerate(days):
        if rng.random() < 0.05:  # a new, honest importer
            newcomers += 1
            goods = str(rng.choice(trade.hs6))
            importer = (f"IMN{newcomers:05d}", [goods], f"BR{rng.integers(60):03d}",
                        [f"SE{rng.integers(500):04d}"])
        else:
            importer = trade.importers[rng.integers(len(trade.importers))]
        hs6 = str(rng.choice(importer[1]))
        d = _declaration(rng, trade, i, int(day), importer, hs6)
        active = [s for s in SCHEMES if day >= s.starts]
        u, acc, chosen = rng.random(), 0.0, None
        for s in active:
            acc += s.share
            if u < acc:
                chosen = s.name
                break
        if chosen is not None:
            rows.extend(_commit(rng, trade, d, chosen, state))
        else:
            d["fraud"] = int(rng.random() < NOISE)
            if d["fraud"]:
                d["scheme"] = "noise"
            rows.append(d)
    rows.sort(key=lambda r: (r["day"], r["declaration_id"]))
    return [_record(r) for r in rows], {r["declaration_id"]: r["scheme"] for r in rows}


def _record(d: dict) -> RiskRecord:
    fraud = int(d.get("fraud", d["scheme"] is not None))
    return RiskRecord(declaration_id=d["declaration_id"], when=START + timedelta(days=d["day"]),
                   office="OF1" if d["mode"] == "sea" else "OF2", declarant=d["declarant"], importer=d["importer"],
                   seller=d["seller"], hs6=d["hs6"], origin=d["origin"], departure=d["departure"], mode=d["mode"],
                   net_mass=d["net_mass"], value=d["value"], tax_rate=d["tax_rate"], fraud=fraud,
                   critical=int(fraud and d["scheme"] in ("concealment", "new_ring")))


def split(records) -> tuple[list, list, list]:
    """Train (days 0-209), valid (210-269), test (270-359): three schemes begin only in valid and test."""
    t, v = (START + timedelta(days=TRAIN_DAYS)).timestamp(), (START + timedelta(days=VALID_DAYS)).timestamp()
    return ([r for r in records if r.ts < t], [r for r in records if t <= r.ts < v],
            [r for r in records if r.ts >= v])
