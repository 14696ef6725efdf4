"""Who is asking: the subject every access decision is about."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Subject:
    user_id: str
    agency: str | None  # None for traders
    trader_id: str | None  # None for agency users
    roles: frozenset[str]
    lead: bool = False  # the user's agency is the lead (customs) agency

    @property
    def is_trader(self) -> bool:
        return self.trader_id is not None

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))


SYSTEM = Subject("system", None, None, frozenset({"administrator"}))
