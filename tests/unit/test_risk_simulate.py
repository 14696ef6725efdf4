"""The human-in-the-loop simulation: budgets, exploration, revealed outcomes only, and the chart."""

import numpy as np

from concord.risk.learning.simulate import chart, select, simulate, weekly
from concord.risk.learning.synthetic import synthetic_records


def test_selection_keeps_the_budget_and_explores_outside_the_top():
    rng = np.random.default_rng(0)
    scores = np.arange(100, dtype=float)
    chosen = select(scores, 10, 0.2, rng)
    assert len(chosen) == len(set(chosen)) == 10
    assert set(range(92, 100)) <= set(chosen)  # 8 from the top of the ranking
    assert len(set(chosen) - set(range(90, 100))) == 2  # 2 drawn from the rest
    assert set(select(scores, 10, 0.0, rng)) == set(range(90, 100))


def test_weeks_run_monday_to_sunday():
    weeks = weekly(synthetic_records(300, seed=1, days=21))
    assert all(len({r.when.isocalendar()[:2] for r in w}) == 1 for w in weeks)


def test_simulation_reports_weekly_precision_and_catch_rate(tmp_path):
    records = synthetic_records(1600, seed=6, days=70)
    history, stream = records[:1000], records[1000:]
    result = simulate(history, stream, rate=0.1, explore=0.1, rounds=10)
    assert len(result["policies"]) == 2
    for policy in result["policies"].values():
        weeks = policy["weekly"]
        assert len(weeks) == result["weeks"] >= 4
        assert all(w["inspected"] == max(1, round(0.1 * w["declarations"])) for w in weeks)
        assert all(0 <= w["precision"] <= 1 and 0 <= w["share_caught"] <= 1 for w in weeks)
        assert policy["precision"] > 0.3  # base rate ~0.25: the model finds the risky lines
    chart(result, tmp_path / "sim.png")
    assert (tmp_path / "sim.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
