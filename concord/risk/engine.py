"""The risk step's interface, and the simple configurable assessor (criteria profiles + random selection)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

from concord.routing.criteria import CompiledCriteria, Rates

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


class RiskAssessor(Protocol):
    def assess(self, doc: dict, *, declaration_id: str) -> Assessment: ...


def max_lane(a: str, b: str) -> str:
    return a if LANE_RANK[a] >= LANE_RANK[b] else b


@dataclass(frozen=True)
class Profile:
    id: str
    reason: str
    lane: str
    criteria: CompiledCriteria


class ProfileAssessor:
    """Lanes from configured risk profiles, plus a random share selected for documentary check."""

    def __init__(self, profiles: list[Profile], rates: Rates, random_rate: float = 0.0, version: str = "config"):
        self.profiles, self.rates, self.random_rate, self.version = profiles, rates, random_rate, version

    @classmethod
    def from_config(cls, risk: dict, rates: Rates, version: str) -> ProfileAssessor:
        profiles = [Profile(p["id"], p["reason"], p["lane"], CompiledCriteria.from_config(p["when"], rates))
                    for p in risk.get("profiles", [])]
        return cls(profiles, rates, risk.get("random_inspection_rate", 0.0), version)

    def assess(self, doc: dict, *, declaration_id: str) -> Assessment:
        lane, reasons = "green", []
        for p in self.profiles:
            items = p.criteria.matching_items(doc, self.rates)
            if items:
                lane = max_lane(lane, p.lane)
                reasons.append({"kind": "profile", "id": p.id, "reason": p.reason, "lane": p.lane, "items": items})
        chosen = lane == "green" and _draw(declaration_id) < self.random_rate
        if chosen:
            lane = "yellow"
            reasons.append({"kind": "random", "reason": "selected at random for control"})
        score = 1.0 if lane == "red" else 0.5 if lane == "yellow" else 0.0
        return Assessment(lane, score, reasons, {"profiles": self.version}, random=chosen)


def _draw(declaration_id: str) -> float:
    # Deterministic per declaration, so a re-assessment of the same version draws the same lot.
    return int.from_bytes(hashlib.blake2b(declaration_id.encode(), digest_size=8).digest(), "big") / 2**64
