"""The history store's windows equal a brute-force count over everything recorded, through amendments."""

import random
from datetime import datetime, timedelta, timezone

from concord.risk.catalogue.history import DeclarationHistory


def doc(importer: str, hs: str) -> dict:
    return {"importer": {"id": importer}, "items": [{"hs_code": hs}]}


def test_windows_match_brute_force_with_out_of_order_lodgings_and_amendments():
    rng, start = random.Random(7), datetime(2026, 1, 1, tzinfo=timezone.utc)
    store, truth = DeclarationHistory(horizon_days=400), {}
    for n in range(1500):
        did = f"D{rng.randrange(1200)}"  # some ids recur: an amendment replaces the earlier version
        at = start + timedelta(hours=rng.randrange(24 * 40))  # lodged out of order
        hs, value = rng.choice(("610910", "090111")), round(rng.uniform(10, 5000), 2)
        store.record(doc("IM1", hs), [value], at, f"{did}/{n}")
        truth[did] = (at, hs, value)
        if n % 97 == 0:
            when = start + timedelta(hours=rng.randrange(24 * 40))
            own = rng.choice(list(truth))
            top, items = store.aggregates(doc("IM1", "610910"), when, f"{own}/9")
            for days, got in ((7, items[0]["importer_hs6_7d"]), (30, top["importer_30d"])):
                rows = [v for d, (t, h, v) in truth.items() if d != own and when - timedelta(days=days) <= t < when
                        and (days == 30 or h == "610910")]
                assert got["count"] == len(rows)
                assert abs(got["value"] - sum(rows)) < 1e-6 * max(1.0, sum(rows))
                assert got["max_value"] == (max(rows) if rows else 0.0)
