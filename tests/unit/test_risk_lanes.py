"""The lane budget: target rates hold on a stream, forced lanes win, a random share is selected and marked."""

import random
from collections import Counter

from concord.risk.scoring.lanes import LaneBudget, LanePolicy, Window, floor_of

TARGETS = {"red": 0.05, "yellow": 0.10, "blue": 0.02}


def stream(n: int, seed: int, *, drift=0.0, forced_share=0.0, exploration=0.0, window=2000, offices=("NLRTM",)):
    """Run n declarations through a budget; returns per office the lanes after the first window, and the decisions."""
    rng = random.Random(seed)
    budget = LaneBudget(random.Random(seed + 1))
    policy = LanePolicy(dict(TARGETS), exploration=exploration, window=window)
    lanes, decisions = {o: Counter() for o in offices}, []
    for i in range(n):
        office = offices[i % len(offices)]
        score = rng.betavariate(2, 5) + drift * i / n  # the trade (or the model) drifts: a fixed cut-off would not hold
        forced = "red" if rng.random() < forced_share else None
        d = budget.decide(office, score, forced, policy)
        decisions.append((forced, d))
        if i >= window * len(offices):
            lanes[office][d.lane] += 1
    return {o: {lane: c / sum(lanes[o].values()) for lane, c in lanes[o].items()} for o in offices}, decisions


def assert_near(shares: dict, tolerance: float) -> None:
    for lane, target in TARGETS.items():
        assert abs(shares.get(lane, 0.0) - target) <= tolerance, (lane, shares)


def test_target_rates_hold_on_a_stationary_stream():
    shares, _ = stream(30_000, seed=1)
    assert_near(shares["NLRTM"], 0.005)


def test_target_rates_hold_while_scores_drift():
    shares, _ = stream(30_000, seed=2, drift=0.5)
    assert_near(shares["NLRTM"], 0.005)


def test_forced_lanes_and_random_draws_count_against_the_same_budget():
    shares, decisions = stream(30_000, seed=3, forced_share=0.02, exploration=0.01)
    assert_near(shares["NLRTM"], 0.005)
    assert all(d.lane == "red" for forced, d in decisions if forced == "red")


def test_without_a_score_only_forced_hits_and_random_draws_select():
    budget, policy = LaneBudget(random.Random(0)), LanePolicy(dict(TARGETS), exploration=0)
    assert {budget.decide("NLRTM", None, None, policy).lane for _ in range(200)} == {"green"}
    assert budget.decide("NLRTM", None, "yellow", policy).lane == "yellow"


def test_forced_lane_wins_over_a_closed_budget():
    budget, policy = LaneBudget(random.Random(0)), LanePolicy({"red": 0.0, "yellow": 0.0, "blue": 0.0}, exploration=0)
    for _ in range(50):
        assert budget.decide("NLRTM", 0.99, None, policy).lane == "green"
    assert budget.decide("NLRTM", 0.0, "red", policy).lane == "red"


def test_exploration_share_is_selected_at_random_and_marked():
    _, decisions = stream(20_000, seed=4, exploration=0.01)
    drawn = [d for _, d in decisions if d.random]
    assert 0.008 < len(drawn) / len(decisions) < 0.012
    assert all(d.lane in ("yellow", "red") for d in drawn)
    # Drawn whatever the score: the draws' scores look like everyone's, which is what the model needs to learn.
    assert sum(d.by_score == "green" for d in drawn) / len(drawn) > 0.7


def test_each_office_keeps_its_own_window_and_targets():
    budget, rng = LaneBudget(random.Random(0)), random.Random(5)
    busy, strict = LanePolicy({"red": 0.05}, exploration=0, window=1000), LanePolicy({"red": 0.20}, exploration=0,
                                                                                     window=1000)
    counts = Counter()
    for i in range(20_000):
        office, policy = ("NLRTM", busy) if i % 2 else ("NLAMS", strict)
        lane = budget.decide(office, rng.random(), None, policy).lane
        if i > 4000:
            counts[(office, lane)] += 1
    assert abs(counts[("NLRTM", "red")] / 7999.5 - 0.05) < 0.01
    assert abs(counts[("NLAMS", "red")] / 7999.5 - 0.20) < 0.02


def test_a_new_model_version_starts_a_new_window_and_the_same_seed_repeats_the_same_lanes():
    budget, policy = LaneBudget(random.Random(0)), LanePolicy(dict(TARGETS))
    for s in range(100):
        budget.decide("NLRTM", s / 100, None, policy, scale="model-1")
    assert len(budget.window("NLRTM", policy, "model-1")) == 100
    assert len(budget.window("NLRTM", policy, "model-2")) == 0
    first = [d.lane for _, d in stream(3000, seed=9, exploration=0.05)[1]]
    assert first == [d.lane for _, d in stream(3000, seed=9, exploration=0.05)[1]]


def test_window_evicts_in_order_and_thresholds_follow():
    w = Window(4)
    for score in (0.1, 0.2, 0.3, 0.4, 0.5):
        w.add(score, 0, 3 if score >= 0.5 else 0)
    assert [e[0] for e in w.entries] == [0.2, 0.3, 0.4, 0.5] and w.below["red"] == [0.2, 0.3, 0.4, 0.5]
    assert w.threshold("red", 0.25) == 0.4  # one in four, and one in four was selected: above the second highest
    for score in (0.6, 0.05, 0.05, 0.05):  # the selected one leaves: a window that selected too few opens wider,
        w.add(score, 0, 0)
    assert w.threshold("red", 0.25) == 0.05  # to at most twice the target: the top two


def test_floor_of_a_stored_assessment():
    assert floor_of({"reasons": [{"kind": "rule", "lane": "red", "forced": True}]}) == 3
    assert floor_of({"reasons": [{"kind": "rule", "lane": "red", "forced": False},
                                 {"kind": "random", "lane": "yellow", "forced": False}]}) == 2
    assert floor_of({"reasons": [{"kind": "profile", "lane": "red"}]}) == 3  # stored before the budget existed
    assert floor_of({"reasons": []}) == 0
