"""The coordination config's risk profiles: each forces its lane on a match."""

from __future__ import annotations

from dataclasses import dataclass

from concord.risk.scoring.assessment import Assessment, max_lane
from concord.routing.criteria import CompiledCriteria, Rates


@dataclass(frozen=True)
class Profile:
    id: str
    reason: str
    lane: str
    criteria: CompiledCriteria


class ProfileAssessor:
    """The config's risk profiles: each forces its lane on a match (random selection is the lane budget's)."""

    def __init__(self, profiles: list[Profile], rates: Rates, version: str = "config"):
        self.profiles, self.rates, self.version = profiles, rates, version

    @classmethod
    def from_config(cls, risk: dict, rates: Rates, version: str) -> ProfileAssessor:
        profiles = [Profile(p["id"], p["reason"], p["lane"], CompiledCriteria.from_config(p["when"], rates))
                    for p in risk.get("profiles", [])]
        return cls(profiles, rates, version)

    def assess(self, doc: dict, *, declaration_id: str) -> Assessment:
        """Profiles alone: the risk step's baseline in benchmarks, and what a config's profiles would do."""
        lane, reasons = "green", []
        for p in self.profiles:
            items = p.criteria.matching_items(doc, self.rates)
            if items:
                lane = max_lane(lane, p.lane)
                reasons.append({"kind": "profile", "id": p.id, "reason": p.reason, "lane": p.lane, "items": items})
        score = 1.0 if lane == "red" else 0.5 if lane == "yellow" else 0.0
        return Assessment(lane, score, reasons, {"profiles": self.version})
