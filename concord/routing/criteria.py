"""Criteria over a declaration document, shared by routing rules and simple risk profiles."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Rates:
    """Converts declared values to the base currency; unknown currencies convert to None."""

    base: str
    rates: dict

    def to_base(self, amount, currency: str) -> Decimal | None:
        if currency == self.base:
            return Decimal(str(amount))
        rate = self.rates.get(currency)
        return None if rate is None else Decimal(str(amount)) * Decimal(str(rate))


@dataclass(frozen=True)
class CompiledCriteria:
    hs_prefixes: tuple[str, ...] = ()
    origins: frozenset = frozenset()
    not_origins: frozenset = frozenset()
    destinations: frozenset = frozenset()
    declaration_types: frozenset = frozenset()
    transport_modes: frozenset = frozenset()
    item_value_over: Decimal | None = None  # in base currency
    documents_present: frozenset = frozenset()
    documents_absent: frozenset = frozenset()

    @classmethod
    def from_config(cls, when: dict, rates: Rates) -> CompiledCriteria:
        over = when.get("item_value_over")
        return cls(
            hs_prefixes=tuple(when.get("hs_prefixes") or ()),
            origins=frozenset(when.get("origins") or ()),
            not_origins=frozenset(when.get("not_origins") or ()),
            destinations=frozenset(when.get("destinations") or ()),
            declaration_types=frozenset(when.get("declaration_types") or ()),
            transport_modes=frozenset(when.get("transport_modes") or ()),
            item_value_over=None if not over else rates.to_base(over["amount"], over["currency"]),
            documents_present=frozenset(when.get("documents_present") or ()),
            documents_absent=frozenset(when.get("documents_absent") or ()),
        )

    def matching_items(self, doc: dict, rates: Rates) -> list[int]:
        """Indexes of the items for which every criterion holds ([] when the declaration does not match)."""
        if self.declaration_types and doc["type"] not in self.declaration_types:
            return []
        if self.transport_modes and doc["transport"]["mode"] not in self.transport_modes:
            return []
        if self.destinations and destination_country(doc) not in self.destinations:
            return []
        return [i for i, item in enumerate(doc["items"]) if self._item_matches(item, rates)]

    def _item_matches(self, item: dict, rates: Rates) -> bool:
        if self.hs_prefixes and not item["hs_code"].startswith(self.hs_prefixes):
            return False
        if self.origins and item["origin"] not in self.origins:
            return False
        if self.not_origins and item["origin"] in self.not_origins:
            return False
        if self.item_value_over is not None:
            value = rates.to_base(item["value"]["amount"], item["value"]["currency"])
            # An unconvertible value engages the agency: missing a control is worse than an extra one.
            if value is not None and value <= self.item_value_over:
                return False
        if self.documents_present or self.documents_absent:
            types = {d["type"] for d in item.get("documents") or ()}
            if self.documents_present and not (types & self.documents_present):
                return False
            if self.documents_absent and types & self.documents_absent:
                return False
        return True


def destination_country(doc: dict) -> str:
    return doc.get("destination_country") or doc["office_of_entry"][:2]
