"""Lanes within a budget: score thresholds that track target rates per office over a rolling window.

A fixed cut-off drifts with the model and the trade: next month's scores are not this month's. Here
the threshold of each lane is the score quantile that, over the last `window` assessments of the
office, would have selected the target share, after counting what forced hits and random
selection already put in that lane or above.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
from collections import deque
from dataclasses import dataclass, field

from concord.risk.schemas import LaneConfig
from concord.risk.scoring.assessment import LANE_RANK, LANES

SELECTED = ("red", "yellow", "blue")  # the lanes a score can earn, most severe first
GREEN = 0
MIN_HISTORY = 50  # scores in an office's window before its score thresholds apply
FEEDBACK = 4.0  # chosen on drifting and shifted streams (tests/unit/test_risk_lanes.py): no oscillation up to 8


CONFIG_DEFAULTS = LaneConfig()  # the config's `risk.lanes` section when it is left out: the one definition


@dataclass(frozen=True)
class LanePolicy:
    """Target share of declarations per lane, the random share, and what a hit must weigh to force its lane."""

    targets: dict = field(default_factory=CONFIG_DEFAULTS.targets.model_dump)
    exploration: float = 0.01
    exploration_lane: str = CONFIG_DEFAULTS.exploration_lane
    window: int = CONFIG_DEFAULTS.window
    force_severity: str = CONFIG_DEFAULTS.force_severity

    def at_least(self, lane: str) -> float:
        """Target share of declarations in `lane` or a more severe one."""
        rank = LANE_RANK[lane]
        return sum(share for name, share in self.targets.items() if LANE_RANK[name] >= rank)


@dataclass(frozen=True)
class LaneDecision:
    lane: str
    random: bool  # drawn for exploration, whatever else it hit
    by_score: str  # the lane the score alone earned
    thresholds: dict  # lane -> score a declaration had to exceed, where that is a finite number


class Window:
    """The last assessments of one office: each score, and the lane it was bound to before its score counted."""

    def __init__(self, size: int):
        self.size = size
        self.entries: deque = deque()
        # Per selectable lane: sorted scores of the entries whose floor was below it (the ones a score could lift).
        self.below = {lane: [] for lane in SELECTED}
        self.bound = {lane: 0 for lane in SELECTED}  # entries whose floor was that lane or above
        self.selected = {lane: 0 for lane in SELECTED}  # entries that ended in that lane or above

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, score: float, floor: int, final: int | None = None) -> None:
        if len(self.entries) >= self.size:
            self._update(*self.entries.popleft(), remove=True)
        entry = (score, floor, floor if final is None else final)
        self.entries.append(entry)
        self._update(*entry, remove=False)

    def _update(self, score: float, floor: int, final: int, *, remove: bool) -> None:
        for lane in SELECTED:
            if final >= LANE_RANK[lane]:
                self.selected[lane] += -1 if remove else 1
            if floor >= LANE_RANK[lane]:
                self.bound[lane] += -1 if remove else 1
            elif remove:
                scores = self.below[lane]
                del scores[bisect.bisect_left(scores, score)]
            else:
                bisect.insort(self.below[lane], score)

    def threshold(self, lane: str, share: float) -> float | None:
        """The score to exceed so that `share` of the window sits in `lane` or above; None below MIN_HISTORY."""
        n = len(self.entries)
        if n < min(MIN_HISTORY, self.size):
            return None  # a few scores say nothing about a quantile, and the correction below would swing wildly
        target = share * n
        # The quantile alone lags a drifting stream by half a window; what the window actually selected corrects it,
        # never asking for more than twice the target.
        correction = FEEDBACK * (target - self.selected[lane])
        wanted = round(min(target - self.bound[lane] + correction, 2 * target))
        scores = self.below[lane]
        if wanted <= 0:
            return math.inf
        if wanted >= len(scores):
            return -math.inf
        return scores[len(scores) - wanted - 1]  # strictly above the (wanted+1)-th highest: the top `wanted`


class LaneBudget:
    """Turns scores into lanes per office; forced lanes and random selection count against the same budget."""

    def __init__(self, rng: random.Random | None = None):
        self.rng = rng or random.Random()
        self.windows: dict[str, tuple[object, Window]] = {}  # office -> (score scale, window)
        self.lock = threading.Lock()  # API threads lodge concurrently on PostgreSQL (SQLite has its write lock)
        # Told each decision (office, scale, score, floor, final, drawn): the other workers' budgets (shared.py)
        self.on_decided = None

    def window(self, office: str, policy: LanePolicy, scale=None) -> Window:
        """The office's window for scores of one scale (a model version); a new scale starts a new window."""
        current = self.windows.get(office)
        if current is None or current[0] != scale or current[1].size != policy.window:
            current = self.windows[office] = (scale, Window(policy.window))
        return current[1]

    def has_window(self, office: str, scale=None) -> bool:
        return office in self.windows and self.windows[office][0] == scale

    def decide(self, office: str, score: float | None, forced: str | None, policy: LanePolicy,
               scale=None) -> LaneDecision:
        """The lane for one declaration: the most severe of its forced lane, a random draw, and its score's lane.

        Without a score (no model) only forced hits and the random draw select."""
        floor = LANE_RANK[forced] if forced else GREEN
        drawn = policy.exploration > 0 and self.rng.random() < policy.exploration
        if drawn:
            floor = max(floor, LANE_RANK[policy.exploration_lane])
        if score is None:
            if self.on_decided is not None:
                self.on_decided(office, scale, None, floor, floor, drawn)
            return LaneDecision(LANES[floor], drawn, "green", {})
        with self.lock:
            window = self.window(office, policy, scale)
            thresholds = {lane: window.threshold(lane, policy.at_least(lane)) for lane in SELECTED}
            by_score = next((lane for lane in SELECTED if thresholds[lane] is not None and score > thresholds[lane]),
                            "green")
            final = max(floor, LANE_RANK[by_score])
            window.add(score, floor, final)
        if self.on_decided is not None:
            self.on_decided(office, scale, score, floor, final, drawn)
        lane = LANES[final]
        # Only finite thresholds are reported: an infinite one means the lane's budget is spent (or open to all).
        shown = {k: v for k, v in thresholds.items() if v is not None and math.isfinite(v)}
        return LaneDecision(lane, drawn, by_score, shown)


def floor_of(risk: dict) -> int:
    """The lane a stored assessment was bound to before its score counted (forced hits and random draws)."""
    # Assessments stored before the budget existed carry no "forced" flag: their profiles and draws were binding.
    ranks = [LANE_RANK[r.get("lane") or "yellow"] for r in risk.get("reasons") or ()
             if r.get("forced") or r.get("kind") == "random"
             or (r.get("forced") is None and r.get("kind") == "profile")]
    return max(ranks, default=GREEN)
