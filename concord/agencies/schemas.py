"""The coordination config: agencies, users, routing rules and risk profiles, validated on load."""

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from concord.bodies import StrictBody as Strict
from concord.reference.codes import country_problem, currency_problem, locode_problem
from concord.risk.schemas import LaneConfig

ROLES = ("trader", "officer", "supervisor", "liaison", "auditor", "administrator")
TASK_TYPES = ("document_check", "permit_check", "inspection")
TRANSPORT_MODES = ("sea", "air", "road", "rail", "post", "inland_waterway", "pipeline")


class Contact(Strict):
    name: str
    email: str
    phone: str | None = None


class AgencyConfig(Strict):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,15}$", description="short upper-case code, e.g. CUS, NPPO")
    name: str = Field(min_length=2, max_length=200)
    role: Literal["lead", "partner"]
    contacts: list[Contact] = []


class TraderRef(Strict):
    id: str = Field(min_length=2, max_length=40, description="the trader's party id, e.g. an EORI number")
    name: str = Field(max_length=200)


class UserConfig(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")
    name: str = Field(max_length=200)
    agency: str | None = Field(None, max_length=16)
    trader: TraderRef | None = None
    roles: list[Literal[ROLES]] = Field(min_length=1)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def one_affiliation(self):
        if (self.agency is None) == (self.trader is None):
            raise ValueError("a user belongs to exactly one agency or is a trader: give 'agency' or 'trader'")
        if self.trader is not None and self.roles != ["trader"]:
            raise ValueError("a trader user has the single role 'trader'")
        if self.agency is not None and "trader" in self.roles:
            raise ValueError("agency users cannot have the role 'trader'")
        return self


class MoneyThreshold(Strict):
    amount: Decimal = Field(ge=0)
    currency: str

    @field_validator("currency")
    @classmethod
    def iso4217(cls, v):
        if problem := currency_problem(v):
            raise ValueError(problem)
        return v


def _countries(values: list[str]) -> list[str]:
    for v in values:
        if problem := country_problem(v):
            raise ValueError(problem)
    return values


class Criteria(Strict):
    """When a rule applies. Item criteria must hold for one same item; all given criteria must hold."""

    hs_prefixes: list[str] = []
    origins: list[str] = []
    not_origins: list[str] = []
    destinations: list[str] = []
    declaration_types: list[Literal["IM", "EX", "TR"]] = []
    transport_modes: list[Literal[TRANSPORT_MODES]] = []  # type: ignore[valid-type]
    item_value_over: MoneyThreshold | None = None
    documents_present: list[str] = []
    documents_absent: list[str] = []

    @field_validator("hs_prefixes")
    @classmethod
    def hs_digits(cls, v):
        for p in v:
            if not (p.isdigit() and 2 <= len(p) <= 10):
                raise ValueError(f"HS prefix '{p}' must be 2 to 10 digits (chapter, heading or subheading)")
        return v

    _origins = field_validator("origins", "not_origins", "destinations")(classmethod(lambda cls, v: _countries(v)))


class RoutingRuleConfig(Strict):
    id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{1,39}$")
    agency: str = Field(max_length=16)
    description: str
    legal_basis: str = Field(min_length=5, description="the citation that engages the agency")
    task_type: Literal[TASK_TYPES]  # type: ignore[valid-type]
    sla_hours: int = Field(gt=0, le=24 * 30)
    fields: list[str] = Field(min_length=1, description="JSON pointers of the data the agency needs")
    when: Criteria

    @field_validator("fields")
    @classmethod
    def pointers(cls, v):
        for p in v:
            if not p.startswith("/"):
                raise ValueError(f"field '{p}' must be a JSON pointer such as /items/*/hs_code")
        return v


class RiskProfileConfig(Strict):
    id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{1,39}$")
    reason: str
    lane: Literal["yellow", "red", "blue"]
    when: Criteria


class RiskConfig(Strict):
    random_inspection_rate: float = Field(0.0, ge=0, le=1, description="share drawn at random for control")
    profiles: list[RiskProfileConfig] = []
    lanes: LaneConfig = LaneConfig()  # target rates per lane (and per office), validated here with the rest


class OfficeConfig(Strict):
    """A customs office of this administration where goods enter (its UN/LOCODE)."""

    code: str = Field(description="UN/LOCODE, e.g. NLRTM")
    name: str = Field(min_length=2)

    @field_validator("code")
    @classmethod
    def locode(cls, v):
        v = v.replace(" ", "").upper()
        if problem := locode_problem(v):
            raise ValueError(problem)
        return v


class CoordinationConfig(Strict):
    version: Literal[1] = 1
    base_currency: str = "EUR"
    exchange_rates: dict[str, Decimal] = {}  # units of base currency per unit of the keyed currency
    # The administration's offices of entry; a declaration naming another is refused. Empty: any well-formed
    # UN/LOCODE of a known country is accepted (the code list itself is not shipped).
    offices: list[OfficeConfig] = []
    agencies: list[AgencyConfig] = Field(min_length=1)
    users: list[UserConfig] = []
    routing_rules: list[RoutingRuleConfig] = []
    risk: RiskConfig = RiskConfig()
    agreements: list[dict] = []  # validated by the agreements package
    inspection_facilities: list[dict] = []  # validated by the inspections package

    def lead_agency(self) -> str:
        return next(a.code for a in self.agencies if a.role == "lead")


def reference_problems(data: dict) -> list[tuple[str, str]]:
    """Cross-references a schema cannot check (unique ids, one lead, known agencies and rates).

    Works on the raw document, so these faults are reported together with the schema's own."""
    problems: list[tuple[str, str]] = []

    def rows(section):
        value = data.get(section)
        return [r if isinstance(r, dict) else {} for r in value] if isinstance(value, list) else []

    agencies, users, rules = rows("agencies"), rows("users"), rows("routing_rules")
    codes = [a.get("code") for a in agencies]
    _unique(codes, "agencies", "code", problems)
    _unique([u.get("id") for u in users], "users", "id", problems)
    _unique([r.get("id") for r in rules], "routing_rules", "id", problems)
    offices = [str(o.get("code", "")).replace(" ", "").upper() for o in rows("offices")]
    _unique(offices, "offices", "code", problems)
    lanes = ((data.get("risk") or {}).get("lanes") or {}) if isinstance(data.get("risk"), dict) else {}
    for office in (lanes.get("offices") or {}) if isinstance(lanes, dict) else {}:
        if offices and office not in offices:
            problems.append(("risk.lanes.offices", f"office '{office}' is not among the offices: {', '.join(offices)}"))
    leads = [a for a in agencies if a.get("role") == "lead"]
    if agencies and len(leads) != 1:
        problems.append(("agencies", f"exactly one agency must have role 'lead' (customs); found {len(leads)}"))
    known = ", ".join(str(c) for c in codes)
    for section, items in (("users", users), ("routing_rules", rules)):
        for i, row in enumerate(items):
            if row.get("agency") is not None and row["agency"] not in codes:
                problems.append((f"{section}.{i}.agency", f"unknown agency '{row['agency']}'; declared: {known}"))
    base, rates = data.get("base_currency", "EUR"), data.get("exchange_rates") or {}
    for i, r in enumerate(rules):
        money = (r.get("when") or {}).get("item_value_over") or {}
        currency = money.get("currency") if isinstance(money, dict) else None
        if currency and currency != base and currency not in rates:
            problems.append((f"routing_rules.{i}.when.item_value_over.currency",
                             f"no exchange rate for {currency}; add it under exchange_rates"))
    return problems


def _unique(values, section, key, problems):
    seen = set()
    for i, v in enumerate(values):
        if v is not None and v in seen:
            problems.append((f"{section}.{i}.{key}", f"duplicate {key} '{v}'"))
        seen.add(v)
