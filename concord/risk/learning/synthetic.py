"""Synthetic declarations with planted risk, for tests and for benchmarks where the KCS files are absent."""

from datetime import datetime, timedelta, timezone

import numpy as np

from concord.risk.learning.datasets import RiskRecord


def synthetic_records(n: int = 2000, seed: int = 0, days: int = 120, start: datetime | None = None) -> list[RiskRecord]:
    """Declarations over `days` days: repeated goods lines, some of them fraudulent, and noisy parties."""
    rng = np.random.default_rng(seed)
    start = start or datetime(2024, 1, 1, tzinfo=timezone.utc)
    hs = [f"{h:06d}" for h in rng.integers(10_000, 970_000, 60)]
    countries = ["CN", "US", "DE", "JP", "VN", "IT", "FR", "TR"]
    # goods lines: the same goods (hs, origin, mass, value) recur; a risky line is usually irregular
    lines = [(hs[rng.integers(len(hs))], countries[rng.integers(len(countries))],
              float(round(rng.lognormal(3, 1.5), 1)), float(round(rng.lognormal(8, 2), 2)), rng.random() < 0.25)
             for _ in range(n // 4)]
    records = []
    for i in range(n):
        h, origin, mass, value, risky = lines[rng.integers(len(lines))]
        fraud = int(rng.random() < (0.85 if risky else 0.06))
        records.append(RiskRecord(
            declaration_id=f"S{i:07d}", when=start + timedelta(days=int(rng.integers(days))),
            office=f"O{rng.integers(5)}", declarant=f"D{rng.integers(40)}", importer=f"I{rng.integers(400)}",
            seller=f"S{rng.integers(300)}" if rng.random() < 0.9 else None, courier=None, hs6=h,
            origin=origin, departure=origin if rng.random() < 0.8 else countries[rng.integers(len(countries))],
            mode=["sea", "air", "road"][rng.integers(3)], net_mass=mass, value=value,
            tax_rate=float(rng.choice([0.0, 3.0, 8.0])), tax_type="A", import_type="11", payment_type="11",
            fraud=fraud, critical=int(fraud and rng.random() < 0.1)))
    records.sort(key=lambda r: r.ts)
    return records
