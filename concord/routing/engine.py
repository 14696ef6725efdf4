"""Matching a declaration against the routing rules; every engagement carries its explanation."""

from __future__ import annotations

from dataclasses import dataclass, field

from concord.routing.criteria import CompiledCriteria, Rates

TASK_WEIGHT = {"document_check": 0, "permit_check": 1, "inspection": 2}


@dataclass(frozen=True)
class CompiledRoutingRule:
    id: str
    agency: str
    description: str
    legal_basis: str
    task_type: str
    sla_hours: int
    fields: tuple[str, ...]
    criteria: CompiledCriteria


@dataclass
class Engagement:
    """One agency engaged on one declaration: one task, however many of its rules matched."""

    agency: str
    task_type: str
    sla_hours: int
    fields: list[str]
    reasons: list[dict] = field(default_factory=list)

    def add(self, rule: CompiledRoutingRule, items: list[int]) -> None:
        if TASK_WEIGHT[rule.task_type] > TASK_WEIGHT[self.task_type]:
            self.task_type = rule.task_type
        self.sla_hours = min(self.sla_hours, rule.sla_hours)
        self.fields = sorted(set(self.fields) | set(rule.fields))
        self.reasons.append({"rule": rule.id, "description": rule.description,
                             "legal_basis": rule.legal_basis, "items": items})


class RoutingEngine:
    def __init__(self, rules: list[CompiledRoutingRule], rates: Rates, version: int = 0):
        self.rules = rules
        self.rates = rates
        self.version = version
        # Most rules name HS prefixes, so a declaration need only be tried against the rules of its chapters
        # (and those without HS criteria); positions keep the rule order of the config.
        self._any_chapter = [i for i, r in enumerate(rules) if not r.criteria.hs_prefixes]
        self._by_chapter: dict[str, list[int]] = {}
        for i, r in enumerate(rules):
            for chapter in {p[:2] for p in r.criteria.hs_prefixes}:
                self._by_chapter.setdefault(chapter, []).append(i)

    @classmethod
    def from_rows(cls, rows, rates: Rates, version: int = 0) -> RoutingEngine:
        return cls([CompiledRoutingRule(r.id, r.agency, r.description, r.legal_basis, r.task_type, r.sla_hours,
                                 tuple(r.fields), CompiledCriteria.from_config(r.criteria, rates))
                    for r in rows], rates, version)

    def route(self, doc: dict) -> list[Engagement]:
        """The agencies the rules engage for this declaration, in rule order."""
        engaged: dict[str, Engagement] = {}
        candidates = set(self._any_chapter)
        for item in doc["items"]:
            candidates.update(self._by_chapter.get(item["hs_code"][:2], ()))
        for i in sorted(candidates):
            rule = self.rules[i]
            items = rule.criteria.matching_items(doc, self.rates)
            if not items:
                continue
            if rule.agency not in engaged:
                engaged[rule.agency] = Engagement(rule.agency, rule.task_type, rule.sla_hours, list(rule.fields))
            engaged[rule.agency].add(rule, items)
        return list(engaged.values())
