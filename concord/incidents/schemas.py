"""Request bodies of incidents, operations and notices (the CLI reads the same documents from YAML or JSON)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from concord.bodies import StrictBody as Strict
from concord.bounds import Timestamp
from concord.hunting.indicators import Indicators
from concord.incidents.models import CATEGORIES, MEMBER_ROLES, SEVERITIES
from concord.reference.codes import container_problem, country_problem, locode_problem

Id = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
Short = Annotated[str, Field(min_length=1, max_length=200)]
ACTIONS = ("monitor", "screen", "inspect", "hold", "seize", "report")  # a notice's recommended action
FEEDBACK_ACTIONS = ("none", "screened", "inspected", "held", "seized", "referred")
RESULTS = ("no_hit", "hit", "seizure")


class Found(Strict):
    goods: str = Field(min_length=1, max_length=500, description="what was found, e.g. cocaine in banana boxes")
    hs_code: str | None = Field(None, pattern=r"^\d{2,10}$", description="HS code or prefix, 2 to 10 digits")
    origin: str | None = Field(None, description="ISO 3166-1 alpha-2 country of origin")
    quantity: str | None = Field(None, pattern=r"^\d{1,15}(\.\d{1,3})?$", description="e.g. 120.5")
    unit: str | None = Field(None, pattern=r"^[A-Z0-9]{1,5}$", description="UN/ECE unit, e.g. KGM")
    concealment: str = Field("", max_length=500, description="how it was hidden")

    @field_validator("origin")
    @classmethod
    def country(cls, v):
        if v is not None and (problem := country_problem(v)):
            raise ValueError(problem)
        return v


class Location(Strict):
    office: str | None = Field(None, description="UN/LOCODE of the office or port, e.g. NLRTM")
    place: str = Field("", max_length=200, description="quay, terminal, road...")
    country: str | None = None

    @field_validator("office")
    @classmethod
    def locode(cls, v):
        if v is not None and (problem := locode_problem(v)):
            raise ValueError(problem)
        return v

    @field_validator("country")
    @classmethod
    def iso_country(cls, v):
        if v is not None and (problem := country_problem(v)):
            raise ValueError(problem)
        return v


class Party(Strict):
    role: Literal["importer", "exporter", "consignee", "carrier", "driver", "suspect", "other"]
    name: Short
    id: str | None = Field(None, max_length=64, description="EORI, TIN or passport number")


class IncidentIn(Strict):
    category: Literal[CATEGORIES]  # type: ignore[valid-type]
    severity: Literal[SEVERITIES] = "medium"  # type: ignore[valid-type]
    title: Short
    summary: str = Field("", max_length=4000)
    occurred_at: Timestamp
    location: Location = Location()
    found: list[Found] = Field([], max_length=100)
    declarations: list[Id] = Field([], max_length=100, description="linked declaration ids")
    containers: list[str] = Field([], max_length=1000, description="ISO 6346 container numbers")
    conveyance: str | None = Field(None, max_length=200, description="vessel IMO number, flight, vehicle")
    parties: list[Party] = Field([], max_length=100)
    indicators: Indicators = Indicators()

    @field_validator("containers")
    @classmethod
    def iso6346(cls, v):
        for c in v:
            if problem := container_problem(c):
                raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def aware(self):
        if self.occurred_at.tzinfo is None:
            raise ValueError("give occurred_at with its UTC offset")
        return self


class ReviewIn(Strict):
    """The post-incident review written when an incident closes."""

    summary: str = Field(min_length=10, max_length=4000)
    what_worked: str = Field("", max_length=4000)
    to_improve: str = Field("", max_length=4000)


class StatusIn(Strict):
    status: Literal["triaged", "responding", "closed"]
    note: str = Field("", max_length=2000)
    review: ReviewIn | None = None


class TemplateField(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    type: Literal["text", "number", "boolean"] = "text"
    required: bool = False


class MemberIn(Strict):
    user_id: str = Field(min_length=1, max_length=64)
    role: Literal[MEMBER_ROLES]  # type: ignore[valid-type]


class OperationIn(Strict):
    name: Short
    incident_id: Id | None = None
    starts_at: Timestamp
    ends_at: Timestamp
    template: list[TemplateField] = Field([], max_length=40)
    members: list[MemberIn] = Field([], max_length=200)

    @model_validator(mode="after")
    def window(self):
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("give starts_at and ends_at with their UTC offset")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class TaskIn(Strict):
    title: Short
    owner: str = Field(min_length=1, max_length=64, description="a member's user id")
    due_at: Timestamp


class TaskDoneIn(Strict):
    report: dict[Annotated[str, Field(max_length=40)],
                 Annotated[str, Field(max_length=2000)] | bool | Annotated[float, Field(ge=-1e15, le=1e15)] | None] = \
        Field({}, max_length=40, description="the operation template's fields")


class MessageIn(Strict):
    text: str = Field(min_length=1, max_length=4000)


class NoticeIn(Strict):
    title: Short
    summary: str = Field("", max_length=4000)
    purpose: str = Field(max_length=40, description="the purpose the agreements to the recipients must cover")
    indicators: Indicators
    recommended_action: Literal[ACTIONS]  # type: ignore[valid-type]
    valid_from: Timestamp | None = None
    valid_until: Timestamp
    feedback_due_at: Timestamp
    recipients: list[Annotated[str, Field(max_length=16)]] | None = Field(
        None, max_length=50, description="only these of the entitled agencies (default: all of them)")
    incident_id: Id | None = None

    @field_validator("purpose")
    @classmethod
    def known_purpose(cls, v):
        from concord.agreements.models import PURPOSES

        if v not in PURPOSES:
            raise ValueError(f"unknown purpose '{v}'; use one of: {', '.join(PURPOSES)}")
        return v

    @model_validator(mode="after")
    def coherent(self):
        times = [self.valid_until, self.feedback_due_at] + ([self.valid_from] if self.valid_from else [])
        if any(t.tzinfo is None for t in times):
            raise ValueError("give times with their UTC offset")
        if self.indicators.empty():
            raise ValueError("a notice needs at least one indicator")
        if self.valid_from is not None and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class FeedbackIn(Strict):
    action_taken: Literal[FEEDBACK_ACTIONS]  # type: ignore[valid-type]
    result: Literal[RESULTS]  # type: ignore[valid-type]
    note: str = Field("", max_length=2000)
