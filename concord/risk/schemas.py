"""Request and response bodies of the risk API: rules, watchlist entries, outcomes, lane budgets."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from concord.bodies import StrictBody as Body
from concord.bounds import DECIMAL_18, Timestamp
from concord.errors import InvalidDocument, Problem, problems_from
from concord.reference import codes
from concord.risk.models import RESULTS, SEVERITIES, WATCHLIST_KINDS

RULE_LANGUAGE = (
    "A CEL condition (true/false) over the declaration. Names: declaration (the whole document), items (each with "
    "hs_code, description, origin, quantity, unit, net_mass_kg, value {amount, currency}, value_base (in the base "
    "currency), documents, document_types), importer, exporter, declarant (id, name, country, address), transport "
    "(mode, conveyance, containers), route (from: the exporter's country, entry: office of entry, entry_country, "
    "destination, origins, mode). Amounts and masses are doubles: in arithmetic write 2.0, not 2. Example: "
    'items.exists(i, i.hs_code.startsWith("2402") && i.value_base / i.net_mass_kg < 2.0) && route.from == "AE"')
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]
SelectedLane = Literal["yellow", "red", "blue"]


class RuleIn(Body):
    id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{1,39}$", description="stable id; the same id again is a new version")
    name: str = Field(min_length=3, max_length=200)
    expression: str = Field(min_length=1, max_length=4000, description=RULE_LANGUAGE)
    rationale: str = Field(min_length=3, max_length=2000, description="why the rule exists: the intelligence or pattern behind it")
    severity: Severity = "high"
    lane: SelectedLane = "red"
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None

    @model_validator(mode="after")
    def period(self):
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    version: int
    name: str
    expression: str
    rationale: str
    author: str
    agency: str
    severity: str
    lane: str
    valid_from: datetime
    valid_until: datetime | None
    active: bool
    created_at: datetime
    retired_at: datetime | None = None


class TryIn(Body):
    expression: str = Field(min_length=1, max_length=4000)
    since: Timestamp | None = None


def _country(v, part: str) -> str:
    v = str(v or "").strip().upper()
    if problem := codes.country_problem(v):
        raise _fault(part, problem)
    return v


def _fault(part: str, message: str) -> InvalidDocument:
    return InvalidDocument("the watchlist entry has faults; nothing was stored", [Problem(f"/value/{part}", message)])


def canonical_value(kind: str, v: dict) -> dict:
    """The entry's value in the form the index matches on; InvalidDocument pointing at the faulty part."""
    if kind == "party":
        out = {k: str(v[k]).strip() for k in ("identifier", "name") if v.get(k)}
        if not out:
            raise _fault("identifier", "a party entry needs an identifier, a name, or both")
        if v.get("country"):
            out["country"] = _country(v["country"], "country")
        return out
    if kind == "container":
        number = str(v.get("number", "")).strip().upper()
        if problem := codes.container_problem(number):
            raise _fault("number", problem)
        return {"number": number}
    if kind == "vessel":
        imo = str(v.get("imo", "")).strip().upper()
        if problem := codes.imo_problem(imo):
            raise _fault("imo", problem)
        return {"imo": "IMO" + re.sub(r"\D", "", imo)}
    if kind == "route":
        out = {"from": _country(v.get("from"), "from")}
        if to := str(v.get("to") or "").strip().upper().replace(" ", ""):
            if len(to) == 2:
                to = _country(to, "to")
            elif problem := codes.locode_problem(to):
                raise _fault("to", problem)
            out["to"] = to
        return out
    prefix = str(v.get("hs_prefix", "")).strip()
    if not re.fullmatch(r"\d{2}(\d{2}){0,4}", prefix):
        raise _fault("hs_prefix", "hs_prefix must be an HS chapter, heading or subheading: 2, 4, 6, 8 or 10 digits")
    return {"hs_prefix": prefix, "origin": _country(v.get("origin"), "origin")}


class WatchlistEntryIn(Body):
    kind: Literal[WATCHLIST_KINDS]  # type: ignore[valid-type]
    value: dict[str, str] = Field(max_length=8, description="party: identifier/name/country; container: number; vessel: imo; "
                                    "route: from (country of dispatch), to (UN/LOCODE or country); "
                                    "hs_origin: hs_prefix, origin")
    reason: str = Field(min_length=3, max_length=2000)
    severity: Severity = "high"
    expires_at: Timestamp = Field(description="entries lapse: give the date until which the intelligence holds")


class WatchlistEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    version: int
    agency: str
    kind: str
    value: dict
    reason: str
    severity: str
    expires_at: datetime | None
    created_by: str
    created_at: datetime


class MoneyIn(Body):
    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=2, json_schema_extra=DECIMAL_18)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class OutcomeIn(Body):
    declaration_id: str = Field(max_length=32)
    version: int | None = Field(None, ge=1, le=1_000_000, description="the declaration version inspected; default: the current one")
    result: Literal[RESULTS]  # type: ignore[valid-type]
    revenue_recovered: MoneyIn | None = None
    notes: str | None = Field(None, max_length=2000)


class LaneTargets(Body):
    red: float = Field(0.05, ge=0, le=1)
    yellow: float = Field(0.10, ge=0, le=1)
    blue: float = Field(0.02, ge=0, le=1)

    @model_validator(mode="after")
    def at_most_all(self):
        if self.red + self.yellow + self.blue > 1:
            raise ValueError("the lane targets add up to more than 100 %")
        return self


class LaneConfig(Body):
    """The `risk.lanes` section of the coordination config: target rates, per office where they differ."""

    targets: LaneTargets = LaneTargets()
    offices: dict[str, LaneTargets] = {}
    window: int = Field(5000, ge=100, le=200_000, description="assessments per office the thresholds look back on")
    force_severity: Severity = "high"
    exploration_lane: SelectedLane = "yellow"


def parse(model: type[BaseModel], data) -> BaseModel:
    """Validate a body; InvalidDocument with a JSON pointer per fault."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise InvalidDocument("the request has faults; nothing was stored", problems_from(e)) from None
