"""The consignments both scenarios share: vessel calls, traders, goods, and which consignments are irregular."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from concord.demo.catalog import CATALOG, container_number, exporter, imo_number
from concord.simulation.params import Params

GOODS = [g for g in CATALOG if "sea" in g.modes]


@dataclass(frozen=True)
class Trader:
    user_id: str
    trader_id: str
    name: str
    risky: bool
    watchlisted: bool  # what intelligence believes, right or wrong


@dataclass
class Consignment:
    index: int
    trader: Trader
    arrival_h: float  # hours after the start: the vessel berths (the TRS's arrival)
    available_h: float  # the box is discharged and presented to customs
    irregular: bool  # the truth, known only to the simulation
    document: dict  # the declaration as the trader's system sends it (arrival filled in per scenario)


# Distinct company names: numbered ones ("Port Trader 0101 BV") all scored 0.82 against every listed trader, so
# the product's party screening reported seven near-matches on each declaration, which no real port's trade does.
# No two of the first 480 names score 0.6 against each other (checked with concord.screening's own matching).
STEMS = ("Maasland", "Brinkhorst", "Vlietstra", "Oostergo", "Havenkamp", "Dekkerswald", "Zeevang", "Terpstra",
         "Lindeboom", "Rijnmond", "Kornwerd", "Ambacht", "Scheldeveld", "Veenhuis", "Waalkade", "Dordtmund",
         "Molenaar", "Hellevoet", "Botlek", "Pernis", "Oudeland", "Schiedam", "Vondelhof", "Kralingen", "Ijsselmonde",
         "Wijnhaven", "Noordereiland", "Charlois", "Hoogvliet", "Rozenburg", "Brielle", "Spijkenisse", "Barendrecht",
         "Ridderkerk", "Capelle", "Overschie", "Delfshaven", "Kethel", "Vreewijk", "Heijplaat")
TRADES = ("Logistics", "Trading", "Import", "Foods", "Textiles", "Machinery", "Agri", "Chemicals", "Electronics",
          "Timber", "Fresh", "Metals")
LEGAL_FORMS = ("BV", "NV", "GmbH", "Ltd", "SA", "BV")


def trader_name(i: int) -> str:
    """The i-th trader's company name, unique for any population size."""
    name = f"{STEMS[i % len(STEMS)]} {TRADES[(i // len(STEMS) + i) % len(TRADES)]} {LEGAL_FORMS[i % len(LEGAL_FORMS)]}"
    return name if i < len(STEMS) * len(TRADES) else f"{name} {i // (len(STEMS) * len(TRADES)) + 1}"


def make_traders(p: Params, rng: random.Random) -> list[Trader]:
    """The population: a few risky traders, a share of them known, and some compliant ones wrongly listed."""
    n_risky = max(1, round(p.trader_count() * p.risky_trader_share))
    n_known = round(n_risky * p.known_risky_share)
    n_false = round(n_known * p.false_flags_per_known)
    traders = []
    for i in range(p.trader_count()):
        risky = i < n_risky
        watchlisted = i < n_known or n_risky <= i < n_risky + n_false
        traders.append(Trader(f"trader-{i:04d}", f"NL{700000000 + i * 7919 % 100000000:09d}",
                              trader_name(i), risky, watchlisted))
    return traders


def make_consignments(p: Params, start: datetime) -> list[Consignment]:
    """Vessel calls over the days, each bringing consignments; the same list feeds both scenarios."""
    rng = random.Random(p.seed)
    traders = make_traders(p, rng)
    risky = [t for t in traders if t.risky]
    compliant = [t for t in traders if not t.risky]
    # Compliant traders' irregular rate such that the whole trade has `irregular_share` irregular consignments.
    compliant_rate = max(0.0, (p.irregular_share - p.risky_volume_share * p.risky_irregular_rate)
                         / (1 - p.risky_volume_share))
    total = p.days * p.per_day
    calls = max(1, round(p.days * p.vessel_calls_per_day))
    berths = sorted(rng.uniform(0, p.days * 24) for _ in range(calls))
    vessels = [imo_number(rng) for _ in range(calls)]
    out = []
    for i in range(total):
        call = rng.randrange(calls)
        available_h = berths[call] + rng.uniform(*p.discharge_hours)
        is_risky = rng.random() < p.risky_volume_share
        trader = rng.choice(risky if is_risky else compliant)
        irregular = rng.random() < (p.risky_irregular_rate if is_risky else compliant_rate)
        doc = _document(rng, p, i, trader, vessels[call])
        out.append(Consignment(i, trader, berths[call], available_h, irregular, doc))
    out.sort(key=lambda c: (c.arrival_h, c.index))
    return out


def _document(rng: random.Random, p: Params, i: int, trader: Trader, vessel: str) -> dict:
    goods = rng.choice(GOODS)
    quantity = rng.choice((100, 500, 1000, 5000, 20000)) if goods.unit in ("KGM", "NAR", "PR") else rng.randint(5, 60)
    if goods.eur_per_unit > 10000:
        quantity = rng.randint(1, 12)
    docs = [{"type": t, "reference": f"{t}-{rng.randrange(10**7):07d}"} for t in goods.documents
            if not (t == "N851" and rng.random() < p.missing_certificate_share)]
    origin = rng.choice(goods.origins)
    party = {"id": trader.trader_id, "name": trader.name, "country": "NL", "address": "Waalhaven Zuidzijde 21, Rotterdam"}
    item = {"hs_code": goods.hs_code, "description": goods.description, "origin": origin,
            "quantity": str(quantity), "unit": goods.unit,
            "net_mass_kg": str(max(1, round(quantity * goods.kg_per_unit, 2))),
            "value": {"amount": str(round(max(1.0, quantity * goods.eur_per_unit), 2)), "currency": "EUR"},
            "documents": docs}
    return {"lrn": f"SIM-{i:07d}", "type": "IM", "declarant": party, "importer": party,
            "exporter": exporter(origin, goods), "office_of_entry": "NLRTM",
            "transport": {"mode": "sea", "conveyance": vessel, "containers": [container_number(rng)]},
            "items": [item]}
