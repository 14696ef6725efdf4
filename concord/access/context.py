"""What the policy decision point reads besides the record: the time, the agreements in force, the lead agency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from concord.clock import Clock


@dataclass(frozen=True)
class AccessContext:
    """Built once by bootstrap() and passed to `authorize` and `declaration_scope` with each session."""

    clock: Clock
    book: object  # concord.agreements.book.AgreementBook: the agreements in force, cached per version
    lead_of: Callable  # session -> the lead (customs) agency's code under the config in force

    def now(self):
        """The current time on the hub's clock."""
        return self.clock.now()
