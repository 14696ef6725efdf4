"""Lanes and the assessment every risk step returns."""

from __future__ import annotations

from dataclasses import dataclass, field

LANES = ("green", "blue", "yellow", "red")  # ascending severity
LANE_RANK = {lane: i for i, lane in enumerate(LANES)}


@dataclass
class Assessment:
    lane: str
    score: float
    reasons: list[dict] = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    random: bool = False

    def as_dict(self) -> dict:
        return {"lane": self.lane, "score": self.score, "reasons": self.reasons,
                "versions": self.versions, "random": self.random}


def max_lane(a: str, b: str) -> str:
    """The more severe of two lanes."""
    return a if LANE_RANK[a] >= LANE_RANK[b] else b
