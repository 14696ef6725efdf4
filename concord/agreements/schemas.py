"""Agreement documents as drafted through the API, the CLI or the coordination config."""

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_serializer, model_validator

from concord.bounds import Timestamp
from concord.agreements.models import PURPOSES, RESOURCES
from concord.bodies import StrictBody as Strict


class Condition(Strict):
    hs_chapters: list[str] = Field([], max_length=99)
    origins: list[str] = Field([], max_length=300)
    offices: list[str] = Field([], max_length=1000)
    categories: list[str] = Field([], max_length=10, description="incident scopes only: the incident categories "
                                  "shared (seizure, interception, ...); none: every category")

    @field_validator("categories")
    @classmethod
    def incident_categories(cls, v):
        from concord.incidents.models import CATEGORIES

        for c in v:
            if c not in CATEGORIES:
                raise ValueError(f"unknown incident category '{c}'; use one of: {', '.join(CATEGORIES)}")
        return v

    @model_serializer(mode="wrap")
    def _stored(self, handler):
        # Agreements stored before incidents had no categories: an empty list is left out, so that the same
        # agreement loaded again is the same content (versions.same_content), not a new version to sign.
        out = handler(self)
        if not out.get("categories"):
            out.pop("categories", None)
        return out

    @field_validator("hs_chapters")
    @classmethod
    def chapters(cls, v):
        for c in v:
            if not (len(c) == 2 and c.isdigit()):
                raise ValueError(f"HS chapter '{c}' must be 2 digits, e.g. 08")
        return v


class ScopeIn(Strict):
    resource: Literal[RESOURCES]  # type: ignore[valid-type]
    fields: list[str] = Field(min_length=1, max_length=200, description="JSON pointers the recipients may see, e.g. /importer/name")
    condition: Condition = Condition()

    @model_validator(mode="after")
    def categories_of_incidents(self):
        if self.condition.categories and self.resource != "incident":
            raise ValueError("condition.categories applies to incident scopes only")
        if self.resource == "notice" and self.condition != Condition():
            raise ValueError("a notice scope takes no condition: the notice's purpose and issuer select it")
        return self

    @field_validator("fields")
    @classmethod
    def pointers(cls, v):
        for p in v:
            if not p.startswith("/"):
                raise ValueError(f"field '{p}' must be a JSON pointer such as /items/*/hs_code")
        return v


Use = Literal["forbidden", "with_permission", "allowed"]


class Handling(Strict):
    onward_sharing: Use = "forbidden"
    court_use: Use = "with_permission"
    retention_days: int = Field(365, gt=0, le=3650)


class AgreementIn(Strict):
    key: str = Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{2,39}$", description="stable reference, e.g. MOU-CUS-POL-2026")
    title: str = Field(min_length=5, max_length=200)
    provider: str = Field(max_length=16)
    recipients: list[Annotated[str, Field(max_length=16)]] = Field(min_length=1, max_length=50)
    purposes: list[Annotated[str, Field(max_length=40)]] = Field(min_length=1, max_length=20)
    legal_basis: str = Field(min_length=5, max_length=1000)
    scopes: list[ScopeIn] = Field(min_length=1, max_length=20)
    handling: Handling = Handling()
    valid_from: Timestamp
    valid_until: Timestamp

    @field_validator("purposes")
    @classmethod
    def known_purposes(cls, v):
        for p in v:
            if p not in PURPOSES:
                raise ValueError(f"unknown purpose '{p}'; use one of: {', '.join(PURPOSES)}")
        return v

    @model_validator(mode="after")
    def coherent(self):
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if self.provider in self.recipients:
            raise ValueError("the provider cannot also be a recipient")
        if self.valid_from.tzinfo is None or self.valid_until.tzinfo is None:
            raise ValueError("give validity times with their UTC offset")
        return self


class ConfigAgreement(AgreementIn):
    """In the coordination config: an agreement already signed on paper by the agencies listed."""

    signed_by: list[str] = Field(default_factory=list, max_length=50, description="agencies that signed; all parties make it active")
