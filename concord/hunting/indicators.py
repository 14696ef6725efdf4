"""Indicators: what an incident or a risk information notice points at, in the declaration's own terms.

One shape for incidents, notices, hunts and the STIX exchange, so that a finding recorded in one place can be
matched everywhere else without a converter."""

from __future__ import annotations

from pydantic import Field, field_validator

from concord.bodies import StrictBody

_SHORT = 200  # an identifier or a name, as the declaration carries it


class Indicators(StrictBody):
    """A declaration matches when any identifier list names one of its parties, containers or its conveyance, or
    when it has a goods item whose HS code starts with one of `hs` (and, if `origins` is given, comes from one of
    them). `rule` is a CEL expression as risk rules take it, for what the lists cannot say."""

    parties: list[str] = Field([], max_length=200, description="party identifiers (EORI, TIN) or names as declared")
    containers: list[str] = Field([], max_length=1000, description="ISO 6346 container numbers")
    conveyances: list[str] = Field([], max_length=200, description="vessel IMO numbers, flight numbers, vehicles")
    hs: list[str] = Field([], max_length=200, description="HS code prefixes, 2 to 10 digits")
    origins: list[str] = Field([], max_length=250, description="ISO 3166-1 alpha-2 countries of origin")
    rule: str | None = Field(None, max_length=4000, description="a CEL expression over the declaration")

    @field_validator("rule")
    @classmethod
    def _compiles(cls, rule: str | None) -> str | None:
        """Checked where it is given: an incident or notice whose rule the hunt could not compile was stored, and
        its hunt then failed in the background with no one told."""
        if rule is not None:
            from concord.errors import InvalidDocument
            from concord.risk.catalogue.rules import compile_rule

            try:
                compile_rule(rule)
            except InvalidDocument as e:
                raise ValueError("; ".join(p.message for p in e.problems) or e.message) from None
        return rule

    def empty(self) -> bool:
        return not (self.parties or self.containers or self.conveyances or self.hs or self.origins or self.rule)
