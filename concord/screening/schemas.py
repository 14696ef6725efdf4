"""Request bodies of the screening API and commands, validated with a JSON pointer per fault."""

from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from concord.bodies import StrictBody as Body
from concord.errors import InvalidDocument, problems_from
from concord.screening.models import DECISIONS, SHARING
from concord.screening.qualifiers import country_code, parse_date


class NameQuery(Body):
    name: str = Field(min_length=1, max_length=300, description="the name to screen, in any script")
    kind: Literal["person", "company", "unknown"] = "unknown"
    country: str | None = Field(None, max_length=2, description="nationality, residence or registration (ISO 3166-1)")
    date_of_birth: str | None = Field(None, max_length=10, description="YYYY, YYYY-MM or YYYY-MM-DD")
    identifiers: dict[str, str] = Field(default_factory=dict, max_length=20, description='{"EORI": "NL823456781"}')
    limit: int = Field(10, ge=1, le=50)

    @field_validator("country")
    @classmethod
    def known_country(cls, v):
        if v and not country_code(v):
            raise ValueError(f"unknown country '{v}'; give an ISO 3166-1 code such as NL")
        return country_code(v) if v else None

    @field_validator("date_of_birth")
    @classmethod
    def date(cls, v):
        if v and parse_date(v) is None:
            raise ValueError(f"'{v}' is not a date; use YYYY, YYYY-MM or YYYY-MM-DD")
        return v or None


class MatchDecisionIn(Body):
    fingerprint: str = Field(pattern=r"^[0-9a-f]{32}$", description="the match's fingerprint, as screening returned it")
    entry_id: str = Field(min_length=1, max_length=40)
    decision: Literal[DECISIONS]  # type: ignore[valid-type]
    reason: str = Field(min_length=3, max_length=2000, description="why: what tells the party and the entry apart")
    entry_version: str | None = Field(None, max_length=16)


class ListIn(Body):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{1,79}$", description="stable name; a reload replaces it")
    owner_agency: str = Field(min_length=2, max_length=16)
    sharing: Literal[SHARING] | None = None  # type: ignore[valid-type]
    source: str = Field("<api>", max_length=300)
    records: list[dict] = Field(max_length=200_000, description="rows: id, full_name (or first/last_name), aliases, date_of_birth, ...")


def parse(model: type[BaseModel], data: dict, what: str):
    """Validate a body; InvalidDocument with one JSON pointer per fault."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise InvalidDocument(f"the {what} has faults", problems_from(e)) from None
